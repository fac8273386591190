"""A customer's store credit: its wallets, their activities and holds (issue 6)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.api.deps import PrincipalDep, RuntimeDep, require
from omnigift.api.idempotency import IdempotencyDep, Outcome, run_idempotent
from omnigift.api.routes.activities import activity_request
from omnigift.api.routes.common import PROBLEMS, Limit, json_response
from omnigift.api.routes.holds import place_on
from omnigift.api.schemas import (
    Activity,
    ActivityList,
    Hold,
    HoldCreate,
    StoreCreditActivityCreate,
    StoreCreditList,
)
from omnigift.customers.profiles import get_customer
from omnigift.customers.store_credit import credit_or_debit, wallet_id, wallets_of
from omnigift.keys import Principal, Scope
from omnigift.ledger.errors import InvalidRequest, NotFound
from omnigift.ledger.queries import ActivityFilter, list_activities

router = APIRouter(
    prefix="/v1/customers/{customer_id}/store-credit", tags=["store credit"], responses=PROBLEMS
)
Reader = Annotated[Principal, Depends(require(Scope.CARDS_READ))]
Redeemer = Annotated[Principal, Depends(require(Scope.CARDS_REDEEM))]


@router.get("", response_model=StoreCreditList, summary="A customer's store credit")
async def wallets(customer_id: str, runtime: RuntimeDep, principal: Reader) -> Response:
    """One wallet per currency, with its balance, available value and open lots."""
    async with runtime.db.read() as conn:
        return json_response({"data": await wallets_of(conn, customer_id)})


@router.post(
    "/activities",
    status_code=201,
    response_model=Activity,
    summary="Credit or debit a customer's store credit",
)
async def create_activity(
    customer_id: str,
    body: StoreCreditActivityCreate,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    idem: IdempotencyDep,
) -> Response:
    """Load, redeem, refund, adjust up or down, in `amount.currency`: the same rules, lots and
    idempotency as a card's activities. The first credit in a currency opens the wallet."""
    request = activity_request(body, principal)
    if request.currency is None:
        raise InvalidRequest("store credit activities need an amount", field="amount")
    currency = request.currency

    async def work(conn: AsyncConnection, now: datetime) -> Outcome:
        done = await credit_or_debit(
            conn, customer_id, currency, request, runtime.policy, principal.origin, now
        )
        return Outcome(201, done["activity"], [body.type.value])

    return await run_idempotent(runtime, principal, idem, work)


@router.get("/activities", response_model=ActivityList, summary="A wallet's history")
async def history(
    customer_id: str,
    currency: str,
    runtime: RuntimeDep,
    principal: Reader,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Response:
    """The activities of the customer's store credit in `currency`, oldest first."""
    async with runtime.db.read() as conn:
        wallet = await _wallet(conn, customer_id, currency)
        page = await list_activities(conn, ActivityFilter(card_id=wallet), limit, cursor)
    return json_response({"data": page.data, "next_cursor": page.next_cursor})


@router.post("/holds", status_code=201, response_model=Hold, summary="Hold store credit")
async def place_hold(
    customer_id: str,
    body: HoldCreate,
    runtime: RuntimeDep,
    principal: Redeemer,
    idem: IdempotencyDep,
) -> Response:
    """Reserve store credit for a checkout; capture or void it at `/v1/holds/{id}/...`."""

    async def work(conn: AsyncConnection, now: datetime) -> Outcome:
        wallet = await _wallet(conn, customer_id, body.amount.currency)
        return await place_on(conn, wallet, body, runtime, principal, now)

    return await run_idempotent(runtime, principal, idem, work)


async def _wallet(conn: AsyncConnection, customer_id: str, currency: str) -> str:
    await get_customer(conn, customer_id)
    found = await wallet_id(conn, customer_id, currency)
    if found is None:
        raise NotFound(f"customer {customer_id} has no {currency} store credit")
    return found
