"""The BigCommerce simulator as an ASGI app, and a blocking ``serve`` for the CLI."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette

from . import certificate_routes, control, hooks, order_routes
from .config import BigCommerceConfig
from .simulator import Simulator
from .webhooks import stop


def create_app(config: BigCommerceConfig) -> Starlette:
    """A fresh simulated store; webhooks are sent by a task that lives as long as the app."""
    sim = Simulator(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The sender's queue is created outside any loop; a fresh one binds to this loop.
        sim.sender.queue = asyncio.Queue()
        task = asyncio.get_running_loop().create_task(sim.sender.run())
        try:
            yield
        finally:
            await stop(task)

    app = Starlette(
        routes=[
            *certificate_routes.routes,
            *order_routes.routes,
            *hooks.routes,
            *control.routes,
        ],
        lifespan=lifespan,
    )
    app.state.sim = sim
    return app


def serve(host: str, port: int, config: BigCommerceConfig) -> None:
    """Serve the simulator until interrupted (blocking)."""
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")
