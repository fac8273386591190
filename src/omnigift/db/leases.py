"""Leasing queue rows to one worker for a while: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite
has a single writer), then a ``claimed_until`` in the future. A worker that dies lets its lease
run out, and another takes the row again.

The statements are built once (``Due``): the worker claims work many times a second, and
building a query anew costs more of its CPU than running it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, Table, bindparam, update

from omnigift.db.engine import Database


class Due:
    """A query of ``table``'s rows that are due and not leased, with bound parameters; its rows
    have the leased rows' ``id`` (``locked``: the alias of ``table`` the query reads, if any)."""

    def __init__(self, query: Select[Any], table: Table, *, locked: Any = None) -> None:
        self.plain = query
        of = table if locked is None else locked
        self.locking = query.with_for_update(of=of, skip_locked=True)
        self.mark = (
            update(table)
            .where(table.c.id.in_(bindparam("b_leased", expanding=True)))
            .values(claimed_until=bindparam("b_until"))
        )


async def lease(
    db: Database, due: Due, now: datetime, seconds: float, params: dict[str, Any]
) -> list[Row[Any]]:
    """Run the ``due`` query with ``params`` and lease what it found until ``now + seconds``."""
    async with db.transaction() as conn:
        query = due.locking if conn.dialect.name == "postgresql" else due.plain
        rows = list((await conn.execute(query, params)).all())
        if rows:
            until = now + timedelta(seconds=seconds)
            await conn.execute(due.mark, {"b_leased": [r.id for r in rows], "b_until": until})
    return rows
