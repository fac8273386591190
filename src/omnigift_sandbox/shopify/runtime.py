"""Everything one running simulator holds, and the guard every vendor route passes through."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from graphql import GraphQLSchema
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import schema as schema_module
from .clock import Clock
from .config import ShopifyConfig
from .faults import FaultBook
from .state import Store
from .throttle import CostBucket, LeakyBucket
from .webhooks import WebhookSender

UNAUTHORIZED_MESSAGE = (
    "[API] Invalid API key or access token (unrecognized login or wrong password)"
)
REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}

Handler = Callable[[Request], Awaitable[Response]]


@dataclass
class Simulator:
    """The shop's state plus its limits, faults and webhook sender."""

    config: ShopifyConfig
    clock: Clock
    store: Store
    sender: WebhookSender
    faults: FaultBook
    rest_bucket: LeakyBucket
    cost_bucket: CostBucket
    schema: GraphQLSchema
    # Handlers change state in synchronous stretches (no await mid-change), which the event loop
    # already serialises; the lock is held around whole mutations so that stays true if a future
    # handler awaits in the middle of one.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def create(cls, config: ShopifyConfig) -> Simulator:
        """A fresh shop from ``config``."""
        clock = Clock()
        store = Store(config, clock)
        return cls(
            config=config,
            clock=clock,
            store=store,
            sender=WebhookSender(store),
            faults=FaultBook(clock),
            rest_bucket=LeakyBucket(clock, config.rest_bucket, config.rest_leak_per_second),
            cost_bucket=CostBucket(clock, config.graphql_max_cost, config.graphql_restore_rate),
            schema=schema_module.build(),
        )

    def error(self, status: int, extra: dict[str, str] | None = None) -> JSONResponse:
        """A bare Shopify-style error: ``{"errors": "<reason>"}``."""
        body: dict[str, Any] = {"errors": REASONS.get(status, "Error")}
        return JSONResponse(body, status_code=status, headers=extra)

    async def guard(
        self,
        surface: Literal["graphql", "rest"],
        request: Request,
        handler: Handler,
        throttled: Callable[[], Response],
    ) -> Response:
        """Apply a pending fault, check the token, run ``handler``; add ``X-Request-Id``."""
        response = await self._guarded(surface, request, handler, throttled)
        response.headers["X-Request-Id"] = self.store.new_uuid()
        return response

    async def _guarded(
        self,
        surface: Literal["graphql", "rest"],
        request: Request,
        handler: Handler,
        throttled: Callable[[], Response],
    ) -> Response:
        fault = self.faults.take(surface)
        if fault is not None:
            if fault.kind in ("status", "down"):
                return self.error(fault.status if fault.kind == "status" else 503)
            if fault.kind == "throttle":
                return throttled()
            if fault.kind == "latency":
                await asyncio.sleep(fault.seconds)
        if request.headers.get("x-shopify-access-token") != self.config.access_token:
            return JSONResponse({"errors": UNAUTHORIZED_MESSAGE}, status_code=401)
        async with self.lock:
            response = await handler(request)
        if fault is not None and fault.kind == "ambiguous":
            # The work is done and committed; the client only sees a failure (or a timeout).
            if fault.seconds:
                await asyncio.sleep(fault.seconds)
            return self.error(fault.status)
        return response
