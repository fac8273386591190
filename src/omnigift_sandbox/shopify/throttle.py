"""Rate limits (integrations.md 1.6): REST leaky bucket and GraphQL cost bucket, both driven by
the simulator's clock so ``/__sim/clock`` can drain or refill them at once."""

from __future__ import annotations

from dataclasses import dataclass, field

from .clock import Clock


@dataclass
class LeakyBucket:
    """REST: each call adds one; the bucket leaks ``leak_per_second``; full means 429 [C]."""

    clock: Clock
    size: int = 40
    leak_per_second: float = 2.0
    level: float = 0.0
    _at: float = field(default=-1.0)

    def _leak(self) -> None:
        now = self.clock.monotonic()
        if self._at >= 0:
            self.level = max(0.0, self.level - (now - self._at) * self.leak_per_second)
        self._at = now

    def take(self) -> bool:
        """Count one call; False (and nothing counted) when the bucket is full."""
        self._leak()
        if self.level + 1 > self.size:
            return False
        self.level += 1
        return True

    def header(self) -> str:
        """``X-Shopify-Shop-Api-Call-Limit``, e.g. ``32/40`` [C]."""
        self._leak()
        return f"{round(self.level)}/{self.size}"


@dataclass
class CostBucket:
    """GraphQL: a query may run when its requested cost is available; points restore per second."""

    clock: Clock
    maximum: float = 1000.0
    restore_rate: float = 50.0
    available: float = -1.0
    _at: float = field(default=-1.0)

    def _restore(self) -> None:
        now = self.clock.monotonic()
        if self.available < 0:
            self.available = self.maximum
        elif self._at >= 0:
            self.available = min(
                self.maximum, self.available + (now - self._at) * self.restore_rate
            )
        self._at = now

    def take(self, cost: float) -> bool:
        """Spend ``cost`` points; False (nothing spent) when fewer are available."""
        self._restore()
        if cost > self.available:
            return False
        self.available -= cost
        return True

    def status(self) -> dict[str, float]:
        """``throttleStatus`` as Shopify reports it."""
        self._restore()
        return {
            "maximumAvailable": self.maximum,
            "currentlyAvailable": int(self.available),
            "restoreRate": self.restore_rate,
        }
