"""The transaction boundaries of ``Database`` on both engines."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from omnigift.db.tables import counters
from omnigift.runtime import Runtime

NOW = datetime(2031, 1, 1, tzinfo=UTC)


async def counter_names(runtime: Runtime) -> list[str]:
    async with runtime.db.read() as conn:
        rows = await conn.execute(select(counters.c.name).order_by(counters.c.name))
        return list(rows.scalars())


async def test_a_single_write_is_committed_as_it_runs(runtime):
    async with runtime.db.write_one() as conn:
        await conn.execute(counters.insert().values(name="one", value=1))

    assert "one" in await counter_names(runtime)


async def test_a_refused_single_write_leaves_nothing(runtime):
    before = await counter_names(runtime)
    with pytest.raises(IntegrityError):
        async with runtime.db.write_one() as conn:
            await conn.execute(counters.insert().values([{"name": "x", "value": 1}] * 2))

    assert await counter_names(runtime) == before


async def test_a_read_sees_what_other_connections_committed_since_its_last_statement(runtime):
    async with runtime.db.read() as conn:
        first = (await conn.execute(select(func.count()).select_from(counters))).scalar_one()
        if runtime.db.is_sqlite:
            # SQLite: the block is one snapshot.
            async with runtime.db.transaction() as other:
                await other.execute(counters.insert().values(name="later", value=1))
            again = (await conn.execute(select(func.count()).select_from(counters))).scalar_one()
            assert again == first
            return
        async with runtime.db.transaction() as other:
            await other.execute(counters.insert().values(name="later", value=1))
        again = (await conn.execute(select(func.count()).select_from(counters))).scalar_one()
        assert again == first + 1


async def test_an_autocommit_statement_is_its_own_transaction_on_postgresql(runtime):
    if runtime.db.is_sqlite:
        return
    async with runtime.db.autocommit() as conn:
        await conn.execute(counters.insert().values(name="at-once", value=1))
        assert "at-once" in await counter_names(runtime)  # seen before the block ends


async def test_an_autocommit_connection_on_sqlite_is_held_alone_among_this_process_writers(
    runtime,
):
    if not runtime.db.is_sqlite:
        return
    order: list[str] = []

    async def write() -> None:
        async with runtime.db.transaction() as conn:
            await conn.execute(counters.insert().values(name="after", value=1))
            order.append("transaction")

    async with runtime.db.autocommit():
        writer = asyncio.create_task(write())
        await asyncio.sleep(0.05)
        order.append("autocommit")
    await writer

    assert order == ["autocommit", "transaction"]
