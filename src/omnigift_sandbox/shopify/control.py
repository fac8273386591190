"""The private ``/__sim/`` control plane (our convention, not a vendor contract; no auth)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import checkout, shapes
from .money import rest_amount
from .runtime import Simulator


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _refused(exc: checkout.Refused) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=422)


def routes(sim: Simulator) -> list[Route]:
    """Every control-plane route, bound to ``sim``."""

    async def do_checkout(request: Request) -> Response:
        body = await _body(request)
        async with sim.lock:
            try:
                result = checkout.checkout(sim.store, sim.sender, body)
            except checkout.Refused as exc:
                return _refused(exc)
        order = result.order
        return JSONResponse(
            {
                "order": shapes.order(sim.store, order),
                "transactions": [shapes.order_transaction(t) for t in order.transactions],
                "issued_gift_cards": [{"id": c.id, "code": c.code} for c in result.issued],
            }
        )

    async def do_refund(request: Request) -> Response:
        body = await _body(request)
        async with sim.lock:
            try:
                item = checkout.refund(sim.store, sim.sender, request.path_params["id"], body)
            except checkout.Refused as exc:
                return _refused(exc)
        return JSONResponse({"refund": shapes.refund(item)})

    async def staff_card(request: Request) -> Response:
        body = await _body(request)
        async with sim.lock:
            try:
                card = checkout.staff_card(sim.store, sim.sender, body)
            except checkout.Refused as exc:
                return _refused(exc)
        return JSONResponse({"id": card.id, "code": card.code}, status_code=201)

    async def state(request: Request) -> Response:
        store = sim.store
        cards = [
            {
                "id": c.id,
                "code": c.code,
                "balance": rest_amount(c.balance),
                "initial_value": rest_amount(c.initial_value),
                "currency": c.currency,
                "enabled": c.enabled,
                "expires_on": c.expires_on.isoformat() if c.expires_on else None,
                "note": c.note,
                "customer_id": c.customer_id,
                "recipient_id": c.recipient.customer_id if c.recipient else None,
                "notify": c.notify,
                "order_id": c.order_id,
                "line_item_id": c.line_item_id,
                "transactions": [
                    {
                        "id": t.id,
                        "kind": t.kind,
                        "amount": rest_amount(t.amount),
                        "note": t.note,
                        "processed_at": t.processed_at.isoformat(),
                    }
                    for t in c.transactions
                ],
            }
            for c in store.cards.values()
        ]
        counters = sim.sender.counters
        return JSONResponse(
            {
                "gift_cards": cards,
                "customers": [
                    {
                        "id": c.id,
                        "email": c.email,
                        "first_name": c.first_name,
                        "last_name": c.last_name,
                    }
                    for c in store.customers.values()
                ],
                "orders": [shapes.order(store, o) for o in store.orders.values()],
                "webhook_subscriptions": [
                    shapes.subscription(s) for s in store.subscriptions.values()
                ],
                "webhooks": {
                    "sent": counters.sent,
                    "failed": counters.failed,
                    "retried": counters.retried,
                    "given_up": counters.given_up,
                    "bad_signature_sent": counters.bad_signature_sent,
                    "pending": sim.sender.pending(),
                    "log": sim.sender.log[-100:],
                },
                "rest_bucket": sim.rest_bucket.header(),
                "graphql_bucket": sim.cost_bucket.status(),
            }
        )

    async def sent_notifications(request: Request) -> Response:
        """The e-mails the shop sent about gift cards (kept, never sent)."""
        return JSONResponse(
            [
                {
                    "kind": n.kind,
                    "to": n.to,
                    "gift_card_id": n.gift_card_id,
                    "last_characters": n.last_characters,
                    "message": n.message,
                    "send_at": n.send_at.isoformat(),
                }
                for n in sim.store.notifications
            ]
        )

    async def add_fault(request: Request) -> Response:
        try:
            sim.faults.add(await _body(request))
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse({"faults": sim.faults.listing()}, status_code=201)

    async def list_faults(request: Request) -> Response:
        return JSONResponse({"faults": sim.faults.listing()})

    async def clear_faults(request: Request) -> Response:
        sim.faults.clear()
        return JSONResponse({"faults": []})

    async def behaviour(request: Request) -> Response:
        body = await _body(request)
        current = sim.sender.behaviour
        for name in ("duplicate", "reorder", "bad_signature"):
            if name in body:
                setattr(current, name, bool(body[name]))
        return JSONResponse(
            {
                "duplicate": current.duplicate,
                "reorder": current.reorder,
                "bad_signature": current.bad_signature,
            }
        )

    async def clock(request: Request) -> Response:
        body = await _body(request)
        try:
            seconds = float(body.get("advance_seconds", 0))
        except (TypeError, ValueError):
            return JSONResponse({"error": "advance_seconds must be a number"}, status_code=422)
        if seconds < 0:
            return JSONResponse({"error": "time only moves forward"}, status_code=422)
        sim.clock.advance(seconds)
        return JSONResponse(
            {"now": sim.clock.now().isoformat(), "offset_seconds": sim.clock.offset}
        )

    return [
        Route("/__sim/checkout", do_checkout, methods=["POST"]),
        Route("/__sim/orders/{id:int}/refund", do_refund, methods=["POST"]),
        Route("/__sim/gift_cards", staff_card, methods=["POST"]),
        Route("/__sim/state", state, methods=["GET"]),
        Route("/__sim/notifications", sent_notifications, methods=["GET"]),
        Route("/__sim/faults", add_fault, methods=["POST"]),
        Route("/__sim/faults", list_faults, methods=["GET"]),
        Route("/__sim/faults", clear_faults, methods=["DELETE"]),
        Route("/__sim/webhooks/behaviour", behaviour, methods=["POST"]),
        Route("/__sim/clock", clock, methods=["POST"]),
    ]
