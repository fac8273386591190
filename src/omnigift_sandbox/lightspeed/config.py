"""Settings of one simulated Lightspeed R-Series account."""

from __future__ import annotations

from dataclasses import dataclass, field


def _default_scopes() -> list[str]:
    # The scopes a gift card connector asks for (integrations.md 3.1 [C]).
    return [
        "employee:register",
        "employee:customers",
        "employee:customers_view_gift_card_numbers",
    ]


@dataclass
class LightspeedConfig:
    """One account and one OAuth client connected to it.

    ``access_token`` is accepted until ``/__sim/tokens/expire`` (it stands for a token the
    connector already holds); tokens issued by ``/auth/oauth/token`` expire after
    ``token_ttl`` seconds of the simulator's clock. ``registers`` raises the limits as Lightspeed
    does: +10 bucket size and +0.5 drip per register beyond the first (integrations.md 3.3 [C]).
    """

    access_token: str = "ls_sandbox"  # noqa: S105 - a sandbox value
    account_id: int = 12345
    refresh_token: str = "ls_refresh_sandbox"  # noqa: S105 - a sandbox value
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"  # noqa: S105 - a sandbox value
    oauth_client_id: int = 51661
    scopes: list[str] = field(default_factory=_default_scopes)
    token_ttl: int = 1800
    bucket_size: float = 90.0
    drip_rate: float = 1.0
    burst_limit: int = 20
    registers: int = 1
    gift_card_payment_type_id: int = 5
    account_name: str = "Sandbox Store"
    currency: str = "USD"
    seed: int = 0

    @property
    def effective_bucket_size(self) -> float:
        """Bucket size after extra registers."""
        return self.bucket_size + 10 * max(0, self.registers - 1)

    @property
    def effective_drip_rate(self) -> float:
        """Drip rate after extra registers."""
        return self.drip_rate + 0.5 * max(0, self.registers - 1)
