"""An integration's health, as its work goes: failing since when, last success, last error.

Transitions are written at once, each with its event (``integration.failed`` when work starts
failing, ``integration.recovered`` when it succeeds again). The last-success time is written at
most once a second per integration, so a busy connector never makes the row a hot spot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import select, update

from omnigift.clock import rfc3339
from omnigift.db.engine import Database
from omnigift.db.tables import integrations
from omnigift.events.catalogue import EventType
from omnigift.events.outbox import PendingEvent, record

log = structlog.get_logger("omnigift.sync")
FLUSH_EVERY = timedelta(seconds=1)


@dataclass
class HealthTracker:
    db: Database
    _failing: dict[str, bool] = field(default_factory=dict)
    _flushed: dict[str, datetime] = field(default_factory=dict)

    async def success(self, integration_id: str, now: datetime) -> None:
        if self._failing.get(integration_id) is False and not self._due(integration_id, now):
            return
        async with self.db.transaction() as conn:
            row = (
                await conn.execute(
                    select(integrations.c.failing_since, integrations.c.name)
                    .where(integrations.c.id == integration_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                return
            await conn.execute(
                update(integrations)
                .where(integrations.c.id == integration_id)
                .values(connected=True, failing_since=None, last_success_at=now)
            )
            if row.failing_since is not None:
                log.info("integration recovered", integration_id=integration_id)
                await record(
                    conn,
                    [
                        PendingEvent(
                            EventType.INTEGRATION_RECOVERED,
                            {
                                "integration_id": integration_id,
                                "name": row.name,
                                "failing_since": rfc3339(row.failing_since),
                            },
                        )
                    ],
                    now,
                )
        self._failing[integration_id] = False
        self._flushed[integration_id] = now

    async def failure(self, integration_id: str, error: str, now: datetime) -> None:
        if self._failing.get(integration_id) and not self._due(integration_id, now):
            return
        async with self.db.transaction() as conn:
            row = (
                await conn.execute(
                    select(integrations.c.failing_since, integrations.c.name)
                    .where(integrations.c.id == integration_id)
                    .with_for_update()
                )
            ).first()
            if row is None:
                return
            values = {"last_error": error[:2000], "last_error_at": now}
            if row.failing_since is None:
                values["failing_since"] = now
                log.warning("integration failing", integration_id=integration_id, error=error)
                await record(
                    conn,
                    [
                        PendingEvent(
                            EventType.INTEGRATION_FAILED,
                            {"integration_id": integration_id, "name": row.name, "error": error},
                        )
                    ],
                    now,
                )
            await conn.execute(
                update(integrations).where(integrations.c.id == integration_id).values(values)
            )
        self._failing[integration_id] = True
        self._flushed[integration_id] = now

    def _due(self, integration_id: str, now: datetime) -> bool:
        last = self._flushed.get(integration_id)
        return last is None or now - last >= FLUSH_EVERY
