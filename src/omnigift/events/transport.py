"""The HTTP transport of webhook deliveries: httpx over httpcore, with a simpler connection pool.

httpcore's pool looks at every pooled connection (and polls its socket) each time a request is
assigned or a response is closed, so with a batch of N deliveries in flight to one endpoint the
pool costs O(N) per request, which profiling showed to be a fifth of the worker's CPU per
delivery. Deliveries need less: one keep-alive connection per request in flight, reused LIFO per
(origin, TLS server name). Only the connection about to be reused is checked (expired, or closed
by the receiver), and a connection is pooled again only when its response was read to the end.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import httpcore
import httpx

Key = tuple[bytes, bytes, int, Any]


class _KeepAlivePool:
    """Idle HTTP/1.1 connections per (origin, server name); every request in flight has its own."""

    def __init__(self, ssl_context: ssl.SSLContext, max_idle: int, keepalive_expiry: float) -> None:
        self._ssl_context = ssl_context
        self._max_idle = max_idle
        self._expiry = keepalive_expiry
        self._idle: dict[Key, list[httpcore.AsyncHTTPConnection]] = {}
        self._closed = False

    async def __aenter__(self) -> _KeepAlivePool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        origin = request.url.origin
        key: Key = (origin.scheme, origin.host, origin.port, request.extensions.get("sni_hostname"))
        connection = await self._take(key)
        if connection is None:
            connection = httpcore.AsyncHTTPConnection(
                origin=origin, ssl_context=self._ssl_context, keepalive_expiry=self._expiry
            )
        try:
            response = await connection.handle_async_request(request)
        except BaseException:
            await connection.aclose()
            raise
        response.stream = _Returning(response.stream, self, key, connection)
        return response

    async def _take(self, key: Key) -> httpcore.AsyncHTTPConnection | None:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()
            if connection.is_available() and not connection.has_expired():
                return connection
            await connection.aclose()
        return None

    async def release(self, key: Key, connection: httpcore.AsyncHTTPConnection) -> None:
        idle = self._idle.setdefault(key, [])
        if self._closed or not connection.is_idle() or len(idle) >= self._max_idle:
            await connection.aclose()
        else:
            idle.append(connection)

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                await connection.aclose()


class _Returning:
    """A response body that gives its connection back to the pool when closed."""

    def __init__(
        self,
        stream: Any,
        pool: _KeepAlivePool,
        key: Key,
        connection: httpcore.AsyncHTTPConnection,
    ) -> None:
        self._stream, self._pool, self._key, self._connection = stream, pool, key, connection
        self._released = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        try:
            if hasattr(self._stream, "aclose"):
                await self._stream.aclose()
        finally:
            if not self._released:
                self._released = True
                await self._pool.release(self._key, self._connection)


class DeliveryTransport(httpx.AsyncHTTPTransport):
    """``httpx.AsyncHTTPTransport`` (HTTP/1.1, no proxy) with the pool above."""

    def __init__(self, max_idle: int = 32, keepalive_expiry: float = 5.0) -> None:
        super().__init__(trust_env=False)
        context = httpx.create_ssl_context(trust_env=False)
        self._pool = _KeepAlivePool(context, max_idle, keepalive_expiry)  # type: ignore[assignment]


def delivery_client(max_idle: int) -> httpx.AsyncClient:
    """The client the worker delivers webhooks with: no redirects, no proxies from the env."""
    return httpx.AsyncClient(
        transport=DeliveryTransport(max_idle=max_idle), follow_redirects=False, trust_env=False
    )
