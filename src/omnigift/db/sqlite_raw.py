"""SQLite: statements SQLAlchemy compiles once, run together in ONE trip to the driver's thread.

Through SQLAlchemy a statement on SQLite costs the service about 0.25 ms (its work around the
statement and a trip to aiosqlite's thread and back), while SQLite runs a small one in about
2 µs: a redeem's ten statements were most of its cost (docs/benchmarks.md). Here a group of
statements goes to the thread as one function: a snapshot read of several statements, or a write
transaction of several guarded writes, all or none.

Parameters are processed as SQLAlchemy would process them (its types' bind processors: JSON
serialized, datetimes in SQLAlchemy's storage format, booleans as integers), and rows come back
through the columns' result processors, so what is written and read is exactly what SQLAlchemy
writes and reads. A constraint violation is raised as SQLAlchemy's ``IntegrityError``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import dialect as aiosqlite_dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import ClauseElement, Select

from omnigift.db.sqlite_driver import in_thread
from omnigift.metrics import GROUPS_PER_COMMIT

_DIALECT = aiosqlite_dialect()
Arguments = tuple[Any, ...]


class TripStatement:
    """A statement's SQL with ``?`` placeholders, its bind names in order and their processors;
    for a SELECT, its columns' names and result processors."""

    def __init__(self, statement: ClauseElement, keys: Sequence[str] | None = None) -> None:
        """``keys``: the columns an INSERT or UPDATE without its own values is given."""
        compiled = statement.compile(dialect=_DIALECT, column_keys=keys)
        self.sql: str = compiled.string
        self._names: list[str] = list(compiled.positiontup or [])  # type: ignore[attr-defined]
        self._fixed: dict[str, Any] = dict(compiled.params)
        self._binds: dict[str, Callable[[Any], Any]] = dict(compiled._bind_processors)  # type: ignore[attr-defined]
        self.columns: list[str] = []
        self._results: list[Callable[[Any], Any] | None] = []
        if isinstance(statement, Select):
            for column in statement.selected_columns:
                self.columns.append(str(column.key))
                self._results.append(column.type._cached_result_processor(_DIALECT, None))

    def arguments(self, params: dict[str, Any]) -> Arguments:
        """The positional arguments of one run, processed."""
        values = []
        for name in self._names:
            value = params[name] if name in params else self._fixed[name]
            process = self._binds.get(name)
            values.append(process(value) if process and value is not None else value)
        return tuple(values)

    def mappings(self, rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        """A SELECT's rows as column name -> processed value."""
        return [
            {
                name: process(value) if process else value
                for name, process, value in zip(self.columns, self._results, row, strict=True)
            }
            for row in rows
        ]


async def read_together(
    conn: AsyncConnection, reads: Sequence[tuple[TripStatement, dict[str, Any]]]
) -> list[list[dict[str, Any]]]:
    """Run SELECTs in one trip, from one snapshot; each one's rows."""
    runs = [(read.sql, read.arguments(params)) for read, params in reads]
    fetched: list[list[tuple[Any, ...]]] = await in_thread(conn, _read, runs)
    return [read.mappings(rows) for (read, _), rows in zip(reads, fetched, strict=True)]


def _read(db: sqlite3.Connection, runs: list[tuple[str, Arguments]]) -> list[list[Any]]:
    own = not db.in_transaction
    if own:
        db.execute("BEGIN")  # deferred: a read snapshot, no write lock
    try:
        return [db.execute(sql, arguments).fetchall() for sql, arguments in runs]
    finally:
        if own:
            db.execute("COMMIT")


class LoopReader:
    """Small reads run right in the event loop's thread, on a connection of their own.

    A read of a card and its lots takes SQLite tens of microseconds; a trip to a driver thread
    for it costs more (a wake-up each way, and a wait for the GIL while the loop runs Python).
    In WAL mode a reader never waits for a writer, so the loop is not held up; with no busy
    timeout, the rare read that finds SQLite busy (recovering its WAL) answers None at once and
    the caller reads the usual way. The connection is read-only.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        # One connection per thread that reads (an event loop's thread; tests may run a server
        # loop in a thread of its own).
        self._by_thread: dict[int, sqlite3.Connection] = {}

    def read_together(
        self, reads: Sequence[tuple[TripStatement, dict[str, Any]]]
    ) -> list[list[dict[str, Any]]] | None:
        """The rows of each SELECT, from one snapshot; None if SQLite was busy."""
        runs = [(read.sql, read.arguments(params)) for read, params in reads]
        try:
            fetched = _read(self._connection(), runs)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                raise
            return None
        return [read.mappings(rows) for (read, _), rows in zip(reads, fetched, strict=True)]

    def _connection(self) -> sqlite3.Connection:
        db = self._by_thread.get(threading.get_ident())
        if db is None:
            db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout=0")
            db.execute("PRAGMA query_only=1")
            self._by_thread[threading.get_ident()] = db
        return db

    def close(self) -> None:
        """Close every thread's connection (once no read is running)."""
        connections, self._by_thread = list(self._by_thread.values()), {}
        for db in connections:
            db.close()


@dataclass(frozen=True)
class GuardedWrite:
    """A write whose first statement must change exactly one row, or nothing of it is kept; the
    statements after it are each run with every set of arguments given."""

    guard: tuple[str, Arguments]
    then: list[tuple[str, list[Arguments]]]


async def write_all_or_none(conn: AsyncConnection, writes: Sequence[GuardedWrite]) -> bool:
    """Run the writes in one trip and one transaction: all of them if every guard holds (True),
    none otherwise (False).

    On a connection with no transaction open the trip is its own write transaction (``BEGIN
    IMMEDIATE`` ... ``COMMIT``). Inside the caller's transaction it is a savepoint, and the
    caller commits."""
    (outcome,) = await in_thread(conn, _write_groups, [list(writes)])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


# What one group of writes came to: written, not (a guard failed), or refused by a constraint.
GroupOutcome = bool | IntegrityError


def _write_groups(db: sqlite3.Connection, groups: list[list[GuardedWrite]]) -> list[GroupOutcome]:
    """Each group all or none, in a savepoint of its own; all of them in one transaction."""
    own = not db.in_transaction
    if own:
        db.execute("BEGIN IMMEDIATE")
    try:
        outcomes = [_write_group(db, writes) for writes in groups]
        if own:
            db.execute("COMMIT")
    except BaseException:
        if own and db.in_transaction:  # a failed COMMIT may have ended it already
            db.execute("ROLLBACK")
        raise
    return outcomes


def _write_group(db: sqlite3.Connection, writes: list[GuardedWrite]) -> GroupOutcome:
    db.execute("SAVEPOINT one_group")
    try:
        outcome: GroupOutcome = all(_guarded(db, write) for write in writes)
    except sqlite3.IntegrityError as exc:
        outcome = IntegrityError("a write sent in one trip", None, exc)
    except BaseException:
        _release(db, undo=True)
        raise
    _release(db, undo=outcome is not True)
    return outcome


def _guarded(db: sqlite3.Connection, write: GuardedWrite) -> bool:
    if db.execute(*write.guard).rowcount != 1:
        return False
    for sql, runs in write.then:
        db.executemany(sql, runs)
    return True


def _release(db: sqlite3.Connection, *, undo: bool) -> None:
    if undo:
        db.execute("ROLLBACK TO one_group")
    db.execute("RELEASE one_group")


@dataclass(eq=False)
class _Group:
    writes: list[GuardedWrite]
    done: asyncio.Future[GroupOutcome]


class GroupCommit:
    """Writes of this process sent together: one trip, one transaction and one commit (one
    flush to disk) for all the groups queued while the one before was on its way.

    Each group stays all or none on its own, in a savepoint; a group whose guard fails or that
    breaks a constraint is undone without touching the others. ``connect`` opens the write
    connection, held alone among this process's writers while one batch is sent
    (``Database.autocommit``).
    """

    MAX_GROUPS = 64  # per commit: bounds how long the write lock is held

    def __init__(self, connect: Callable[[], AbstractAsyncContextManager[AsyncConnection]]):
        self._connect = connect
        self._queue: list[_Group] = []
        self._sending: asyncio.Task[None] | None = None

    async def write(self, writes: Sequence[GuardedWrite]) -> bool:
        """Queue the group and wait for its commit: True if written, False if a guard failed;
        a constraint it broke is raised as ``IntegrityError``."""
        group = _Group(list(writes), asyncio.get_running_loop().create_future())
        self._queue.append(group)
        if self._sending is None:
            self._sending = asyncio.create_task(self._send_all())
        # Shielded: a caller that gives up cannot take back a write that may be on its way.
        try:
            outcome = await asyncio.shield(group.done)
        except asyncio.CancelledError:
            group.done.add_done_callback(_nobody_waits)
            raise
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def _send_all(self) -> None:
        try:
            while self._queue:
                # The writer lock is taken per commit, not for as long as writes keep coming:
                # a write transaction waiting for it (issuing a card, the locked way) goes next.
                async with self._connect() as conn:
                    batch = self._queue[: self.MAX_GROUPS]
                    del self._queue[: self.MAX_GROUPS]
                    await self._send(conn, batch)
            # Checked and cleared with no await between: a group queued from now on starts the
            # next sender.
            self._sending = None
        except BaseException as exc:  # no connection, or cancelled: nothing queued can go
            queued, self._queue = self._queue, []
            _settle(queued, _unsent(exc))
            if not isinstance(exc, Exception):
                raise
        finally:
            if self._sending is asyncio.current_task():
                self._sending = None

    async def _send(self, conn: AsyncConnection, batch: list[_Group]) -> None:
        GROUPS_PER_COMMIT.observe(len(batch))
        try:
            outcomes = await in_thread(conn, _write_groups, [group.writes for group in batch])
        except BaseException as exc:  # the batch's outcome is unknown; the next may still go
            _settle(batch, _unsent(exc))
            if not isinstance(exc, Exception):
                raise
            return
        for group, outcome in zip(batch, outcomes, strict=True):
            if not group.done.done():
                group.done.set_result(outcome)


def _nobody_waits(done: asyncio.Future[GroupOutcome]) -> None:
    """Take a failed group's exception once its caller has gone (no "never retrieved")."""
    if not done.cancelled():
        done.exception()


def _settle(groups: list[_Group], exc: Exception) -> None:
    for group in groups:
        if not group.done.done():
            group.done.set_exception(exc)


def _unsent(exc: BaseException) -> Exception:
    if isinstance(exc, Exception):
        return exc
    return RuntimeError("the writer was stopped; the write's outcome is unknown")
