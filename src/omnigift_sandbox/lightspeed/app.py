"""The Lightspeed R-Series simulator as an ASGI app, and a blocking ``serve`` for the CLI."""

from __future__ import annotations

import uvicorn
from starlette.applications import Starlette

from . import api, auth, control
from .config import LightspeedConfig
from .runtime import Simulator


def create_app(config: LightspeedConfig) -> Starlette:
    """A fresh simulated account. No background tasks: R-Series sends no webhooks."""
    sim = Simulator.create(config)
    app = Starlette(routes=[*auth.routes(sim), *api.routes(sim), *control.routes(sim)])
    app.state.sim = sim
    return app


def serve(host: str, port: int, config: LightspeedConfig) -> None:
    """Serve the simulator until interrupted (blocking)."""
    uvicorn.run(create_app(config), host=host, port=port, log_level="info")
