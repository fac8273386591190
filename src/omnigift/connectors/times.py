"""Reading the timestamps platforms send: ISO 8601 (Shopify, Lightspeed) or RFC 2822
(BigCommerce), always as an aware datetime (UTC when the platform gives no zone)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any


def parse_time(value: Any) -> datetime | None:
    """The moment, or None when there is none or it can't be read."""
    if not value:
        return None
    text = str(value)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
