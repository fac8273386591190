"""Customers: create, change, find by e-mail or phone, merge duplicates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from omnigift.api.deps import RuntimeDep, require
from omnigift.api.routes.common import PROBLEMS, Limit, json_response
from omnigift.api.schemas import (
    Customer,
    CustomerCreate,
    CustomerList,
    CustomerMerge,
    CustomerUpdate,
)
from omnigift.clock import utcnow
from omnigift.customers.merging import merge_customers
from omnigift.customers.profiles import (
    CustomerFields,
    CustomerFilter,
    create_customer,
    customer_view,
    get_customer,
    list_customers,
    update_customer,
)
from omnigift.keys import Principal, Scope

router = APIRouter(prefix="/v1/customers", tags=["customers"], responses=PROBLEMS)
Reader = Annotated[Principal, Depends(require(Scope.CUSTOMERS_READ))]
Writer = Annotated[Principal, Depends(require(Scope.CUSTOMERS_WRITE))]


def _fields(body: CustomerCreate | CustomerUpdate) -> CustomerFields:
    given: dict[str, Any] = body.model_dump(exclude_unset=True)
    consents = given.pop("consents", None)
    if consents is not None:
        given["consents"] = {k: v for k, v in consents.items() if v is not None}
    return CustomerFields(**given)


@router.post("", status_code=201, response_model=Customer, summary="Create a customer")
async def create(body: CustomerCreate, runtime: RuntimeDep, principal: Writer) -> Response:
    """An e-mail or phone number another live customer has is refused with 409
    `customer_exists`, whose `existing_id` names that customer: find-or-create in one call."""
    async with runtime.db.transaction() as conn:
        view = await create_customer(conn, _fields(body), utcnow())
    return json_response(view, 201)


@router.get("", response_model=CustomerList, summary="List or find customers")
async def list_all(
    runtime: RuntimeDep,
    principal: Reader,
    limit: Limit = 50,
    cursor: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    include_merged: bool = False,
) -> Response:
    """In creation order; `email` or `phone` finds the live customer who has it."""
    filters = CustomerFilter(email, phone, include_merged)
    async with runtime.db.read() as conn:
        views, next_cursor = await list_customers(conn, filters, limit, cursor)
    return json_response({"data": views, "next_cursor": next_cursor})


@router.get("/{customer_id}", response_model=Customer, summary="Get a customer")
async def get(customer_id: str, runtime: RuntimeDep, principal: Reader) -> Response:
    """A merged customer is still found; `merged_into` names who took it over."""
    async with runtime.db.read() as conn:
        return json_response(customer_view(await get_customer(conn, customer_id)))


@router.patch("/{customer_id}", response_model=Customer, summary="Change a customer")
async def patch(
    customer_id: str, body: CustomerUpdate, runtime: RuntimeDep, principal: Writer
) -> Response:
    async with runtime.db.transaction() as conn:
        view = await update_customer(conn, customer_id, _fields(body), utcnow())
    return json_response(view)


@router.post("/{customer_id}/merge", response_model=Customer, summary="Merge a duplicate into it")
async def merge(
    customer_id: str, body: CustomerMerge, runtime: RuntimeDep, principal: Writer
) -> Response:
    """The duplicate's cards and store credit move to this customer, with the e-mail, phone,
    name and platform ids this one lacks; the duplicate points here from then on. Repeating it
    changes nothing."""
    async with runtime.db.transaction() as conn:
        view = await merge_customers(
            conn, customer_id, body.duplicate_id, runtime.policy, principal.origin, utcnow()
        )
    return json_response(view)
