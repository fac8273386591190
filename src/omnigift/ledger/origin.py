"""Where an activity came from: channel, integration, location, API key or staff user."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Channel(StrEnum):
    ONLINE = "online"
    POS = "pos"
    RETURNS = "returns"
    ADMIN = "admin"
    API = "api"
    IMPORT = "import"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Origin:
    """Recorded on every activity and hold; an API key bound to a channel fills it in itself."""

    channel: str = Channel.API
    integration_id: str | None = None
    location_id: str | None = None
    api_key_id: str | None = None
    staff_user_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "channel": self.channel,
            "integration_id": self.integration_id,
            "location_id": self.location_id,
            "api_key_id": self.api_key_id,
            "staff_user_id": self.staff_user_id,
        }


SYSTEM = Origin(channel=Channel.SYSTEM)
