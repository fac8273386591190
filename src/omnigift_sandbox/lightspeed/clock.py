"""Wall time that the control plane can move forward (buckets, token expiry, timestamps)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    """Real time plus an offset; ``advance`` drains buckets and expires tokens at once."""

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        """Move the simulated time forward by ``seconds``."""
        self.offset += seconds

    def monotonic(self) -> float:
        """A monotonic reading in seconds."""
        return time.monotonic() + self.offset

    def now(self) -> datetime:
        """The current simulated time in UTC, to whole seconds like Lightspeed's timestamps."""
        return datetime.fromtimestamp(time.time() + self.offset, UTC).replace(microsecond=0)
