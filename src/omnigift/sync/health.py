"""An integration's health, as its work goes: failing since when, last success, last error.

An integration is *failing* once its platform calls have failed for ``failing_after`` without a
single success in between — one 503 or a rate limit is ordinary weather, not an outage. The
transitions are written at once, each with its event (``integration.failed``, then
``integration.recovered`` on the first success). The last error and last success are written at
most once a second per integration, so a busy connector never makes the row a hot spot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

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
    failing_after: timedelta = timedelta(seconds=60)
    _failing: dict[str, bool] = field(default_factory=dict)
    _flushed: dict[str, datetime] = field(default_factory=dict)
    _first_failure: dict[str, datetime] = field(default_factory=dict)

    async def success(self, integration_id: str, now: datetime) -> None:
        self._first_failure.pop(integration_id, None)
        if self._failing.get(integration_id) is False and not self._due(integration_id, now):
            return
        async with self.db.transaction() as conn:
            row = await _locked(conn, integration_id)
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

    async def failure(
        self, integration_id: str, error: str, now: datetime, *, throttled: bool = False
    ) -> None:
        """A platform call failed. ``throttled``: a rate limit, never a failure by itself."""
        first = self._first_failure.setdefault(integration_id, now)
        persistent = not throttled and now - first >= self.failing_after
        newly = persistent and not self._failing.get(integration_id)
        if not newly and not self._due(integration_id, now):
            return
        async with self.db.transaction() as conn:
            row = await _locked(conn, integration_id)
            if row is None:
                return
            values = {"last_error": error[:2000], "last_error_at": now}
            if persistent and row.failing_since is None:
                values["failing_since"] = first
                log.warning("integration failing", integration_id=integration_id, error=error)
                await record(
                    conn,
                    [
                        PendingEvent(
                            EventType.INTEGRATION_FAILED,
                            {
                                "integration_id": integration_id,
                                "name": row.name,
                                "error": error,
                                "failing_since": rfc3339(first),
                            },
                        )
                    ],
                    now,
                )
            await conn.execute(
                update(integrations).where(integrations.c.id == integration_id).values(values)
            )
        self._failing[integration_id] = persistent or self._failing.get(integration_id, False)
        self._flushed[integration_id] = now

    def _due(self, integration_id: str, now: datetime) -> bool:
        last = self._flushed.get(integration_id)
        return last is None or now - last >= FLUSH_EVERY


async def _locked(conn: AsyncConnection, integration_id: str) -> Any:
    return (
        await conn.execute(
            select(integrations.c.failing_since, integrations.c.name)
            .where(integrations.c.id == integration_id)
            .with_for_update()
        )
    ).first()
