"""Which connector serves which platform, and what credentials it needs.

The one place that names every platform; the sync machinery looks connectors up here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from omnigift.connectors.base import Connector


@dataclass(frozen=True)
class Platform:
    name: str
    credential_fields: tuple[str, ...]
    build: Callable[[str, dict[str, str], dict[str, Any], httpx.AsyncClient], Connector]
    # Longest code the platform's gift cards take (Shopify 20, BigCommerce 20).
    max_code_length: int
    min_code_length: int = 1
    # False for a platform that holds no gift cards of ours (a returns platform): no mirrors.
    mirrors: bool = True
    # The channel its doings are booked to: a web store's checkout is online, a till is pos.
    channel: str = "online"


def _shopify(
    base_url: str, credentials: dict[str, str], settings: dict[str, Any], http: httpx.AsyncClient
) -> Connector:
    from omnigift.connectors.shopify.connector import ShopifyConnector

    return ShopifyConnector(base_url, credentials, settings, http)


def _bigcommerce(
    base_url: str, credentials: dict[str, str], settings: dict[str, Any], http: httpx.AsyncClient
) -> Connector:
    from omnigift.connectors.bigcommerce.connector import BigCommerceConnector

    return BigCommerceConnector(base_url, credentials, settings, http)


def _lightspeed(
    base_url: str, credentials: dict[str, str], settings: dict[str, Any], http: httpx.AsyncClient
) -> Connector:
    from omnigift.connectors.lightspeed.connector import LightspeedConnector

    return LightspeedConnector(base_url, credentials, settings, http)


def _narvar(
    base_url: str, credentials: dict[str, str], settings: dict[str, Any], http: httpx.AsyncClient
) -> Connector:
    from omnigift.connectors.narvar.connector import NarvarConnector

    return NarvarConnector(base_url, credentials, settings, http)


PLATFORMS: dict[str, Platform] = {
    "shopify": Platform(
        "shopify",
        ("access_token", "client_secret"),
        _shopify,
        max_code_length=20,
        min_code_length=8,
    ),
    "bigcommerce": Platform(
        "bigcommerce", ("access_token", "client_secret"), _bigcommerce, max_code_length=20
    ),
    "lightspeed": Platform(
        "lightspeed",
        ("access_token",),
        _lightspeed,
        max_code_length=32,
        min_code_length=8,
        channel="pos",
    ),
    # Narvar calls us with HTTP Basic credentials we choose and give its support engineer.
    "narvar": Platform(
        "narvar", ("username", "password"), _narvar, max_code_length=20, mirrors=False
    ),
}
