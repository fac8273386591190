"""A faithful local BigCommerce store: v2 gift certificates and orders, v3 transactions and
hooks, signed id-only webhooks, the 30-second quota, and a ``/__sim/`` control plane.

See ``docs/sandbox-bigcommerce.md``.
"""

from .app import create_app, serve
from .config import BigCommerceConfig

__all__ = ["BigCommerceConfig", "create_app", "serve"]
