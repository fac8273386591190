"""Wall time that the control plane can move forward (expiry, buckets, timestamps)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime


class Clock:
    """Real time plus an offset; ``advance`` makes buckets refill and cards expire at once."""

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        """Move the simulated time forward by ``seconds``."""
        self.offset += seconds

    def monotonic(self) -> float:
        """A monotonic reading in seconds, for leaky buckets."""
        return time.monotonic() + self.offset

    def now(self) -> datetime:
        """The current simulated time, in UTC, to whole seconds like Shopify's timestamps."""
        return datetime.fromtimestamp(time.time() + self.offset, UTC).replace(microsecond=0)

    def today(self) -> date:
        """The shop's current date (the shop runs in UTC)."""
        return self.now().date()
