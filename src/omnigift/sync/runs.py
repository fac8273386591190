"""Runs staff start on an integration — historical import, export, reconciliation, repair —
queued, executed by the worker with progress, and kept with their report."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.clock import rfc3339
from omnigift.db.engine import Database
from omnigift.db.tables import integration_runs
from omnigift.ids import new_id
from omnigift.ledger.errors import NotFound


class RunKind(StrEnum):
    IMPORT = "import"  # take every platform card into the ledger
    EXPORT = "export"  # mirror every existing ledger card out
    RECONCILE = "reconcile"  # compare, report drift
    REPAIR = "repair"  # compare, then fix drift the safe way


async def start_run(
    conn: AsyncConnection, integration_id: str, kind: RunKind, now: datetime
) -> dict[str, Any]:
    row = {
        "id": new_id("run"),
        "integration_id": integration_id,
        "kind": kind.value,
        "state": "pending",
        "progress": {"done": 0, "total": None},
        "report": None,
        "error": None,
        "created_at": now,
    }
    await conn.execute(integration_runs.insert().values(row))
    return await get_run(conn, str(row["id"]))


async def get_run(conn: AsyncConnection, run_id: str) -> dict[str, Any]:
    row = (
        await conn.execute(select(integration_runs).where(integration_runs.c.id == run_id))
    ).first()
    if row is None:
        raise NotFound(f"no run {run_id}")
    return run_view(row)


async def list_runs(conn: AsyncConnection, integration_id: str) -> list[dict[str, Any]]:
    rows = await conn.execute(
        select(integration_runs)
        .where(integration_runs.c.integration_id == integration_id)
        .order_by(integration_runs.c.created_at.desc())
        .limit(50)
    )
    return [run_view(r) for r in rows]


async def claim_run(db: Database, now: datetime, lease: float) -> Row[Any] | None:
    """The oldest run waiting (or whose worker died), leased to this worker."""
    query = (
        select(integration_runs)
        .where(
            or_(
                integration_runs.c.state == "pending",
                (integration_runs.c.state == "running") & (integration_runs.c.claimed_until < now),
            )
        )
        .order_by(integration_runs.c.created_at)
        .limit(1)
    )
    async with db.transaction() as conn:
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        row = (await conn.execute(query)).first()
        if row is None:
            return None
        await conn.execute(
            update(integration_runs)
            .where(integration_runs.c.id == row.id)
            .values(
                state="running",
                started_at=row.started_at or now,
                claimed_until=now + timedelta(seconds=lease),
            )
        )
    return row


async def progress(
    db: Database, run_id: str, done: int, total: int | None, now: datetime, lease: float
) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            update(integration_runs)
            .where(integration_runs.c.id == run_id)
            .values(
                progress={"done": done, "total": total},
                claimed_until=now + timedelta(seconds=lease),
            )
        )


async def finish_run(
    db: Database, run_id: str, now: datetime, report: dict[str, Any] | None, error: str | None
) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            update(integration_runs)
            .where(integration_runs.c.id == run_id)
            .values(
                state="failed" if error else "done",
                report=report,
                error=error,
                finished_at=now,
                claimed_until=None,
            )
        )


def run_view(row: Row[Any]) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"],
        "object": "integration_run",
        "integration_id": m["integration_id"],
        "kind": m["kind"],
        "state": m["state"],
        "progress": m["progress"],
        "report": m["report"],
        "error": m["error"],
        "created_at": rfc3339(m["created_at"]),
        "started_at": rfc3339(m["started_at"]),
        "finished_at": rfc3339(m["finished_at"]),
    }
