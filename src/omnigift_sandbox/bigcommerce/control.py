"""The private ``/__sim/`` control plane (our convention, not BigCommerce's): no auth.

Checkout and refunds stand in for a shopper and for staff; faults, webhook behaviour and a
state dump serve the tests.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import certificates, order_views, orders
from .errors import ApiError
from .faults import FaultError, parse
from .gate import read_json
from .simulator import Simulator, simulator
from .webhooks import Behaviour


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request) -> dict[str, Any]:
    return await read_json(request)


async def checkout(request: Request) -> Response:
    """``POST /__sim/checkout``: a shopper pays an order, possibly with gift certificates."""
    sim = simulator(request)
    try:
        body = await _body(request)
        order, issued, events = orders.checkout(
            sim.store, body, sim.config.currencies, sim.config.currency
        )
    except ApiError as error:
        return _problem(error.status, error.message)
    _emit(sim, events)
    return JSONResponse(
        {
            "order": order_views.show(order),
            "transactions": [order_views.show_transaction(t) for t in order.transactions],
            "gift_certificates": [{"id": c.id, "code": c.code} for c in issued],
        },
        status_code=201,
    )


async def refund(request: Request) -> Response:
    """``POST /__sim/orders/{id}/refund``: staff refund ``amount`` (default: the rest)."""
    sim = simulator(request)
    try:
        order = sim.store.orders.get(int(request.path_params["order_id"]))
    except ValueError:
        order = None
    if order is None:
        return _problem(404, "order not found")
    try:
        made, events = orders.refund(sim.store, order, await _body(request))
    except ApiError as error:
        return _problem(error.status, error.message)
    _emit(sim, events)
    return JSONResponse(
        {
            "order": order_views.show(order),
            "transactions": [order_views.show_transaction(t) for t in made],
            "refund_id": events[0][1]["refund"]["refund_id"],
        }
    )


async def staff_certificate(request: Request) -> Response:
    """``POST /__sim/gift_certificates``: staff issue a certificate in the control panel.

    Names and emails default so only ``amount`` is needed. No webhook: BigCommerce has no
    gift certificate events [C].
    """
    sim = simulator(request)
    try:
        body = await _body(request)
        defaults = {
            "to_name": "Recipient",
            "to_email": "recipient@example.com",
            "from_name": "Store staff",
            "from_email": "staff@example.com",
        }
        certificate = certificates.create(
            sim.store, {**defaults, **body}, sim.config.currencies, sim.config.currency
        )
    except ApiError as error:
        return _problem(error.status, error.message)
    return JSONResponse({"id": certificate.id, "code": certificate.code}, status_code=201)


async def state(request: Request) -> Response:
    """``GET /__sim/state``: every record, faults and webhook counters."""
    sim = simulator(request)
    store = sim.store
    return JSONResponse(
        {
            "gift_certificates": [certificates.show(c) for c in store.certificates.values()],
            "orders": [
                {
                    **order_views.show(o),
                    "products": [order_views.show_product(p) for p in o.products],
                    "transactions": [order_views.show_transaction(t) for t in o.transactions],
                }
                for o in store.orders.values()
            ],
            "hooks": [
                {
                    "id": h.id,
                    "scope": h.scope,
                    "destination": h.destination,
                    "is_active": h.is_active,
                }
                for h in store.hooks.values()
            ],
            "webhooks": sim.sender.state(),
            "faults": [f.public() for f in sim.faults.queued],
            "quota": {"limit": sim.quota.limit, "used": sim.quota.used},
        }
    )


async def add_fault(request: Request) -> Response:
    """``POST /__sim/faults``: queue a fault (see ``faults.py`` for the kinds)."""
    sim = simulator(request)
    try:
        fault = parse(await _body(request))
    except (FaultError, ApiError) as error:
        return _problem(400, str(error))
    sim.faults.queued.append(fault)
    return JSONResponse(fault.public(), status_code=201)


async def list_faults(request: Request) -> Response:
    """``GET /__sim/faults``: the faults still queued."""
    sim = simulator(request)
    sim.faults.take("none")  # drops spent faults without hitting any
    return JSONResponse([f.public() for f in sim.faults.queued])


async def clear_faults(request: Request) -> Response:
    """``DELETE /__sim/faults``."""
    simulator(request).faults.queued.clear()
    return Response(status_code=204)


async def webhook_behaviour(request: Request) -> Response:
    """``POST /__sim/webhooks/behaviour`` ``{"duplicate", "reorder", "bad_signature"}``;
    flags left out are switched off."""
    sim = simulator(request)
    try:
        body = await _body(request)
    except ApiError as error:
        return _problem(400, error.message)
    names = {f.name for f in fields(Behaviour)}
    unknown = set(body) - names
    if unknown or not all(isinstance(v, bool) for v in body.values()):
        return _problem(400, f"expected booleans among {sorted(names)}")
    sim.sender.behaviour = Behaviour(**body)
    return JSONResponse(sim.sender.state()["behaviour"])


async def reset_quota(request: Request) -> Response:
    """``DELETE /__sim/quota``: start a fresh rate-limit window now."""
    simulator(request).quota.reset()
    return Response(status_code=204)


async def reset(request: Request) -> Response:
    """``POST /__sim/reset``: forget every record, hook, fault and counter."""
    simulator(request).reset()
    return Response(status_code=204)


def _emit(sim: Simulator, events: orders.Events) -> None:
    for scope, data in events:
        sim.sender.emit(scope, data)


routes = [
    Route("/__sim/checkout", checkout, methods=["POST"]),
    Route("/__sim/orders/{order_id}/refund", refund, methods=["POST"]),
    Route("/__sim/gift_certificates", staff_certificate, methods=["POST"]),
    Route("/__sim/state", state, methods=["GET"]),
    Route("/__sim/faults", add_fault, methods=["POST"]),
    Route("/__sim/faults", list_faults, methods=["GET"]),
    Route("/__sim/faults", clear_faults, methods=["DELETE"]),
    Route("/__sim/webhooks/behaviour", webhook_behaviour, methods=["POST"]),
    Route("/__sim/quota", reset_quota, methods=["DELETE"]),
    Route("/__sim/reset", reset, methods=["POST"]),
]
