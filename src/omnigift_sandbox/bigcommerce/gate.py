"""What stands in front of every vendor route: store hash, auth, faults, quota, rate headers.

Order of checks: unknown store → 404; missing/wrong ``X-Auth-Token`` → 401 [C 2.1]; a queued
fault; the 30-s quota → 429 [C 2.5]; then the route. Every answer except an ``overload`` 429
carries the four ``X-Rate-Limit-*`` headers [C 2.5].
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from .errors import ApiError, render
from .simulator import Simulator, simulator

Handler = Callable[[Request, Simulator], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def vendor(api: str, handler: Handler) -> Endpoint:
    """Wrap a vendor route of the ``v2`` or ``v3`` family with the gate."""

    async def endpoint(request: Request) -> Response:
        sim = simulator(request)
        response, rate_headers = await _gated(api, handler, request, sim)
        if rate_headers:
            response.headers.update(sim.quota.headers(exhausted=response.status_code == 429))
        return response

    return endpoint


async def _gated(
    api: str, handler: Handler, request: Request, sim: Simulator
) -> tuple[Response, bool]:
    if request.path_params.get("store_hash") != sim.config.store_hash:
        return render(api, ApiError(404, "The requested store was not found.")), False
    # Starlette's headers are case-insensitive, as BigCommerce's are since 2022 [C].
    if request.headers.get("x-auth-token") != sim.config.access_token:
        return render(api, ApiError(401, "You are not authorized to access this resource.")), True
    fault = sim.faults.take(api)
    if fault is not None:
        if fault.kind == "down":
            return render(api, ApiError(503, "The store is down for maintenance.")), True
        if fault.kind == "status":
            return render(api, ApiError(fault.status, _status_message(fault.status))), True
        if fault.kind == "quota":
            return render(api, ApiError(429, "Too many requests.")), True
        if fault.kind == "overload":
            # No rate headers: that is how a client tells overload from its own quota [C].
            return render(api, ApiError(429, "Too many requests.")), False
        if fault.kind == "latency":
            await asyncio.sleep(fault.seconds)
    if not sim.quota.take():
        return render(api, ApiError(429, "Too many requests.")), True
    try:
        response = await handler(request, sim)
    except ApiError as error:
        response = render(api, error)
    if fault is not None and fault.kind == "ambiguous":
        # The work is done; the caller only learns of a failure.
        if fault.seconds:
            await asyncio.sleep(fault.seconds)
        return render(api, ApiError(fault.status, _status_message(fault.status))), True
    return response, True


def _status_message(status: int) -> str:
    return {
        500: "Internal Server Error.",
        502: "Bad Gateway.",
        503: "Service Unavailable: the store is down for maintenance.",
        507: "Insufficient Storage: the store has reached a plan limit.",
    }.get(status, "Error.")


async def read_json(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400."""
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ApiError(400, "The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body
