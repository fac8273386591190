"""Sync exceptions: what a platform did that the ledger could not simply take, kept for staff.

An external spend that already happened can't be refused: if it overdraws the card, the ledger
takes what the card holds and the rest becomes an ``overdraft`` exception, never silently dropped.
Each exception is an event (``sync.exception``) too.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.clock import rfc3339
from omnigift.db.tables import sync_exceptions
from omnigift.events.catalogue import EventType
from omnigift.events.outbox import PendingEvent, record
from omnigift.ids import new_id
from omnigift.ledger.errors import InvalidState, NotFound


class ExceptionKind(StrEnum):
    OVERDRAFT = "overdraft"  # a platform spent more than the card held
    REJECTED_SPEND = "rejected_spend"  # a platform spent a card the ledger can't debit (frozen...)
    CODE_INCOMPATIBLE = "code_incompatible"  # the platform can't take the card's code
    REJECTED = "rejected"  # the platform refused the mirror for another reason
    DRIFT = "drift"  # the platform holds less than we know of, and no spend explains it
    OFFLINE_OVERDRAFT = "offline_overdraft"  # a till redeemed offline more than the card held
    REFUND_CANCELLED = "refund_cancelled"  # a return refunded as a card was cancelled after
    REFUNDED_CARD_SPENT = "refunded_card_spent"  # a bought card's order refunded, card used


async def raise_exception(
    conn: AsyncConnection,
    now: datetime,
    *,
    kind: ExceptionKind,
    integration_id: str | None,
    account_id: str | None,
    amount: int | None = None,
    currency: str | None = None,
    reference: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Record an exception and its event, in the caller's transaction."""
    row = {
        "id": new_id("sxc"),
        "integration_id": integration_id,
        "account_id": account_id,
        "kind": kind.value,
        "state": "open",
        "amount": amount,
        "currency": currency,
        "reference": reference,
        "details": details or {},
        "resolution": None,
        "created_at": now,
        "resolved_at": None,
    }
    await conn.execute(sync_exceptions.insert().values(row))
    view = exception_view(row)
    await record(conn, [PendingEvent(EventType.SYNC_EXCEPTION, {"object": view})], now)
    return view


async def list_exceptions(
    conn: AsyncConnection,
    *,
    state: str | None = None,
    integration_id: str | None = None,
    account_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    query = select(sync_exceptions).order_by(sync_exceptions.c.created_at.desc()).limit(limit)
    if state:
        query = query.where(sync_exceptions.c.state == state)
    if integration_id:
        query = query.where(sync_exceptions.c.integration_id == integration_id)
    if account_id:
        query = query.where(sync_exceptions.c.account_id == account_id)
    return [exception_view(r._mapping) for r in await conn.execute(query)]


async def resolve_exception(
    conn: AsyncConnection, exception_id: str, resolution: str, now: datetime
) -> dict[str, Any]:
    """Staff mark an exception handled, saying how."""
    row = await _row(conn, exception_id)
    if row.state != "open":
        raise InvalidState(f"exception {exception_id} is already resolved")
    await conn.execute(
        update(sync_exceptions)
        .where(sync_exceptions.c.id == exception_id)
        .values(state="resolved", resolution=resolution, resolved_at=now)
    )
    return exception_view((await _row(conn, exception_id))._mapping)


async def _row(conn: AsyncConnection, exception_id: str) -> Row[Any]:
    row = (
        await conn.execute(select(sync_exceptions).where(sync_exceptions.c.id == exception_id))
    ).first()
    if row is None:
        raise NotFound(f"no sync exception {exception_id}")
    return row


def exception_view(m: Any) -> dict[str, Any]:
    return {
        "id": m["id"],
        "object": "sync_exception",
        "kind": m["kind"],
        "state": m["state"],
        "integration_id": m["integration_id"],
        "gift_card_id": m["account_id"],
        "amount": (
            {"amount": m["amount"], "currency": m["currency"]} if m["amount"] is not None else None
        ),
        "reference": m["reference"],
        "details": m["details"],
        "resolution": m["resolution"],
        "created_at": rfc3339(m["created_at"]),
        "resolved_at": rfc3339(m["resolved_at"]),
    }
