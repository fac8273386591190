"""Leasing queue rows to one worker for a while: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite
has a single writer), then a ``claimed_until`` in the future. A worker that dies lets its lease
run out, and another takes the row again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, Table, update

from omnigift.db.engine import Database


async def lease(
    db: Database, query: Select[Any], table: Table, now: datetime, seconds: float
) -> list[Row[Any]]:
    """Run ``query`` (rows of ``table`` that are due and not leased) and lease what it found."""
    async with db.transaction() as conn:
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=table, skip_locked=True)
        rows = list((await conn.execute(query)).all())
        if rows:
            await conn.execute(
                update(table)
                .where(table.c.id.in_([r.id for r in rows]))
                .values(claimed_until=now + timedelta(seconds=seconds))
            )
    return rows
