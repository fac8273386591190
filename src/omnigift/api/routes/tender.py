"""The tender API: the five operations a till calls on its gift card provider (balance, activate,
load, redeem with optional hold and capture, reverse), keyed by the till's own transaction ids.
See docs/pos-integration.md."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.api.deps import RuntimeDep, require
from omnigift.api.problems import ApiError, ApiErrorCode
from omnigift.api.routes.common import PROBLEMS, caller_of, json_response
from omnigift.api.schemas import (
    BalanceInquiry,
    TenderCapture,
    TenderRedeem,
    TenderResult,
    TenderReverse,
    TenderValue,
    TillCall,
)
from omnigift.clock import utcnow
from omnigift.keys import Principal, Scope
from omnigift.ledger.activities import ActivityRequest
from omnigift.ledger.cards import ActivityType
from omnigift.ledger.lookup import find_by_code
from omnigift.ledger.records import CardRecord, lock_card
from omnigift.promotions.granting import kept_bonus, on_card_sold, reveal_bonus_codes
from omnigift.runtime import Runtime
from omnigift.tender import transactions as tx
from omnigift.tender.transactions import Till, TransactionReused

router = APIRouter(prefix="/v1/tender", tags=["tender (POS)"], responses=PROBLEMS)
Looker = Annotated[Principal, Depends(require(Scope.CARDS_LOOKUP))]
Redeemer = Annotated[Principal, Depends(require(Scope.CARDS_REDEEM))]
Writer = Annotated[Principal, Depends(require(Scope.CARDS_WRITE))]


def till_of(principal: Principal, call: TillCall) -> Till:
    """A till key is bound to its store: the location comes from the key, never the request."""
    if not principal.location_id:
        raise ApiError(
            403, ApiErrorCode.FORBIDDEN, "a till's API key must be bound to a store location"
        )
    return Till(principal.location_id, call.terminal_id, call.cashier_id, principal.origin)


async def card_by_code(
    request: Request, runtime: Runtime, principal: Principal, code: str, pin: str | None
) -> CardRecord:
    return await find_by_code(
        runtime.db,
        code,
        pin,
        caller_of(request, principal),
        runtime.policy,
        runtime.limits,
        utcnow(),
    )


async def once(runtime: Runtime, till: Till, body: Any, kind: str, work: tx.Work) -> Response:
    fingerprint = tx.request_hash(body.model_dump(mode="json", exclude={"cashier_id"}))
    try:
        answer = await tx.run_once(
            runtime.db, till, body.transaction_id, kind, fingerprint, work, utcnow()
        )
    except TransactionReused as exc:
        raise ApiError(409, ApiErrorCode.TRANSACTION_ID_REUSED, str(exc)) from None
    if answer.get("bonuses"):
        # Kept without codes; a till prints a new bonus card's code on the receipt.
        async with runtime.db.read() as conn:
            await reveal_bonus_codes(conn, answer["bonuses"], runtime.policy)
    return json_response(answer)


@router.post("/balance", response_model=TenderResult, summary="Balance inquiry")
async def balance(
    body: BalanceInquiry, request: Request, runtime: RuntimeDep, principal: Looker
) -> Response:
    """The card's balance and available value (held value excluded), never its code."""
    till_of(principal, body)
    card = await card_by_code(request, runtime, principal, body.code, body.pin)
    return json_response(
        {"type": "balance", "status": "approved", "gift_card": tx.card_summary(card)}
    )


@router.post("/activate", response_model=TenderResult, summary="Activate a card sold at the till")
async def activate(
    body: TenderValue, request: Request, runtime: RuntimeDep, principal: Writer
) -> Response:
    """A pending (physical) card becomes active with this value: a card sold, which earns
    purchase promotions (`bonuses`, with a new bonus card's code for the receipt)."""
    till = till_of(principal, body)
    card = await card_by_code(request, runtime, principal, body.code, body.pin)
    activation = _value(runtime, till, body, card, ActivityType.ACTIVATE)

    async def work(conn: AsyncConnection, now: datetime) -> tx.Done:
        done = await activation(conn, now)
        amount = body.amount.amount
        bonuses = await on_card_sold(conn, card.id, amount, runtime.policy, till.origin, now)
        if bonuses:
            done.response["gift_card"] = tx.card_summary(await lock_card(conn, card.id))
            done.response["bonuses"] = [kept_bonus(b) for b in bonuses]
        return done

    return await once(runtime, till, body, "activate", work)


@router.post("/load", response_model=TenderResult, summary="Add value")
async def load(
    body: TenderValue, request: Request, runtime: RuntimeDep, principal: Writer
) -> Response:
    till = till_of(principal, body)
    card = await card_by_code(request, runtime, principal, body.code, body.pin)
    return await once(
        runtime, till, body, "load", _value(runtime, till, body, card, ActivityType.LOAD)
    )


@router.post("/redeem", response_model=TenderResult, summary="Redeem (or hold for a split tender)")
async def redeem(
    body: TenderRedeem, request: Request, runtime: RuntimeDep, principal: Redeemer
) -> Response:
    """Pay with the card. `allow_partial` takes what is available (the answer's `amount` says
    how much); `hold` reserves the amount, to be captured later; `occurred_at` submits a
    redemption an offline till already made."""
    till = till_of(principal, body)
    card = await card_by_code(request, runtime, principal, body.code, body.pin)
    if body.hold and body.occurred_at:
        raise ApiError(422, ApiErrorCode.VALIDATION_ERROR, "an offline redemption can't be a hold")
    amount, currency = body.amount.amount, body.amount.currency

    async def work(conn: AsyncConnection, now: datetime) -> tx.Done:
        if body.hold:
            return await tx.hold(
                conn, card.id, amount, currency, runtime.policy, till, body.transaction_id, now
            )
        if body.occurred_at:
            return await tx.offline_redeem(
                conn,
                card.id,
                amount,
                currency,
                body.occurred_at,
                runtime.policy,
                till,
                body.transaction_id,
                now,
            )
        request = ActivityRequest(
            ActivityType.REDEEM, amount, currency, allow_partial=body.allow_partial
        )
        return await tx.value_move(
            conn, card.id, request, runtime.policy, till, body.transaction_id, now
        )

    return await once(runtime, till, body, "hold" if body.hold else "redeem", work)


@router.post("/capture", response_model=TenderResult, summary="Capture a held amount")
async def capture(body: TenderCapture, runtime: RuntimeDep, principal: Redeemer) -> Response:
    """All of the hold, or less (the rest is released), as a redeem."""
    till = till_of(principal, body)
    amount = body.amount.amount if body.amount else None

    async def work(conn: AsyncConnection, now: datetime) -> tx.Done:
        return await tx.capture(
            conn, till, body.hold_transaction_id, amount, body.transaction_id, now
        )

    return await once(runtime, till, body, "capture", work)


@router.post("/reverse", response_model=TenderResult, summary="Reverse a till transaction")
async def reverse(body: TenderReverse, runtime: RuntimeDep, principal: Redeemer) -> Response:
    """Undo exactly that transaction of this terminal: a redemption or capture is refunded into
    the lots it spent; a load's value is taken back; an activation's value is taken back and the
    card deactivated; a hold is released. A second reverse answers the same and changes nothing."""
    till = till_of(principal, body)
    answer = await tx.reverse(runtime.db, till, body.transaction_id, runtime.policy, utcnow())
    return json_response(answer)


def _value(
    runtime: Runtime, till: Till, body: TenderValue, card: CardRecord, kind: ActivityType
) -> tx.Work:
    async def work(conn: AsyncConnection, now: datetime) -> tx.Done:
        request = ActivityRequest(kind, body.amount.amount, body.amount.currency)
        return await tx.value_move(
            conn, card.id, request, runtime.policy, till, body.transaction_id, now
        )

    return work
