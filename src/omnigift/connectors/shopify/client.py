"""The Shopify Admin API over httpx: GraphQL for gift cards, REST for orders and webhooks.

Failures map to the connector's errors: 429, ``THROTTLED``, 5xx and timeouts are
``PlatformUnavailable`` (``AmbiguousWrite`` for a mutation, which may have been applied before the
answer was lost); 401/403 are ``AuthenticationFailed``. Shopify's REST 429 carries
``Retry-After`` in seconds; a GraphQL throttle says how many cost points are missing and how fast
they come back, from which we compute the wait (integrations.md 1.6).
"""

from __future__ import annotations

from typing import Any

import httpx

from omnigift.connectors.base import (
    AmbiguousWrite,
    AuthenticationFailed,
    PlatformError,
    PlatformUnavailable,
)

API_VERSION = "2025-07"


class ShopifyClient:
    def __init__(self, base_url: str, access_token: str, http: httpx.AsyncClient) -> None:
        self._api = f"{base_url.rstrip('/')}/admin/api/{API_VERSION}"
        self._headers = {"X-Shopify-Access-Token": access_token, "Accept": "application/json"}
        self._http = http

    async def graphql(
        self, query: str, variables: dict[str, Any] | None = None, *, write: bool = False
    ) -> dict[str, Any]:
        """``data`` of a GraphQL call; a mutation's failure in flight is ``AmbiguousWrite``."""
        unavailable = AmbiguousWrite if write else PlatformUnavailable
        try:
            response = await self._http.post(
                f"{self._api}/graphql.json",
                json={"query": query, "variables": variables or {}},
                headers=self._headers,
            )
        except httpx.TimeoutException as exc:
            raise unavailable(f"Shopify timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            # Not connected at all: the request never reached Shopify.
            raise PlatformUnavailable(f"Shopify unreachable: {exc!r}") from exc
        self._check_status(response, unavailable)
        body: dict[str, Any] = response.json()
        errors = body.get("errors")
        if errors:
            if any(e.get("extensions", {}).get("code") == "THROTTLED" for e in errors):
                raise PlatformUnavailable(
                    "Shopify GraphQL throttled", _throttle_wait(body), throttled=True
                )
            raise PlatformError(f"Shopify GraphQL errors: {errors}")
        data: dict[str, Any] = body.get("data") or {}
        return data

    async def get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """A REST read (``path`` relative to the versioned API, e.g. ``orders/1.json``)."""
        url = path if path.startswith("http") else f"{self._api}/{path}"
        try:
            response = await self._http.get(url, params=params, headers=self._headers)
        except httpx.HTTPError as exc:
            raise PlatformUnavailable(f"Shopify unreachable: {exc!r}") from exc
        self._check_status(response, PlatformUnavailable)
        return response

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            response = await self._http.post(
                f"{self._api}/{path}", json=body, headers=self._headers
            )
        except httpx.HTTPError as exc:
            raise PlatformUnavailable(f"Shopify unreachable: {exc!r}") from exc
        self._check_status(response, PlatformUnavailable)
        return response

    @staticmethod
    def _check_status(response: httpx.Response, unavailable: type[PlatformUnavailable]) -> None:
        status = response.status_code
        if status in (401, 403):
            raise AuthenticationFailed(f"Shopify refused our credentials ({status})")
        if status == 429:
            raise PlatformUnavailable(
                "Shopify rate limit (429)", _retry_after(response), throttled=True
            )
        if status >= 500:
            raise unavailable(f"Shopify answered {status}", _retry_after(response))
        if status >= 400:
            raise PlatformError(f"Shopify answered {status}: {response.text[:500]}")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _throttle_wait(body: dict[str, Any]) -> float:
    """Seconds until the cost bucket holds what the query asked for."""
    cost = body.get("extensions", {}).get("cost", {})
    status = cost.get("throttleStatus", {})
    missing = float(cost.get("requestedQueryCost") or 10) - float(
        status.get("currentlyAvailable") or 0
    )
    rate = float(status.get("restoreRate") or 50)
    return max(0.1, missing / rate)


def next_page(response: httpx.Response) -> str | None:
    """The ``rel="next"`` URL of Shopify's ``Link`` header, if any."""
    link = response.links.get("next")
    return link.get("url") if link else None
