"""Inbound platform notifications: stored at once (answered fast), processed from this queue.

A duplicate delivery (same platform event id) is stored once. Processing re-reads what the
notification points at, so notifications arriving out of order do no harm: each platform
transaction is applied once by its reference (``ingest``), whenever it is first seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError

from omnigift.connectors.base import Notification
from omnigift.db import leases
from omnigift.db.engine import Database
from omnigift.db.tables import inbound_notifications
from omnigift.ids import new_id

GIVE_UP_AFTER = 20  # attempts, over about a day with the back-off below


async def store(db: Database, integration_id: str, note: Notification, now: datetime) -> bool:
    """Queue a verified notification; False if this platform event was queued before."""
    try:
        async with db.transaction() as conn:
            await conn.execute(
                inbound_notifications.insert().values(
                    id=new_id("inb"),
                    integration_id=integration_id,
                    platform_event_id=note.platform_event_id[:200],
                    topic=note.topic[:100],
                    payload=note.payload,
                    triggered_at=note.triggered_at,
                    state="pending",
                    attempts=0,
                    next_attempt_at=now,
                    received_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Queued:
    id: str
    integration_id: str
    attempts: int
    notification: Notification


_DUE = leases.Due(
    select(inbound_notifications)
    .where(
        inbound_notifications.c.state == "pending",
        inbound_notifications.c.next_attempt_at <= bindparam("b_now"),
        or_(
            inbound_notifications.c.claimed_until.is_(None),
            inbound_notifications.c.claimed_until < bindparam("b_now"),
        ),
    )
    .order_by(inbound_notifications.c.received_at)
    .limit(bindparam("b_limit")),
    inbound_notifications,
)


async def claim_due(db: Database, now: datetime, limit: int, lease: float) -> list[Queued]:
    """Lease due notifications, oldest platform trigger time first."""
    rows = await leases.lease(db, _DUE, now, lease, {"b_now": now, "b_limit": limit})
    return [
        Queued(
            r.id,
            r.integration_id,
            r.attempts,
            Notification(r.platform_event_id, r.topic, r.payload, r.triggered_at),
        )
        for r in rows
    ]


async def done(db: Database, queued: Queued, now: datetime) -> None:
    await _set(db, queued.id, {"state": "done", "processed_at": now, "claimed_until": None})


async def failed(db: Database, queued: Queued, now: datetime, error: str, delay: float) -> None:
    """Try again after ``delay``; after many attempts it stays failed, visible in health."""
    attempts = queued.attempts + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_error": error[:2000],
        "claimed_until": None,
        "next_attempt_at": now + timedelta(seconds=delay),
    }
    if attempts >= GIVE_UP_AFTER:
        values["state"] = "failed"
    await _set(db, queued.id, values)


async def _set(db: Database, notification_id: str, values: dict[str, Any]) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            update(inbound_notifications)
            .where(inbound_notifications.c.id == notification_id)
            .values(values)
        )
