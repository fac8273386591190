"""SQLite: each statement is one trip to aiosqlite's thread, and answers as a DBAPI cursor does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from omnigift.db.tables import counters
from omnigift.runtime import Runtime

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NOW = datetime(2031, 1, 1, tzinfo=UTC)


async def test_a_statement_is_one_trip_to_the_drivers_thread(runtime: Runtime, trips):
    async with runtime.db.read() as conn:
        await conn.execute(text("SELECT 1"))  # the connection's own set-up trips go first
        trips.clear()
        rows = (await conn.execute(text("SELECT 1 UNION ALL SELECT 2"))).scalars().all()

    assert rows == [1, 2]
    assert trips[:1] == ["_run"] and "_run" not in trips[1:]  # then only the rollback on release


async def test_writes_answer_their_row_counts_and_several_rows_go_in_one_trip(
    runtime: Runtime, trips
):
    async with runtime.db.transaction() as conn:
        trips.clear()
        await conn.execute(counters.insert(), [{"name": f"zz_c{i}", "value": i} for i in range(5)])
        assert trips.count("_run") == 1
        moved = await conn.execute(
            update(counters).where(counters.c.name.in_(["zz_c1", "zz_c2"])).values(value=100)
        )
        assert moved.rowcount == 2

    async with runtime.db.read() as conn:
        found = await conn.execute(
            select(func.sum(counters.c.value)).where(counters.c.name.like("zz_c%"))
        )
        assert found.scalar_one() == 0 + 100 + 100 + 3 + 4


async def test_a_refused_statement_raises_as_sqlalchemy_does_and_the_transaction_rolls_back(
    runtime: Runtime,
):
    with pytest.raises(IntegrityError):
        async with runtime.db.transaction() as conn:
            await conn.execute(counters.insert().values(name="dup", value=1))
            await conn.execute(counters.insert().values(name="dup", value=2))

    async with runtime.db.read() as conn:
        found = await conn.execute(select(counters.c.name).where(counters.c.name == "dup"))
        assert found.first() is None


async def test_streamed_results_still_arrive_in_order(runtime: Runtime):
    async with runtime.db.transaction() as conn:
        await conn.execute(
            counters.insert(), [{"name": f"zz_stream_{i:03}", "value": i} for i in range(250)]
        )

    async with runtime.db.read() as conn:
        query = (
            select(counters.c.value)
            .where(counters.c.name.like("zz_stream_%"))
            .order_by(counters.c.name)
        )
        streamed = [row.value async for row in await conn.stream(query)]

    assert streamed == list(range(250))


async def test_rows_can_be_taken_a_few_at_a_time(runtime: Runtime):
    async with runtime.db.transaction() as conn:
        await conn.execute(
            counters.insert(), [{"name": f"zz_few_{i}", "value": i} for i in range(5)]
        )
        found = await conn.execute(
            select(counters.c.value)
            .where(counters.c.name.like("zz_few_%"))
            .order_by(counters.c.name)
        )
        first, rest = found.fetchmany(2), found.fetchall()

    assert [row.value for row in first] == [0, 1]
    assert [row.value for row in rest] == [2, 3, 4]
