"""SQLite: statements compiled once by SQLAlchemy, run together in one trip to the driver's
thread, writing and reading exactly what SQLAlchemy writes and reads."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from omnigift.db import sqlite_raw
from omnigift.db.sqlite_raw import GuardedWrite, TripStatement, read_together, write_all_or_none
from omnigift.db.tables import counters, idempotency_keys
from omnigift.runtime import Runtime

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
NOW = datetime(2031, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

_KEY_COLUMNS = ["api_key_id", "key", "request_hash", "status_code", "response_body"]
_INSERT_KEY = TripStatement(
    idempotency_keys.insert(), [*_KEY_COLUMNS, "response_sealed", "created_at"]
)
_FIND_KEY_SQLA = select(idempotency_keys).where(idempotency_keys.c.key == bindparam("b_key"))
_FIND_KEY = TripStatement(_FIND_KEY_SQLA)
_INSERT_COUNTER = TripStatement(counters.insert(), ["name", "value"])
_BUMP = TripStatement(
    update(counters)
    .where(counters.c.name == bindparam("b_name"), counters.c.value == bindparam("b_seen"))
    .values(value=counters.c.value + 1)
)


def key_row(key: str) -> dict[str, Any]:
    return {
        "api_key_id": "key_test",
        "key": key,
        "request_hash": "0" * 64,
        "status_code": 201,
        "response_body": '{"ok": true}',
        "response_sealed": True,
        "created_at": NOW,
    }


def insert_counter(name: str, value: int = 0) -> GuardedWrite:
    """A write whose guard is the insert itself: one new row."""
    row = {"name": name, "value": value}
    return GuardedWrite((_INSERT_COUNTER.sql, _INSERT_COUNTER.arguments(row)), [])


def bump(name: str, seen: int, *then: dict[str, Any]) -> GuardedWrite:
    """Add one to a counter still at ``seen``, then store the given idempotency keys."""
    guard = (_BUMP.sql, _BUMP.arguments({"b_name": name, "b_seen": seen}))
    rest = [(_INSERT_KEY.sql, [_INSERT_KEY.arguments(row)]) for row in then]
    return GuardedWrite(guard, rest)


def groups_per_commit() -> tuple[float, float]:
    """Commits sent by the group commit so far, and the groups they carried (its metric)."""
    name = "omnigift_sqlite_groups_per_commit"
    count = REGISTRY.get_sample_value(f"{name}_count") or 0.0
    return count, REGISTRY.get_sample_value(f"{name}_sum") or 0.0


async def stored_counters(runtime: Runtime) -> dict[str, int]:
    async with runtime.db.read() as conn:
        rows = await conn.execute(select(counters.c.name, counters.c.value))
        return {name: value for name, value in rows if name.startswith("zz_")}


async def test_what_one_trip_writes_sqlalchemy_reads_back_as_it_wrote_it(runtime: Runtime):
    async with runtime.db.autocommit() as conn:
        await write_all_or_none(conn, [insert_counter("zz_a"), bump("zz_a", 0, key_row("k1"))])
    async with runtime.db.read() as conn:
        found = (await conn.execute(_FIND_KEY_SQLA, {"b_key": "k1"})).one()._mapping

    assert found["created_at"] == NOW  # the same storage format: aware UTC, microseconds kept
    assert found["response_sealed"] is True
    assert found["status_code"] == 201


async def test_what_sqlalchemy_wrote_one_trip_reads_back_as_sqlalchemy_would(runtime: Runtime):
    async with runtime.db.transaction() as conn:
        await conn.execute(idempotency_keys.insert(), key_row("k2"))
    async with runtime.db.read() as conn:
        via_sqlalchemy = (await conn.execute(_FIND_KEY_SQLA, {"b_key": "k2"})).one()._mapping
        (via_trip,), missing = await read_together(
            conn, [(_FIND_KEY, {"b_key": "k2"}), (_FIND_KEY, {"b_key": "missing"})]
        )

    assert via_trip == dict(via_sqlalchemy)
    assert missing == []
    assert via_trip["created_at"] == NOW and via_trip["response_sealed"] is True


async def test_several_writes_and_their_rows_go_in_one_trip(runtime: Runtime, trips):
    async with runtime.db.autocommit() as conn:
        trips.clear()
        written = await write_all_or_none(
            conn,
            [
                insert_counter("zz_b"),
                bump("zz_b", 0, key_row("k3")),
                bump("zz_b", 1, key_row("k4")),
            ],
        )

    assert written
    assert trips.count("_write_groups") == 1 and "_run" not in trips
    assert await stored_counters(runtime) == {"zz_b": 2}


async def test_a_guard_that_fails_leaves_nothing_of_any_write_in_the_trip(runtime: Runtime):
    async with runtime.db.autocommit() as conn:
        await write_all_or_none(conn, [insert_counter("zz_c")])
        written = await write_all_or_none(
            conn, [bump("zz_c", 0, key_row("k5")), bump("zz_c", 0, key_row("k6"))]
        )

    assert written is False
    assert await stored_counters(runtime) == {"zz_c": 0}
    async with runtime.db.read() as conn:
        assert (await read_together(conn, [(_FIND_KEY, {"b_key": "k5"})])) == [[]]


async def test_a_constraint_violation_is_sqlalchemys_integrity_error_and_nothing_stays(
    runtime: Runtime,
):
    async with runtime.db.autocommit() as conn:
        await write_all_or_none(conn, [insert_counter("zz_d"), bump("zz_d", 0, key_row("k7"))])
        with pytest.raises(IntegrityError, match="idempotency_keys"):
            await write_all_or_none(conn, [bump("zz_d", 1, key_row("k7"))])
        # The connection is usable afterwards: no transaction was left open.
        assert await write_all_or_none(conn, [bump("zz_d", 1)])

    assert await stored_counters(runtime) == {"zz_d": 2}


async def test_inside_a_callers_transaction_a_failed_guard_undoes_only_the_trip(runtime: Runtime):
    async with runtime.db.transaction() as conn:
        await conn.execute(counters.insert().values(name="zz_e", value=5))
        refused = await write_all_or_none(conn, [insert_counter("zz_f"), bump("zz_e", 4)])
        kept = await write_all_or_none(conn, [bump("zz_e", 5)])

    assert (refused, kept) == (False, True)
    assert await stored_counters(runtime) == {"zz_e": 6}


async def test_writes_queued_together_share_one_commit(runtime: Runtime, trips):
    commits = runtime.db.commits
    assert commits is not None
    trips.clear()
    commits_before, groups_before = groups_per_commit()

    written = await asyncio.gather(
        *(commits.write([insert_counter(f"zz_g{i}")]) for i in range(10))
    )

    assert written == [True] * 10
    # All ten were queued before the sender had its connection: one trip, one commit.
    assert trips.count("_write_groups") == 1
    commits_after, groups_after = groups_per_commit()
    assert (commits_after - commits_before, groups_after - groups_before) == (1, 10)
    assert len(await stored_counters(runtime)) == 10


async def test_a_group_whose_guard_fails_is_undone_alone_in_a_shared_commit(runtime: Runtime):
    commits = runtime.db.commits
    assert commits is not None
    await commits.write([insert_counter("zz_h")])

    outcomes = await asyncio.gather(
        commits.write([insert_counter("zz_i")]),
        commits.write([bump("zz_h", 0, key_row("k8")), bump("zz_h", 0, key_row("k9"))]),
        commits.write([bump("zz_h", 0, key_row("k10"))]),
    )

    assert outcomes == [True, False, True]
    assert await stored_counters(runtime) == {"zz_h": 1, "zz_i": 0}
    async with runtime.db.read() as conn:
        found = await read_together(conn, [(_FIND_KEY, {"b_key": k}) for k in ("k8", "k10")])
    assert [len(rows) for rows in found] == [0, 1]


async def test_a_group_that_breaks_a_constraint_is_told_and_the_others_are_written(
    runtime: Runtime,
):
    commits = runtime.db.commits
    assert commits is not None
    await commits.write([insert_counter("zz_j")])

    outcomes = await asyncio.gather(
        commits.write([insert_counter("zz_k")]),
        commits.write([insert_counter("zz_j")]),  # already there
        commits.write([insert_counter("zz_l")]),
        return_exceptions=True,
    )

    assert outcomes[0] is True and outcomes[2] is True
    assert isinstance(outcomes[1], IntegrityError)
    assert set(await stored_counters(runtime)) == {"zz_j", "zz_k", "zz_l"}


async def test_a_caller_that_gives_up_neither_takes_its_write_back_nor_strands_the_others(
    runtime: Runtime,
):
    commits = runtime.db.commits
    assert commits is not None
    first = asyncio.create_task(commits.write([insert_counter("zz_m")]))
    queued = asyncio.create_task(commits.write([insert_counter("zz_n")]))
    behind = asyncio.create_task(commits.write([insert_counter("zz_o")]))
    await asyncio.sleep(0)  # all three queued, the first on its way
    queued.cancel()

    assert await first is True and await behind is True
    with pytest.raises(asyncio.CancelledError):
        await queued
    assert set(await stored_counters(runtime)) == {"zz_m", "zz_n", "zz_o"}
    # Idle again, a later write starts a sender of its own.
    assert await commits.write([insert_counter("zz_p")]) is True


async def test_a_read_in_the_loop_sees_what_a_trip_reads(runtime: Runtime):
    reader = runtime.db.loop_reader
    assert reader is not None
    async with runtime.db.transaction() as conn:
        await conn.execute(idempotency_keys.insert(), key_row("k11"))
    async with runtime.db.read() as conn:
        by_trip = await read_together(conn, [(_FIND_KEY, {"b_key": "k11"})])

    assert reader.read_together([(_FIND_KEY, {"b_key": "k11"})]) == by_trip
    assert by_trip[0][0]["created_at"] == NOW


async def test_a_read_in_the_loop_that_finds_sqlite_busy_answers_none_at_once(runtime: Runtime):
    reader = runtime.db.loop_reader
    assert reader is not None
    assert reader.read_together([(_FIND_KEY, {"b_key": "k12"})]) == [[]]
    path = runtime.db.engine.url.database
    assert path is not None
    await runtime.db.dispose()  # every connection closed: the reader opens its own again
    # A connection in exclusive locking mode keeps every other one out, readers too.
    hog = sqlite3.connect(path, isolation_level=None)
    hog.execute("PRAGMA locking_mode=EXCLUSIVE")
    hog.execute("BEGIN EXCLUSIVE")
    hog.execute("INSERT INTO counters (name, value) VALUES ('zz_q', 1)")
    hog.execute("COMMIT")
    try:
        started = time.monotonic()
        assert reader.read_together([(_FIND_KEY, {"b_key": "k12"})]) is None
        assert time.monotonic() - started < 1  # no busy timeout: the loop is not held up
    finally:
        hog.close()
    assert reader.read_together([(_FIND_KEY, {"b_key": "k12"})]) == [[]]


async def test_each_thread_reads_in_the_loop_on_a_connection_of_its_own(runtime: Runtime):
    reader = runtime.db.loop_reader
    assert reader is not None
    here = reader.read_together([(_FIND_KEY, {"b_key": "k13"})])

    elsewhere = await asyncio.to_thread(reader.read_together, [(_FIND_KEY, {"b_key": "k13"})])

    assert here == elsewhere == [[]]


async def test_a_transaction_waiting_for_the_writer_goes_before_the_next_commit_of_the_group(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
):
    commits = runtime.db.commits
    assert commits is not None
    on_its_way, go_on = asyncio.Event(), asyncio.Event()
    original = sqlite_raw.in_thread

    async def held_up_once(conn, work, *args):  # type: ignore[no-untyped-def]
        if not go_on.is_set():
            on_its_way.set()
            await go_on.wait()
        return await original(conn, work, *args)

    monkeypatch.setattr(sqlite_raw, "in_thread", held_up_once)
    done: list[str] = []

    async def write(name: str) -> None:
        assert await commits.write([insert_counter(name)])
        done.append(name)

    async def transaction() -> None:
        async with runtime.db.transaction() as conn:
            await conn.execute(counters.insert().values(name="zz_tx", value=0))
        done.append("zz_tx")

    first = asyncio.create_task(write("zz_first"))
    await on_its_way.wait()  # the first commit is on its way, the writer lock held
    waiting = asyncio.create_task(transaction())
    await asyncio.sleep(0.01)  # the transaction waits for the lock
    later = asyncio.create_task(write("zz_later"))
    await asyncio.sleep(0)
    go_on.set()
    await asyncio.gather(first, waiting, later)

    assert done == ["zz_first", "zz_tx", "zz_later"]
