"""Keeping under Lightspeed's rate limits before it says 429 (integrations.md 3.3 [C]).

Every answer reports the leaky bucket (``X-LS-API-Bucket-Level: used/size``, draining at
``X-LS-API-Drip-Rate`` per second) and the burst limiter of 1-second windows
(``X-LS-API-Burst-Level: count/limit``). A call costs 1 drip to read and about 10 to write. The
pacer waits before a call that would overflow either, so a historical sync or a busy poll slows
to what the account allows instead of collecting 429s; a 429 still raises (``client.py``) and
the runner retries after its ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Mapping

READ_COST = 1.0
WRITE_COST = 10.0
MAX_WAIT = 30.0  # seconds: past this, let the call go and the 429 path decide


class Pacer:
    """What the last answer said of the account's limits, and the calls sent since."""

    def __init__(self) -> None:
        self._used = 0.0  # bucket level at ``_at``, including our own calls since
        self._size = 0.0  # 0: not yet told
        self._drip = 1.0
        self._at = 0.0
        self._burst_limit = 0
        self._window = -1
        self._in_window = 0

    def delay(self, cost: float) -> float:
        """Seconds to wait before a call of ``cost``; the call is counted as sent after them."""
        now = time.monotonic()
        wait = 0.0
        if self._size:
            level = max(0.0, self._used - (now - self._at) * self._drip)
            over = level + cost - self._size
            wait = over / self._drip if over > 0 else 0.0
            self._used, self._at = level + cost, now + wait
        window = math.floor(now + wait)
        if (
            self._burst_limit
            and window == self._window
            and self._in_window >= self._burst_limit - 1
        ):
            wait = max(wait, window + 1 - now)  # the next 1-second window
            window += 1
        if window != self._window:
            self._window, self._in_window = window, 0
        self._in_window += 1
        return min(wait, MAX_WAIT)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take the levels an answer reported (the server's truth replaces our estimate)."""
        bucket = _fraction(headers.get("x-ls-api-bucket-level"))
        if bucket:
            self._used, self._size = bucket
            self._at = time.monotonic()
        drip = headers.get("x-ls-api-drip-rate")
        with contextlib.suppress(ValueError):
            self._drip = max(float(drip), 0.01) if drip else self._drip
        burst = _fraction(headers.get("x-ls-api-burst-level"))
        if burst:
            self._burst_limit = int(burst[1])


def _fraction(value: str | None) -> tuple[float, float] | None:
    """``"12.5/90"`` as (12.5, 90.0); None when absent or malformed."""
    used, _, size = (value or "").partition("/")
    try:
        return (float(used), float(size)) if size else None
    except ValueError:
        return None
