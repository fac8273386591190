"""The dispatcher: gives committed events their stream position and fans them out to endpoints.

It runs off the hot path, every fraction of a second. It takes the position counter's row lock
first, so positions are committed in increasing order even with several workers: a reader that has
seen position N has seen every event before it. Within a batch, the events of one account get
positions in their sequence order.
"""

from __future__ import annotations

from datetime import datetime
from itertools import groupby
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db.counters import lock_counter, set_counter
from omnigift.db.engine import Database
from omnigift.db.tables import deliveries, events, webhook_endpoints
from omnigift.events.catalogue import matches
from omnigift.ids import new_id

COUNTER = "event_position"
BATCH = 1000


async def dispatch(db: Database, now: datetime) -> int:
    """Position and fan out one batch of new events; how many it handled."""
    async with db.transaction() as conn:
        last = await lock_counter(conn, COUNTER)
        rows = (
            await conn.execute(
                select(events.c.id, events.c.type, events.c.account_id, events.c.sequence)
                .where(events.c.position.is_(None))
                .order_by(events.c.id)
                .limit(BATCH)
            )
        ).all()
        if not rows:
            return 0
        ordered = _in_account_order([dict(r._mapping) for r in rows])
        for offset, event in enumerate(ordered, start=1):
            event["position"] = last + offset
        await conn.execute(
            update(events)
            .where(events.c.id == bindparam("event_id"))
            .values(position=bindparam("pos")),
            [{"event_id": e["id"], "pos": e["position"]} for e in ordered],
        )
        await _fan_out(conn, ordered, now)
        await set_counter(conn, COUNTER, last + len(ordered))
    return len(ordered)


def _in_account_order(batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keep the batch's order, except that each account's events follow their sequence."""
    slots: dict[str | None, list[int]] = {}
    for index, event in enumerate(batch):
        slots.setdefault(event["account_id"], []).append(index)
    result: list[dict[str, Any]] = list(batch)
    key = lambda e: (e["account_id"] or "", e["sequence"] or 0)  # noqa: E731
    for account_id, group in groupby(sorted(batch, key=key), key=lambda e: e["account_id"]):
        if account_id is None:
            continue
        for index, event in zip(slots[account_id], group, strict=True):
            result[index] = event
    return result


async def _fan_out(conn: AsyncConnection, ordered: list[dict[str, Any]], now: datetime) -> None:
    endpoints = (
        await conn.execute(
            select(webhook_endpoints.c.id, webhook_endpoints.c.event_types).where(
                webhook_endpoints.c.enabled.is_(True)
            )
        )
    ).all()
    rows = [
        new_delivery(endpoint.id, event, now)
        for event in ordered
        for endpoint in endpoints
        if matches(endpoint.event_types, event["type"])
    ]
    if rows:
        await conn.execute(deliveries.insert(), rows)


def new_delivery(endpoint_id: str, event: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A pending delivery of one positioned event to one endpoint, due now."""
    return {
        "id": new_id("dlv"),
        "endpoint_id": endpoint_id,
        "event_id": event["id"],
        "account_id": event["account_id"],
        "position": event["position"],
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "claimed_until": None,
        "last_status_code": None,
        "last_error": None,
        "delivered_at": None,
        "created_at": now,
        "updated_at": now,
    }
