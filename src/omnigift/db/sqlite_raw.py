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

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import dialect as aiosqlite_dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import ClauseElement, Select

from omnigift.db.sqlite_driver import in_thread

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
    try:
        written: bool = await in_thread(conn, _write, list(writes))
    except sqlite3.IntegrityError as exc:
        raise IntegrityError("a write sent in one trip", None, exc) from exc
    return written


def _write(db: sqlite3.Connection, writes: list[GuardedWrite]) -> bool:
    own = not db.in_transaction
    db.execute("BEGIN IMMEDIATE" if own else "SAVEPOINT one_trip")
    try:
        if not all(_guarded(db, write) for write in writes):
            _undo(db, own)
            return False
        db.execute("COMMIT" if own else "RELEASE one_trip")
    except BaseException:
        _undo(db, own)
        raise
    return True


def _guarded(db: sqlite3.Connection, write: GuardedWrite) -> bool:
    if db.execute(*write.guard).rowcount != 1:
        return False
    for sql, runs in write.then:
        db.executemany(sql, runs)
    return True


def _undo(db: sqlite3.Connection, own: bool) -> None:
    if own:
        if db.in_transaction:  # a failed COMMIT may have ended it already
            db.execute("ROLLBACK")
        return
    db.execute("ROLLBACK TO one_trip")
    db.execute("RELEASE one_trip")
