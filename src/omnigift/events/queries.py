"""Reading the event log and the delivery log; manual retry and replay of deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.clock import rfc3339
from omnigift.db.tables import deliveries, delivery_attempts, events
from omnigift.events.catalogue import matches
from omnigift.events.dispatch import new_delivery
from omnigift.events.endpoints import get_endpoint
from omnigift.events.views import event_view
from omnigift.ledger.errors import NotFound


@dataclass(frozen=True)
class EventFilter:
    types: list[str] | None = None
    account_id: str | None = None
    created_after: datetime | None = None


def filtered(query: Any, filters: EventFilter) -> Any:
    if filters.types:
        query = query.where(events.c.type.in_(filters.types))
    if filters.account_id:
        query = query.where(events.c.account_id == filters.account_id)
    if filters.created_after:
        query = query.where(events.c.created_at > filters.created_after)
    return query


async def list_events(
    conn: AsyncConnection, filters: EventFilter, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Events oldest first (by id), one page at a time."""
    query = filtered(select(events), filters)
    if after:
        query = query.where(events.c.id > after)
    rows = (await conn.execute(query.order_by(events.c.id).limit(limit + 1))).all()
    data = [event_view(row._mapping) for row in rows[:limit]]
    return data, (data[-1]["id"] if len(rows) > limit else None)


async def get_event(conn: AsyncConnection, event_id: str) -> dict[str, Any]:
    row = (await conn.execute(select(events).where(events.c.id == event_id))).first()
    if row is None:
        raise NotFound(f"no event {event_id}")
    return event_view(row._mapping)


def delivery_view(row: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "endpoint_id": row["endpoint_id"],
        "event_id": row["event_id"],
        "state": row["state"],
        "attempts": row["attempts"],
        "next_attempt_at": rfc3339(row["next_attempt_at"]) if row["state"] == "pending" else None,
        "last_status_code": row["last_status_code"],
        "last_error": row["last_error"],
        "delivered_at": rfc3339(row["delivered_at"]),
        "created_at": rfc3339(row["created_at"]),
        "attempt_log": [
            {
                "attempted_at": rfc3339(a["attempted_at"]),
                "status_code": a["status_code"],
                "duration_ms": a["duration_ms"],
                "error": a["error"],
                "next_retry_at": rfc3339(a["next_retry_at"]),
            }
            for a in attempts
        ],
    }


async def list_deliveries(
    conn: AsyncConnection,
    endpoint_id: str,
    limit: int,
    after: str | None,
    state: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """An endpoint's deliveries, oldest first, each with every attempt made."""
    await get_endpoint(conn, endpoint_id)
    query = select(deliveries).where(deliveries.c.endpoint_id == endpoint_id)
    if state:
        query = query.where(deliveries.c.state == state)
    if after:
        query = query.where(deliveries.c.id > after)
    rows = [
        dict(r._mapping)
        for r in (await conn.execute(query.order_by(deliveries.c.id).limit(limit + 1))).all()
    ]
    page = rows[:limit]
    attempts: dict[str, list[dict[str, Any]]] = {row["id"]: [] for row in page}
    if page:
        found = await conn.execute(
            select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id.in_(list(attempts)))
            .order_by(delivery_attempts.c.id)
        )
        for attempt in found:
            attempts[attempt.delivery_id].append(dict(attempt._mapping))
    data = [delivery_view(row, attempts[row["id"]]) for row in page]
    return data, (data[-1]["id"] if len(rows) > limit else None)


async def retry_delivery(conn: AsyncConnection, delivery_id: str, now: datetime) -> dict[str, Any]:
    """Send a delivery again now, whatever its state (a failed one gets one more attempt)."""
    row = (await conn.execute(select(deliveries).where(deliveries.c.id == delivery_id))).first()
    if row is None:
        raise NotFound(f"no delivery {delivery_id}")
    values = {"state": "pending", "next_attempt_at": now, "claimed_until": None, "updated_at": now}
    if row.state == "failed":
        values["attempts"] = max(0, row.attempts - 1)  # one more try before it is dead again
    await conn.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(values))
    return delivery_view({**dict(row._mapping), **values}, [])


async def replay(conn: AsyncConnection, endpoint_id: str, since: datetime, now: datetime) -> int:
    """Queue every dispatched event since ``since`` that the endpoint takes, for sending again."""
    endpoint = await get_endpoint(conn, endpoint_id)
    rows = await conn.execute(
        select(events.c.id, events.c.type, events.c.account_id, events.c.position)
        .where(events.c.created_at >= since, events.c.position.is_not(None))
        .order_by(events.c.position)
    )
    queued = [
        new_delivery(endpoint_id, dict(row._mapping), now)
        for row in rows
        if matches(endpoint["event_types"], row.type)
    ]
    if queued:
        await conn.execute(deliveries.insert(), queued)
    return len(queued)
