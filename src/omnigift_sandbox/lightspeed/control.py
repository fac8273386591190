"""The private ``/__sim/`` control plane (our convention, not Lightspeed's; no auth).

A till sale and staff gift cards stand in for the store; faults, the clock, token expiry and
a state dump serve the tests.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import accounts, render, sales
from .errors import ApiError
from .runtime import Simulator
from .values import money, parse_money, stamp


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ApiError(400, "the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


def _problem(error: ApiError) -> JSONResponse:
    return JSONResponse({"error": error.message}, status_code=error.status)


def routes(sim: Simulator) -> list[Route]:
    """Every control-plane route, bound to ``sim``."""

    def card(account_id: int) -> dict[str, Any]:
        account = sim.store.accounts[account_id]
        return {
            **render.credit_account(account),
            "spendable": money(account.spendable),
        }

    async def till_sale(request: Request) -> Response:
        try:
            body = await _body(request)
            async with sim.lock:
                sale, sold = sales.till_sale(sim.store, body)
        except ApiError as error:
            return _problem(error)
        gift_type = sim.store.gift_card_type().id
        paid = [p for p in sale.payments if p.payment_type_id == gift_type and p.amount > 0]
        return JSONResponse(
            {
                "saleID": str(sale.id),
                "sale": render.sale(sim.store, sale, {"SaleLines", "SalePayments"}),
                "gift_card_payment_ids": [str(p.id) for p in paid],
                "sold_gift_card": card(sold.id) if sold is not None else None,
            },
            status_code=201,
        )

    async def staff_card(request: Request) -> Response:
        """Staff create a gift card; with ``amount`` it is loaded by a completed sale paid in
        cash, the only way a balance appears (3.2 [C])."""
        try:
            body = await _body(request)
            amount = body.get("amount")
            async with sim.lock:
                if amount is not None:
                    value = parse_money(amount)
                    if value is None or value <= 0:
                        raise ApiError(422, "amount must be a positive amount")
                    sale, sold = sales.till_sale(
                        sim.store,
                        {"sell_gift_card": {**body, "amount": str(value)}},
                    )
                    assert sold is not None
                    return JSONResponse({**card(sold.id), "saleID": str(sale.id)}, status_code=201)
                code = body.get("code") or sim.store.new_code()
                made = accounts.create(sim.store, {**body, "code": code})
        except ApiError as error:
            return _problem(error)
        return JSONResponse(card(made.id), status_code=201)

    async def state(request: Request) -> Response:
        store = sim.store
        return JSONResponse(
            {
                "account_id": sim.config.account_id,
                "now": stamp(sim.clock.now()),
                "credit_accounts": [card(a) for a in store.accounts],
                "sales": [
                    render.sale(store, s, {"SaleLines", "SalePayments"})
                    for s in store.sales.values()
                ],
                "bucket": {
                    "level": round(sim.limits.level, 3),
                    "size": sim.limits.size,
                    "drip_rate": sim.limits.drip,
                    "burst_limit": sim.limits.burst_limit,
                },
                "faults": sim.faults.listing(),
            }
        )

    async def add_fault(request: Request) -> Response:
        try:
            sim.faults.add(await _body(request))
        except ApiError as error:
            return _problem(error)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=422)
        return JSONResponse({"faults": sim.faults.listing()}, status_code=201)

    async def list_faults(request: Request) -> Response:
        return JSONResponse({"faults": sim.faults.listing()})

    async def clear_faults(request: Request) -> Response:
        sim.faults.clear()
        return JSONResponse({"faults": []})

    async def clock(request: Request) -> Response:
        try:
            body = await _body(request)
        except ApiError as error:
            return _problem(error)
        seconds = body.get("advance_seconds", 0)
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            return JSONResponse(
                {"error": "advance_seconds must be a non-negative number"}, status_code=422
            )
        sim.clock.advance(float(seconds))
        return JSONResponse({"now": stamp(sim.clock.now()), "offset_seconds": sim.clock.offset})

    async def expire_tokens(request: Request) -> Response:
        """Every access token, the configured one included, expires now; refresh tokens stay
        valid, so a connector must refresh (3.1 [C])."""
        now = sim.clock.monotonic()
        for token in sim.store.tokens.values():
            token.expires_at = now
        return JSONResponse({"expired": len(sim.store.tokens)})

    async def reset_limits(request: Request) -> Response:
        sim.limits.reset()
        return Response(status_code=204)

    async def reset(request: Request) -> Response:
        sim.reset()
        return Response(status_code=204)

    return [
        Route("/__sim/sale", till_sale, methods=["POST"]),
        Route("/__sim/credit_accounts", staff_card, methods=["POST"]),
        Route("/__sim/state", state, methods=["GET"]),
        Route("/__sim/faults", add_fault, methods=["POST"]),
        Route("/__sim/faults", list_faults, methods=["GET"]),
        Route("/__sim/faults", clear_faults, methods=["DELETE"]),
        Route("/__sim/clock", clock, methods=["POST"]),
        Route("/__sim/tokens/expire", expire_tokens, methods=["POST"]),
        Route("/__sim/limits", reset_limits, methods=["DELETE"]),
        Route("/__sim/reset", reset, methods=["POST"]),
    ]
