"""The Lightspeed Retail R-Series API (V3) over httpx.

Answers carry the leaky bucket's level (``X-LS-API-Bucket-Level``), which ``pacing.Pacer``
keeps under; over it, 429 with ``Retry-After`` in seconds (integrations.md 3.3). JSON values
are strings, and a relation holds one object or an array depending on the count (3.2):
``items`` accepts both.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from omnigift.connectors.base import (
    AmbiguousWrite,
    AuthenticationFailed,
    PlatformRejected,
    PlatformUnavailable,
)
from omnigift.connectors.lightspeed.pacing import READ_COST, WRITE_COST, Pacer


class LightspeedClient:
    def __init__(self, base_url: str, access_token: str, http: httpx.AsyncClient) -> None:
        # base_url is the account's API root: https://api.lightspeedapp.com/API/V3/Account/{id}
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {access_token}", "Accept": "application/json"}
        self._http = http
        self._pacer = Pacer()

    def use_token(self, access_token: str) -> None:
        self._headers["Authorization"] = f"Bearer {access_token}"

    async def call(
        self, method: str, path: str, *, params: Any = None, body: Any = None
    ) -> dict[str, Any] | None:
        """One call (``path`` like ``Sale.json`` or a full ``next`` URL); None for 404."""
        write = method != "GET"
        unavailable = AmbiguousWrite if write else PlatformUnavailable
        url = path if path.startswith("http") else f"{self._base}/{path}"
        wait = self._pacer.delay(WRITE_COST if write else READ_COST)
        if wait:
            await asyncio.sleep(wait)
        try:
            response = await self._http.request(
                method, url, params=params, json=body, headers=self._headers
            )
        except httpx.TimeoutException as exc:
            raise unavailable(f"Lightspeed timed out: {exc!r}") from exc
        except httpx.TransportError as exc:
            raise PlatformUnavailable(f"Lightspeed unreachable: {exc!r}") from exc
        self._pacer.observe(response.headers)
        status = response.status_code
        if status in (401, 403):
            raise AuthenticationFailed(f"Lightspeed refused our token ({status})")
        if status == 429:
            raise PlatformUnavailable(
                "Lightspeed rate limit (429)", _retry_after(response), throttled=True
            )
        if status >= 500:
            raise unavailable(f"Lightspeed answered {status}", _retry_after(response))
        if status == 404:
            return None
        if status >= 400:
            raise PlatformRejected(f"Lightspeed answered {status}: {response.text[:500]}")
        answer: dict[str, Any] = response.json()
        return answer


def items(container: Any, key: str) -> list[dict[str, Any]]:
    """``{"Sale": {...}}`` or ``{"Sale": [...]}`` (or nested ``{"SalePayment": ...}``)."""
    if not isinstance(container, dict):
        return []
    inner = container.get(key)
    if inner is None:
        return []
    return [i for i in (inner if isinstance(inner, list) else [inner]) if isinstance(i, dict)]


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return float(value) if value else None
    except ValueError:
        return None
