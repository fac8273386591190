"""The BigCommerce REST API (v2 and v3) over httpx.

Every answer carries the store's quota (``X-Rate-Limit-*``, integrations.md 2.5); a 429 says in
``X-Rate-Limit-Time-Reset-Ms`` when the window resets. A 429 without those headers means the
platform itself is overloaded: we back off longer. 5xx and timeouts are ``PlatformUnavailable``
(``AmbiguousWrite`` for a write, which may have been applied).
"""

from __future__ import annotations

from typing import Any

import httpx

from omnigift.connectors.base import (
    AmbiguousWrite,
    AuthenticationFailed,
    PlatformRejected,
    PlatformUnavailable,
)

OVERLOAD_BACKOFF = 30.0


class BigCommerceClient:
    def __init__(self, base_url: str, access_token: str, http: httpx.AsyncClient) -> None:
        # base_url is the store's API root: https://api.bigcommerce.com/stores/{store_hash}
        self._base = base_url.rstrip("/")
        self._headers = {
            "X-Auth-Token": access_token,
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        self._http = http

    async def call(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None
    ) -> httpx.Response | None:
        """One call (``path`` like ``v2/gift_certificates``); None for 404 or 204."""
        write = method != "GET"
        unavailable = AmbiguousWrite if write else PlatformUnavailable
        try:
            response = await self._http.request(
                method, f"{self._base}/{path}", params=params, json=body, headers=self._headers
            )
        except httpx.TimeoutException as exc:
            raise unavailable(f"BigCommerce timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise PlatformUnavailable(f"BigCommerce unreachable: {exc!r}") from exc
        status = response.status_code
        if status in (401, 403):
            raise AuthenticationFailed(f"BigCommerce refused our credentials ({status})")
        if status == 429:
            # With quota headers it is our own rate; without, the platform is overloaded.
            quota = "x-rate-limit-time-reset-ms" in response.headers
            raise PlatformUnavailable(
                "BigCommerce quota exhausted (429)", _reset_after(response), throttled=quota
            )
        if status >= 500:
            raise unavailable(f"BigCommerce answered {status}")
        if status in (404, 204):
            return None
        if status >= 400:
            raise PlatformRejected(f"BigCommerce answered {status}: {response.text[:500]}")
        return response

    async def json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = await self.call("GET", path, params=params)
        return response.json() if response is not None else None


def _reset_after(response: httpx.Response) -> float:
    reset = response.headers.get("x-rate-limit-time-reset-ms")
    if reset is None:
        return OVERLOAD_BACKOFF  # no quota headers: the platform is overloaded
    try:
        return max(0.05, float(reset) / 1000)
    except ValueError:
        return OVERLOAD_BACKOFF
