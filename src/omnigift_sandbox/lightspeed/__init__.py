"""A faithful local Lightspeed Retail (R-Series) account: OAuth tokens, gift card credit
accounts, sales with gift card payments, cursor pagination and query operators, the leaky
bucket and burst limiter, and a ``/__sim/`` control plane. No webhooks: R-Series has none.

See ``docs/sandbox-lightspeed.md``.
"""

from .app import create_app, serve
from .config import LightspeedConfig

__all__ = ["LightspeedConfig", "create_app", "serve"]
