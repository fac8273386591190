"""Refunds from returns: a gift card or store credit, at once, once per return (issue 6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError

from omnigift.api.deps import RuntimeDep, require
from omnigift.api.routes.common import PROBLEMS, json_response
from omnigift.api.schemas import Refund, RefundCreate
from omnigift.clock import utcnow
from omnigift.customers.profiles import CustomerFields
from omnigift.keys import Principal, Scope
from omnigift.returns.refunds import (
    RefundRequest,
    find_refund,
    get_refund,
    refund_return,
    with_codes,
)

router = APIRouter(prefix="/v1/refunds", tags=["refunds"], responses=PROBLEMS)
Returns = Annotated[Principal, Depends(require(Scope.RETURNS_WRITE))]


@router.post("", status_code=201, response_model=Refund, summary="Refund a return")
async def create(body: RefundCreate, runtime: RuntimeDep, principal: Returns) -> Response:
    """Issue a gift card with a refund lot (or credit the customer's store credit), grant the
    `refund_taken` promotions, and answer with what was issued, the card's code included. The
    same `return_id` again answers the same refund (200, `Idempotent-Replayed: true`)."""
    customer = CustomerFields(**body.customer.model_dump()) if body.customer else None
    request = RefundRequest(
        return_id=body.return_id,
        amount=body.amount.amount,
        currency=body.amount.currency,
        method=body.method,
        order_id=body.order_id,
        customer=customer,
        items=body.items,
        reason=body.reason,
    )
    try:
        async with runtime.db.transaction() as conn:
            answer, replayed = await refund_return(
                conn, request, runtime.policy, principal.origin, utcnow()
            )
    except IntegrityError:
        # The same return refunded by a concurrent call that committed first: answer that one.
        async with runtime.db.read() as conn:
            earlier = await find_refund(conn, body.return_id)
            if earlier is None:
                raise
            answer, replayed = await with_codes(conn, earlier["answer"], runtime.policy), True
    response = json_response(answer, 200 if replayed else 201)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


@router.get("/{refund_id}", response_model=Refund, summary="Get a refund")
async def get(refund_id: str, runtime: RuntimeDep, principal: Returns) -> Response:
    """What was issued for the return, without the card's code (shown only to the refund call)."""
    async with runtime.db.read() as conn:
        return json_response((await get_refund(conn, refund_id))["answer"])
