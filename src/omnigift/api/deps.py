"""Typed dependencies of the routes: the runtime, the verified caller, its scopes."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request

from omnigift.api.problems import ApiError, ApiErrorCode
from omnigift.keys import Principal, Scope, authenticate
from omnigift.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    """The service runtime (async: a plain def would cost a threadpool hop per request)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class KeyCache:
    """Verified keys, trusted for a few seconds so a redeem costs no extra database round trip.

    A revoked key stops working within ``ttl`` seconds on every process.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    def get(self, secret: str) -> tuple[bool, Principal | None]:
        entry = self._entries.get(secret)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, secret: str, principal: Principal | None) -> None:
        if len(self._entries) > 10_000:
            self._entries.clear()
        self._entries[secret] = (time.monotonic() + self.ttl, principal)


async def get_principal(request: Request, runtime: RuntimeDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(
            401,
            ApiErrorCode.UNAUTHORIZED,
            "send an API key: Authorization: Bearer <key>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    secret = secret.strip()
    cache: KeyCache = request.app.state.key_cache
    hit, principal = cache.get(secret)
    if not hit:
        async with runtime.db.read() as conn:
            principal = await authenticate(conn, secret)
        cache.put(secret, principal)
    if principal is None:
        raise ApiError(
            401,
            ApiErrorCode.UNAUTHORIZED,
            "unknown or revoked API key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(scope: Scope) -> Callable[..., Coroutine[Any, Any, Principal]]:
    """A dependency that lets through only callers whose key has ``scope`` (or ``admin``)."""

    async def _check(principal: PrincipalDep) -> Principal:
        if not principal.allows(scope):
            raise ApiError(403, ApiErrorCode.FORBIDDEN, f"this API key lacks the scope {scope}")
        return principal

    return _check
