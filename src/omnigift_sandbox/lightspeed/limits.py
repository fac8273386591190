"""Rate limits (integrations.md 3.3 [C]): a leaky bucket per account+client, a burst limiter
on 1-second fixed windows, and the 1 request/s gift card code lookup guard (3.2 [C]).

All run on the simulator's clock, so ``/__sim/clock`` drains the bucket at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .clock import Clock

LEAKY = "api-leaky-bucket"
BURST = "api-burst-limiter"
# The limiter type a blocked code lookup reports is not documented: unconfirmed [U].
LOOKUP = "gift-card-lookup"


def _number(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass
class Verdict:
    """What the limiters decided for one request, and the headers to send."""

    allowed: bool
    cost: float
    limiter: str = ""
    retry_after: int = 0


@dataclass
class Limits:
    """The leaky bucket and burst limiter of one connection."""

    clock: Clock
    size: float
    drip: float
    burst_limit: int
    level: float = 0.0
    _at: float = field(default=-1.0)
    burst_window: int = -1
    burst_count: int = 0
    last_lookup: float = field(default=-1e9)

    def _drain(self) -> None:
        now = self.clock.monotonic()
        if self._at >= 0:
            self.level = max(0.0, self.level - (now - self._at) * self.drip)
        self._at = now

    def _burst_tick(self) -> int:
        window = math.floor(self.clock.monotonic())
        if window != self.burst_window:
            self.burst_window = window
            self.burst_count = 0
        self.burst_count += 1
        return self.burst_count

    def take(self, cost: float) -> Verdict:
        """Count one request of ``cost`` drips.

        Every request adds one to the burst window, blocked or not [C]. The bucket lets a
        request through while its level is below the size — so the first request that
        overflows it passes — and blocks later ones until the level drops below the size [C].
        A blocked request adds nothing to the bucket [U].
        """
        self._drain()
        if self._burst_tick() > self.burst_limit:
            return Verdict(allowed=False, cost=cost, limiter=BURST, retry_after=1)
        if self.level >= self.size:
            wait = math.ceil((self.level - self.size) / self.drip + 1e-9) if self.drip else 60
            return Verdict(allowed=False, cost=cost, limiter=LEAKY, retry_after=max(1, wait))
        self.level += cost
        return Verdict(allowed=True, cost=cost)

    def lookup_allowed(self) -> bool:
        """A gift card lookup by ``code``: at most one per second (3.2 [C]). Counted per
        connection, whatever the code — the doc's "per lookup" is ambiguous [U]."""
        now = self.clock.monotonic()
        if now - self.last_lookup < 1.0:
            return False
        self.last_lookup = now
        return True

    def headers(self, account_id: int, client_id: int, verdict: Verdict) -> dict[str, str]:
        """The ``X-LS-*`` headers every API response carries, plus ``Retry-After`` and
        ``X-LS-API-RateLimit-Type`` when blocked (3.3 [C])."""
        self._drain()
        headers = {
            "X-LS-Acct-Id": str(account_id),
            "X-LS-Oauth-Client-Id": str(client_id),
            "X-LS-API-Bucket-Level": f"{_number(self.level)}/{_number(self.size)}",
            "X-LS-API-Burst-Level": f"{max(0, self.burst_count)}/{self.burst_limit}",
            "X-LS-API-Drip-Rate": _number(self.drip),
            "X-LS-API-Request-Cost": _number(verdict.cost),
        }
        if not verdict.allowed:
            headers["X-LS-API-RateLimit-Type"] = verdict.limiter
            headers["Retry-After"] = str(verdict.retry_after)
        return headers

    def reset(self) -> None:
        """Empty the bucket and the burst window (control plane)."""
        self.level = 0.0
        self._at = -1.0
        self.burst_window = -1
        self.burst_count = 0
        self.last_lookup = -1e9
