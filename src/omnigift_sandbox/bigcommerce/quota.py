"""The per-store request quota over a fixed 30-second window (integrations.md 2.5 [C]).

Every vendor response carries the four ``X-Rate-Limit-*`` headers; once the window's quota is
spent, calls answer 429 until the window resets. There is no ``Retry-After`` [C].
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Quota:
    """A fixed window that opens with the first call after the previous one closed."""

    limit: int
    window_ms: int
    used: int = 0
    opened: float = field(default=0.0)

    def _roll(self, now: float) -> None:
        if now - self.opened >= self.window_ms / 1000:
            self.opened = now
            self.used = 0

    def take(self) -> bool:
        """Count one call; ``False`` when the window's quota is already spent (answer 429)."""
        now = time.monotonic()
        self._roll(now)
        if self.used >= self.limit:
            return False
        self.used += 1
        return True

    def reset(self) -> None:
        """Close the current window (control plane)."""
        self.opened = 0.0
        self.used = 0

    def headers(self, *, exhausted: bool = False) -> dict[str, str]:
        """The four headers BigCommerce sends on every response."""
        now = time.monotonic()
        self._roll(now)
        reset_ms = max(0, int(self.window_ms - (now - self.opened) * 1000))
        left = 0 if exhausted else max(0, self.limit - self.used)
        return {
            "X-Rate-Limit-Time-Window-Ms": str(self.window_ms),
            "X-Rate-Limit-Time-Reset-Ms": str(reset_ms),
            "X-Rate-Limit-Requests-Quota": str(self.limit),
            "X-Rate-Limit-Requests-Left": str(left),
        }
