"""The simulator as an ASGI app, and a blocking ``serve`` for the CLI."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import control, graphql_api, rest
from .config import ShopifyConfig
from .runtime import Simulator


def create_app(config: ShopifyConfig) -> Starlette:
    """A Starlette app serving the Shopify Admin API subset and ``/__sim/``.

    The Simulator is reachable as ``app.state.simulator`` for in-process inspection.
    """
    sim = Simulator.create(config)

    async def graphql_route(request: Request) -> Response:
        return await sim.guard(
            "graphql",
            request,
            lambda req: graphql_api.handle(sim, req),
            lambda: graphql_api.throttled(sim, 0),
        )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await sim.sender.start()
        try:
            yield
        finally:
            await sim.sender.stop()

    routes = [
        Route("/admin/api/{version}/graphql.json", graphql_route, methods=["POST"]),
        *rest.routes(sim),
        *control.routes(sim),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.simulator = sim
    return app


def serve(host: str, port: int, config: ShopifyConfig) -> None:
    """Serve the simulator until interrupted (blocking)."""
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")
