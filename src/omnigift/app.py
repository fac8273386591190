"""The FastAPI application: routes, error rendering, middleware, and the service's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from omnigift.api import problems
from omnigift.api.deps import KeyCache
from omnigift.api.middleware import RequestContext
from omnigift.api.routes import (
    activities,
    api_keys,
    events,
    gift_cards,
    holds,
    operations,
    webhooks,
)
from omnigift.config import Settings
from omnigift.db.migrate import upgrade
from omnigift.runtime import Runtime
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
            await runtime.db.dispose()

    app = FastAPI(
        title="Omnigift",
        version="1",
        summary="One system of record for gift cards across every sales channel.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.key_cache = KeyCache(settings.auth_cache_seconds)
    problems.install(app)
    for module in (gift_cards, activities, holds, events, webhooks, api_keys, operations):
        app.include_router(module.router)
    app.add_middleware(RequestContext)
    return app
