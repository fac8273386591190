"""Named counters (``counters`` table): a position a single consumer advances, under a row lock,
so several workers take turns instead of reading the same rows twice."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db.tables import counters


async def lock_counter(conn: AsyncConnection, name: str) -> int:
    """The counter's value, locked until the transaction ends."""
    value: int = (
        await conn.execute(
            select(counters.c.value).where(counters.c.name == name).with_for_update()
        )
    ).scalar_one()
    return value


async def set_counter(conn: AsyncConnection, name: str, value: int) -> None:
    await conn.execute(update(counters).where(counters.c.name == name).values(value=value))
