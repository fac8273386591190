"""Settings of one simulated BigCommerce store."""

from __future__ import annotations

from dataclasses import dataclass, field


def _default_retry_delays() -> list[float]:
    # Real BigCommerce retries a failed event after 60, 180, 300, 600, 900, 1800, 3600, 7200,
    # 21600, 50400 and 86400 s (about 48 h), then deactivates the hook (integrations.md 2.4 [C]).
    # The simulator keeps the shape (growing gaps, then deactivation) on a short schedule.
    return [1.0, 3.0, 5.0, 10.0, 15.0, 30.0]


def _default_extra_currencies() -> list[str]:
    return ["EUR", "GBP", "CAD"]


@dataclass
class BigCommerceConfig:
    """One store: its hash, the API token, the app client secret that signs webhooks, limits.

    ``extra_currencies`` are the store's other enabled currencies (certificates may be issued in
    them; ``currency`` is the default).
    """

    access_token: str
    client_secret: str
    store_hash: str = "abc123"
    currency: str = "USD"
    quota: int = 150
    window_ms: int = 30000
    webhook_timeout: float = 5.0
    webhook_retry_delays: list[float] = field(default_factory=_default_retry_delays)
    seed: int = 0
    extra_currencies: list[str] = field(default_factory=_default_extra_currencies)

    @property
    def currencies(self) -> set[str]:
        """Every currency the store accepts."""
        return {self.currency, *self.extra_currencies}
