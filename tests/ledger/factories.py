"""Ledger-level factories: cards and activities straight through the ledger, no HTTP."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from omnigift.db.tables import metadata
from omnigift.ledger.activities import ActivityRequest, apply_activity
from omnigift.ledger.cards import ActivityType, CardType
from omnigift.ledger.issuing import IssueCard, LotSpec, issue_card
from omnigift.ledger.lots import LotKind
from omnigift.ledger.origin import Origin
from omnigift.ledger.records import CardRecord, find_card
from omnigift.runtime import Runtime

T0 = datetime(2031, 3, 1, 9, 0, tzinfo=UTC)


async def issue(
    runtime: Runtime,
    amount: int | None = 5000,
    *,
    kind: LotKind = LotKind.PAID,
    lot_expires_at: datetime | None = None,
    card_expires_at: datetime | None = None,
    now: datetime = T0,
) -> str:
    """Issue a USD card with one lot of ``kind``; returns its id."""
    command = IssueCard(
        type=CardType.DIGITAL,
        currency="USD",
        initial_value=amount,
        initial_lot=LotSpec(kind=kind, expires_at=lot_expires_at),
        expires_at=card_expires_at,
    )
    async with runtime.db.transaction() as conn:
        issued = await issue_card(conn, command, runtime.policy, Origin(), now)
    return str(issued.written.card.id)


async def act(
    runtime: Runtime,
    card_id: str,
    kind: ActivityType,
    amount: int | None = None,
    *,
    now: datetime = T0,
    **fields: Any,
) -> dict[str, Any]:
    request = ActivityRequest(
        type=kind, amount=amount, currency="USD" if amount else None, **fields
    )
    async with runtime.db.transaction() as conn:
        written = await apply_activity(conn, card_id, request, runtime.policy, Origin(), now)
    return written.activity


async def card(runtime: Runtime, card_id: str) -> CardRecord:
    async with runtime.db.read() as conn:
        found = await find_card(conn, card_id)
    assert found is not None
    return found


async def row_counts(runtime: Runtime) -> dict[str, int]:
    counts = {}
    async with runtime.db.read() as conn:
        for name, table in metadata.tables.items():
            counts[name] = (
                await conn.execute(select(func.count()).select_from(table))
            ).scalar_one()
    return counts
