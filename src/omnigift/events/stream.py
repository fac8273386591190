"""Following events live: positioned events after a starting point, as they are dispatched."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import func, select

from omnigift.db.engine import Database
from omnigift.db.tables import events
from omnigift.events.queries import EventFilter, filtered
from omnigift.events.views import event_view
from omnigift.ledger.errors import NotFound


async def start_position(db: Database, last_event_id: str | None) -> int:
    """Where a stream starts: just after the named event, or after everything seen so far."""
    async with db.read() as conn:
        if last_event_id:
            position = (
                await conn.execute(select(events.c.position).where(events.c.id == last_event_id))
            ).scalar_one_or_none()
            if position is None:
                raise NotFound(f"no dispatched event {last_event_id} to resume after")
            return int(position)
        return int((await conn.execute(select(func.max(events.c.position)))).scalar() or 0)


async def follow(
    db: Database, filters: EventFilter, after: int, *, poll: float = 0.2
) -> AsyncIterator[dict[str, Any]]:
    """Every matching event after position ``after``, oldest first, forever."""
    while True:
        async with db.read() as conn:
            rows = (
                await conn.execute(
                    filtered(select(events), filters)
                    .where(events.c.position > after)
                    .order_by(events.c.position)
                    .limit(500)
                )
            ).all()
        for row in rows:
            after = row.position
            yield event_view(row._mapping)
        if not rows:
            await asyncio.sleep(poll)
