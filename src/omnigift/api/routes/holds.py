"""Holds: authorize now, capture later."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.api.deps import RuntimeDep, require
from omnigift.api.idempotency import IdempotencyDep, Outcome, run_idempotent
from omnigift.api.routes.common import PROBLEMS, gift_card_only, json_response
from omnigift.api.schemas import CaptureRequest, Hold, HoldCreate
from omnigift.keys import Principal, Scope
from omnigift.ledger import holds
from omnigift.ledger.errors import CurrencyMismatch
from omnigift.runtime import Runtime

router = APIRouter(tags=["holds"], responses=PROBLEMS)
Redeemer = Annotated[Principal, Depends(require(Scope.CARDS_REDEEM))]
Reader = Annotated[Principal, Depends(require(Scope.CARDS_READ))]


@router.post(
    "/v1/gift-cards/{card_id}/holds", status_code=201, response_model=Hold, summary="Place a hold"
)
async def place(
    card_id: str, body: HoldCreate, runtime: RuntimeDep, principal: Redeemer, idem: IdempotencyDep
) -> Response:
    """Reserve value for a checkout; `available` drops, `balance` does not."""
    gift_card_only(card_id)

    async def work(conn: AsyncConnection, now: datetime) -> Outcome:
        return await place_on(conn, card_id, body, runtime, principal, now)

    return await run_idempotent(runtime, principal, idem, work)


async def place_on(
    conn: AsyncConnection,
    account_id: str,
    body: HoldCreate,
    runtime: Runtime,
    principal: Principal,
    now: datetime,
) -> Outcome:
    """Place the hold a request body asks for on a card or a store credit wallet."""
    reference = body.reference.model_dump(exclude_none=True) if body.reference else None
    view = await holds.place_hold(
        conn,
        account_id,
        body.amount.amount,
        body.amount.currency,
        runtime.policy,
        principal.origin,
        now,
        expires_in=body.expires_in,
        reference=reference,
    )
    return Outcome(201, view)


@router.post("/v1/holds/{hold_id}/capture", response_model=Hold, summary="Capture a hold")
async def capture(
    hold_id: str,
    runtime: RuntimeDep,
    principal: Redeemer,
    idem: IdempotencyDep,
    body: CaptureRequest | None = None,
) -> Response:
    """Spend all of the hold, or less (the rest is released): a `redeem` activity."""
    amount = body.amount if body and body.amount else None

    async def work(conn: AsyncConnection, now: datetime) -> Outcome:
        if amount is not None:
            hold = await holds.get_hold(conn, hold_id)
            if hold["amount"]["currency"] != amount.currency:
                raise CurrencyMismatch("the hold is in another currency", field="amount")
        view, written = await holds.capture_hold(
            conn, hold_id, amount.amount if amount else None, principal.origin, now
        )
        return Outcome(200, view, [written.activity["type"]])

    return await run_idempotent(runtime, principal, idem, work)


@router.post("/v1/holds/{hold_id}/void", response_model=Hold, summary="Void a hold")
async def void(
    hold_id: str, runtime: RuntimeDep, principal: Redeemer, idem: IdempotencyDep
) -> Response:
    """Release the held value."""

    async def work(conn: AsyncConnection, now: datetime) -> Outcome:
        return Outcome(200, await holds.void_hold(conn, hold_id, now))

    return await run_idempotent(runtime, principal, idem, work)


@router.get("/v1/holds/{hold_id}", response_model=Hold, summary="Get a hold")
async def get(hold_id: str, runtime: RuntimeDep, principal: Reader) -> Response:
    async with runtime.db.read() as conn:
        return json_response(await holds.get_hold(conn, hold_id))
