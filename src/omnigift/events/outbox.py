"""The transactional outbox: an event is written in the same transaction as the change it records.

Delivery (webhooks, the live stream, connectors) reads these rows afterwards, at least once.
Events of one account carry consecutive ``sequence`` numbers (the account's version), so a
consumer can put them in order and notice a gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db.tables import events
from omnigift.events.catalogue import EventType
from omnigift.ids import new_id


@dataclass(slots=True)
class PendingEvent:
    """An event to be written with the change that caused it."""

    type: EventType
    data: dict[str, Any]
    account_id: str | None = None
    sequence: int | None = None
    id: str = field(default_factory=lambda: new_id("evt"))


_INSERT_EVENT = events.insert()


async def record(conn: AsyncConnection, pending: list[PendingEvent], now: datetime) -> None:
    """Write the events in the caller's transaction: no change without its events."""
    if not pending:
        return
    await conn.execute(_INSERT_EVENT, event_rows(pending, now))


def event_rows(pending: list[PendingEvent], now: datetime) -> list[dict[str, Any]]:
    """The events' rows as stored (the dispatcher gives each its position later)."""
    return [
        {
            "id": event.id,
            "type": event.type.value,
            "account_id": event.account_id,
            "sequence": event.sequence,
            "data": event.data,
            "created_at": now,
        }
        for event in pending
    ]
