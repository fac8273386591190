"""Activities: everything that happens to a card, by id or (for tills) by code."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from omnigift.api.deps import PrincipalDep, RuntimeDep, require
from omnigift.api.idempotency import IdempotencyDep, Outcome, run_activity
from omnigift.api.problems import ApiError, ApiErrorCode
from omnigift.api.routes.common import (
    PROBLEMS,
    Limit,
    caller_of,
    gift_card_only,
    json_response,
)
from omnigift.api.schemas import Activity, ActivityCreate, ActivityList, RedemptionCreate
from omnigift.clock import utcnow
from omnigift.keys import Principal, Scope
from omnigift.ledger.activities import ActivityRequest
from omnigift.ledger.cards import ActivityType
from omnigift.ledger.lookup import find_by_code
from omnigift.ledger.queries import ActivityFilter, get_card, list_activities
from omnigift.ledger.records import Written
from omnigift.ledger.views import activity_view

router = APIRouter(tags=["activities"], responses=PROBLEMS)
Reader = Annotated[Principal, Depends(require(Scope.CARDS_READ))]
Redeemer = Annotated[Principal, Depends(require(Scope.CARDS_REDEEM))]
SPENDING = {ActivityType.REDEEM, ActivityType.REFUND}


def _reference(body: ActivityCreate | RedemptionCreate) -> dict[str, object] | None:
    return body.reference.model_dump(exclude_none=True) if body.reference else None


def activity_request(body: ActivityCreate, principal: Principal) -> ActivityRequest:
    """The ledger request of an activity body, once the caller's key may make it: redeem and
    refund need `cards:redeem`, the rest `cards:write` (cards and store credit alike)."""
    scope = Scope.CARDS_REDEEM if body.type in SPENDING else Scope.CARDS_WRITE
    if not principal.allows(scope):
        raise ApiError(403, ApiErrorCode.FORBIDDEN, f"a {body.type} needs the scope {scope}")
    return ActivityRequest(
        type=body.type,
        amount=body.amount.amount if body.amount else None,
        currency=body.amount.currency if body.amount else None,
        reason=body.reason,
        reference=_reference(body),
        metadata=body.metadata,
        redeem_activity_id=body.redeem_activity_id,
        lot=body.lot.to_spec() if body.lot else None,
    )


@router.post(
    "/v1/gift-cards/{card_id}/activities",
    status_code=201,
    response_model=Activity,
    summary="Record an activity on a card",
)
async def create_activity(
    card_id: str,
    body: ActivityCreate,
    runtime: RuntimeDep,
    principal: PrincipalDep,
    idem: IdempotencyDep,
) -> Response:
    """Activate, load, redeem, refund, adjust, freeze/unfreeze, deactivate or clear a card.
    Redeem and refund need scope `cards:redeem`; the rest `cards:write`."""
    request = activity_request(body, principal)

    gift_card_only(card_id)

    def respond(written: Written) -> Outcome:
        return Outcome(201, activity_view(written.activity), [body.type.value])

    return await run_activity(runtime, principal, idem, card_id, request, respond)


@router.post(
    "/v1/redemptions", status_code=201, response_model=Activity, summary="Redeem a card by code"
)
async def redeem_by_code(
    body: RedemptionCreate,
    request: Request,
    runtime: RuntimeDep,
    principal: Redeemer,
    idem: IdempotencyDep,
) -> Response:
    """For tills and checkouts that hold only the code. With `allow_partial` it takes
    min(available, amount) and the activity's `amount` says how much was taken."""
    card = await find_by_code(
        runtime.db,
        body.code,
        body.pin,
        caller_of(request, principal),
        runtime.policy,
        runtime.limits,
        utcnow(),
    )

    redeem = ActivityRequest(
        type=ActivityType.REDEEM,
        amount=body.amount.amount,
        currency=body.amount.currency,
        reference=_reference(body),
        metadata=body.metadata,
        allow_partial=body.allow_partial,
    )

    def respond(written: Written) -> Outcome:
        return Outcome(201, activity_view(written.activity), [ActivityType.REDEEM.value])

    return await run_activity(runtime, principal, idem, card.id, redeem, respond)


@router.get(
    "/v1/gift-cards/{card_id}/activities",
    response_model=ActivityList,
    summary="A card's history, oldest first",
)
async def card_history(
    card_id: str,
    runtime: RuntimeDep,
    principal: Reader,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Response:
    async with runtime.db.read() as conn:
        await get_card(conn, card_id)
        page = await list_activities(conn, ActivityFilter(card_id=card_id), limit, cursor)
    return json_response({"data": page.data, "next_cursor": page.next_cursor})


@router.get("/v1/activities", response_model=ActivityList, summary="The activity feed")
async def feed(
    runtime: RuntimeDep,
    principal: Reader,
    limit: Limit = 50,
    cursor: str | None = None,
    type: ActivityType | None = None,
    channel: str | None = None,
    created_after: datetime | None = None,
) -> Response:
    """All activities, oldest first: what a reconciliation or BI job reads."""
    filters = ActivityFilter(
        type=type.value if type else None, channel=channel, created_after=created_after
    )
    async with runtime.db.read() as conn:
        page = await list_activities(conn, filters, limit, cursor)
    return json_response({"data": page.data, "next_cursor": page.next_cursor})
