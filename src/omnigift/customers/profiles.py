"""Creating, changing, finding and showing customers.

An e-mail (lower-cased) or a phone number ("+" and digits) belongs to one live customer: the
database's partial unique indexes hold that even under concurrent requests, and a conflict is
``customer_exists`` naming the customer who has it. Every change is an event in the same
transaction (``customer.created`` / ``customer.updated``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.clock import rfc3339
from omnigift.db.tables import customers
from omnigift.events.catalogue import EventType
from omnigift.events.outbox import PendingEvent, record
from omnigift.ids import new_id
from omnigift.ledger.errors import CustomerExists, InvalidRequest, NotFound

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CONSENTS = ("email_marketing", "sms_marketing")


@dataclass(frozen=True)
class CustomerFields:
    """What a client may set on a customer; ``None`` leaves a field as it is on update."""

    email: str | None = None
    phone: str | None = None
    name: str | None = None
    external_ids: dict[str, str | None] | None = None  # a None value forgets that id
    consents: dict[str, bool] | None = None
    metadata: dict[str, Any] | None = None


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise InvalidRequest("not an e-mail address", field="email")
    return email


def normalize_phone(raw: str) -> str:
    """``+1 (555) 010-0199`` → ``+15550100199``; 7 to 15 digits (E.164's maximum)."""
    digits = re.sub(r"\D", "", raw)
    if not 7 <= len(digits) <= 15 or re.search(r"[^\d\s()+.\-]", raw):
        raise InvalidRequest("a phone number has 7 to 15 digits", field="phone")
    return ("+" if raw.strip().startswith("+") else "") + digits


async def create_customer(
    conn: AsyncConnection, fields: CustomerFields, now: datetime
) -> dict[str, Any]:
    """A new customer; refused when another live customer has its e-mail or phone."""
    email = normalize_email(fields.email) if fields.email else None
    phone = normalize_phone(fields.phone) if fields.phone else None
    if not (email or phone or (fields.name and fields.name.strip())):
        raise InvalidRequest("a customer needs an e-mail, a phone number or a name")
    row = {
        "id": new_id("cus"),
        "email": email,
        "phone": phone,
        "name": fields.name.strip() if fields.name else None,
        "external_ids": _external_ids({}, fields.external_ids),
        "consents": _consents({}, fields.consents),
        "metadata": fields.metadata or {},
        "merged_into": None,
        "created_at": now,
        "updated_at": now,
    }
    await _write(conn, insert(customers).values(**row), email, phone, None)
    view = customer_view(row)
    await record(conn, [PendingEvent(EventType.CUSTOMER_CREATED, {"customer": view})], now)
    return view


async def update_customer(
    conn: AsyncConnection, customer_id: str, fields: CustomerFields, now: datetime
) -> dict[str, Any]:
    """Change the fields given; external ids and consents are merged key by key."""
    current = await get_customer(conn, customer_id, for_update=True)
    changes: dict[str, Any] = {}
    if fields.email is not None:
        changes["email"] = normalize_email(fields.email) if fields.email else None
    if fields.phone is not None:
        changes["phone"] = normalize_phone(fields.phone) if fields.phone else None
    if fields.name is not None:
        changes["name"] = fields.name.strip() or None
    if fields.external_ids is not None:
        changes["external_ids"] = _external_ids(current["external_ids"], fields.external_ids)
    if fields.consents is not None:
        changes["consents"] = _consents(current["consents"], fields.consents)
    if fields.metadata is not None:
        changes["metadata"] = fields.metadata
    after = {**current, **changes, "updated_at": now}
    if not (after["email"] or after["phone"] or after["name"]):
        raise InvalidRequest("a customer needs an e-mail, a phone number or a name")
    statement = (
        update(customers).where(customers.c.id == customer_id).values(**changes, updated_at=now)
    )
    await _write(conn, statement, changes.get("email"), changes.get("phone"), customer_id)
    view = customer_view(after)
    await record(conn, [PendingEvent(EventType.CUSTOMER_UPDATED, {"customer": view})], now)
    return view


async def get_customer(
    conn: AsyncConnection, customer_id: str, *, for_update: bool = False
) -> dict[str, Any]:
    """A customer's row as a dict, merged or not."""
    query = select(customers).where(customers.c.id == customer_id)
    row = (await conn.execute(query.with_for_update() if for_update else query)).first()
    if row is None:
        raise NotFound(f"no customer {customer_id}")
    return dict(row._mapping)


async def live_customer_id(conn: AsyncConnection, customer_id: str) -> str:
    """The customer a card may be given to: a merged one resolves to whom it was merged into."""
    seen = {customer_id}
    row = await get_customer(conn, customer_id)
    while row["merged_into"]:
        if row["merged_into"] in seen:  # never expected; refuse rather than loop
            raise InvalidRequest(f"customer {customer_id} is merged in a cycle")
        seen.add(row["merged_into"])
        row = await get_customer(conn, row["merged_into"])
    return str(row["id"])


@dataclass(frozen=True)
class CustomerFilter:
    email: str | None = None
    phone: str | None = None
    include_merged: bool = False


async def list_customers(
    conn: AsyncConnection, filters: CustomerFilter, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Customers in creation order; find one by e-mail or phone; merged ones only on request."""
    query = select(customers)
    if filters.email:
        query = query.where(customers.c.email == normalize_email(filters.email))
    if filters.phone:
        query = query.where(customers.c.phone == normalize_phone(filters.phone))
    if not filters.include_merged:
        query = query.where(customers.c.merged_into.is_(None))
    if after:
        query = query.where(customers.c.id > after)
    rows = (await conn.execute(query.order_by(customers.c.id).limit(limit + 1))).all()
    views = [customer_view(_row(r)) for r in rows[:limit]]
    return views, (views[-1]["id"] if len(rows) > limit else None)


async def find_or_create_customer(
    conn: AsyncConnection, given: CustomerFields | None, now: datetime
) -> str | None:
    """The live customer with the given e-mail (or else phone), created when there is none."""
    if given is None or not (given.email or given.phone):
        return None
    for contact in (
        CustomerFilter(email=given.email) if given.email else None,
        CustomerFilter(phone=given.phone) if given.phone else None,
    ):
        if contact is None:
            continue
        found, _ = await list_customers(conn, contact, 1, None)
        if found:
            return str(found[0]["id"])
    try:
        return str((await create_customer(conn, given, now))["id"])
    except CustomerExists as taken:  # created by a concurrent call meanwhile: that one
        return taken.existing_id


def customer_view(row: dict[str, Any]) -> dict[str, Any]:
    """The Customer object of the API."""
    return {
        "id": row["id"],
        "email": row["email"],
        "phone": row["phone"],
        "name": row["name"],
        "external_ids": dict(row["external_ids"] or {}),
        "consents": _consents({}, row["consents"]),
        "metadata": dict(row["metadata"] or {}),
        "merged_into": row["merged_into"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }


async def _write(
    conn: AsyncConnection,
    statement: Any,
    email: str | None,
    phone: str | None,
    except_id: str | None,
) -> None:
    """Run an insert or update of a customer unless its e-mail or phone is someone else's."""
    await _check_free(conn, email, phone, except_id)
    try:
        async with conn.begin_nested():
            await conn.execute(statement)
    except IntegrityError:  # taken by a concurrent request since the check: name who has it
        await _check_free(conn, email, phone, except_id)
        raise


async def _check_free(
    conn: AsyncConnection, email: str | None, phone: str | None, except_id: str | None
) -> None:
    for field, value in (("email", email), ("phone", phone)):
        if value is None:
            continue
        column = customers.c[field]
        query = select(customers.c.id).where(column == value, customers.c.merged_into.is_(None))
        if except_id:
            query = query.where(customers.c.id != except_id)
        holder = (await conn.execute(query)).scalar()
        if holder is not None:
            raise CustomerExists(
                f"customer {holder} already has this {field}", field=field, existing_id=holder
            )


def _external_ids(current: dict[str, str], given: dict[str, str | None] | None) -> dict[str, str]:
    merged = dict(current or {})
    for integration, external in (given or {}).items():
        if external is None:
            merged.pop(integration, None)
        else:
            merged[integration] = str(external)
    return merged


def _consents(current: dict[str, bool] | None, given: dict[str, bool] | None) -> dict[str, bool]:
    merged = {name: bool((current or {}).get(name, False)) for name in CONSENTS}
    for name, value in (given or {}).items():
        if name not in CONSENTS:
            raise InvalidRequest(f"unknown consent {name}", field=f"consents.{name}")
        merged[name] = bool(value)
    return merged


def _row(row: Row[Any]) -> dict[str, Any]:
    return dict(row._mapping)
