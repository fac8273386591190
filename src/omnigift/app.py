"""The FastAPI application: routes, error rendering, middleware, and the service's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from omnigift.api import problems
from omnigift.api.deps import KeyCache
from omnigift.api.middleware import RequestContext
from omnigift.api.routes import (
    activities,
    api_keys,
    customers,
    events,
    gift_cards,
    holds,
    hooks,
    integrations,
    operations,
    promotions,
    refunds,
    store_credit,
    tender,
    webhooks,
)
from omnigift.config import Settings
from omnigift.db.migrate import upgrade
from omnigift.runtime import Runtime
from omnigift.sync.connections import ConnectorPool
from omnigift.sync.health import HealthTracker
from omnigift.worker import run_forever


def create_app(settings: Settings | None = None, *, worker: bool = True) -> FastAPI:
    """Build the service; on start it migrates the database and (by default) runs the worker."""
    settings = settings or Settings()
    runtime = Runtime.from_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await upgrade(runtime.db)
        stop = asyncio.Event()
        task = asyncio.create_task(run_forever(runtime, stop)) if worker else None
        try:
            yield
        finally:
            stop.set()
            if task:
                await task
            await platforms.aclose()
            await runtime.db.dispose()

    app = FastAPI(
        title="Omnigift",
        version="1",
        summary="One system of record for gift cards across every sales channel.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.key_cache = KeyCache(settings.auth_cache_seconds)
    # Connectors the API itself uses: verifying inbound notifications, checking a platform.
    platforms = httpx.AsyncClient(
        follow_redirects=False,
        trust_env=False,
        timeout=httpx.Timeout(settings.connector_timeout_seconds),
    )
    app.state.connectors = ConnectorPool(runtime.db, runtime.sync.sealer, platforms)
    app.state.health = HealthTracker(runtime.db, runtime.sync.failing_after)
    problems.install(app)
    routers = (  # routes are tried in this order: the redeem path's first
        activities,
        gift_cards,
        holds,
        events,
        webhooks,
        api_keys,
        operations,
        integrations,
        hooks,
        tender,
        customers,
        store_credit,
        promotions,
        refunds,
    )
    for module in routers:
        app.include_router(module.router)
    app.add_middleware(RequestContext)
    return app
