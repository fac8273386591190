"""Settings of one simulated Shopify shop."""

from __future__ import annotations

from dataclasses import dataclass, field


def _default_retry_delays() -> list[float]:
    # Shopify retries 8 times over 4 hours with exponential backoff (integrations.md 1.5 [C]).
    # The default keeps the 8 tries and the doubling but shrinks the wait so a test can watch it.
    return [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]


@dataclass
class ShopifyConfig:
    """What a simulated shop looks like and how strict its limits are."""

    access_token: str
    client_secret: str  # signs outgoing webhooks (X-Shopify-Hmac-Sha256)
    shop_domain: str = "demo.myshopify.com"
    shop_name: str = "Demo Shop"
    currency: str = "USD"
    rest_bucket: int = 40
    rest_leak_per_second: float = 2.0
    graphql_max_cost: float = 1000.0
    graphql_restore_rate: float = 50.0
    # Most reports say THROTTLED comes with HTTP 200, some say 429 (integrations.md 1.6 [U]).
    graphql_throttle_status: int = 200
    issue_limit: str = "2000.00"
    webhook_timeout: float = 5.0
    webhook_retry_delays: list[float] = field(default_factory=_default_retry_delays)
    # Deliveries are held this long when the "reorder" behaviour is on, then sent newest-first.
    webhook_reorder_window: float = 0.3
    seed: int = 0
