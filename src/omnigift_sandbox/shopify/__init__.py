"""A Shopify Admin API simulator (GraphQL gift cards, REST gift cards/orders/webhooks) with a
``/__sim/`` control plane. See docs/sandbox-shopify.md."""

from .app import create_app, serve
from .config import ShopifyConfig

__all__ = ["ShopifyConfig", "create_app", "serve"]
