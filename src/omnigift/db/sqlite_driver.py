"""SQLite: SQLAlchemy's aiosqlite adapter, with each statement one trip to aiosqlite's thread.

aiosqlite runs every sqlite3 call in its own thread and hands the result back to the event loop:
a trip costs 50-100 µs here, far more than SQLite's own work on a small statement (about 2 µs).
SQLAlchemy's adapter makes four trips per statement (open a cursor, execute, fetch, close); this
cursor makes one, doing all four in the thread. A redeem is about ten statements, so that is
most of what a redeem cost on SQLite (docs/benchmarks.md).

It leans on two internals, both pinned by the lock file and run by every SQLite test:
aiosqlite's ``Connection._execute`` (queue a function for its thread) and ``_conn`` (its sqlite3
connection, used only in that thread), and the fields of SQLAlchemy's cursor adapter.
Server-side cursors (streamed results) keep SQLAlchemy's own adapter.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util.concurrency import await_

T = TypeVar("T")

# A statement's outcome, read in the thread before its sqlite3 cursor closes.
Outcome = tuple[Any, int, int | None, list[Any]]  # description, rowcount, lastrowid, rows


def _run(conn: sqlite3.Connection, many: bool, operation: str, parameters: Any) -> Outcome:
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose execute runs, fetches and closes in one trip to the driver's thread."""

    __slots__ = ("_arraysize", "_outcome")

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        # Not the base __init__: it opens an aiosqlite cursor, a trip of its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized: Any = {}
        self._rows = collections.deque()
        self._outcome: Outcome = (None, -1, None, [])
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._outcome[0]

    @property
    def rowcount(self) -> int:
        return self._outcome[1]

    @property
    def lastrowid(self) -> Any:
        return self._outcome[2]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    def nextset(self) -> None:
        return None  # sqlite3 has one result set per statement

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None  # a no-op in sqlite3 too

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._trip(False, operation, parameters))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        try:
            return await_(self._trip(True, operation, seq_of_parameters))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _trip(self, many: bool, operation: str, parameters: Any) -> None:
        driver: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            self._outcome = await driver._execute(  # type: ignore[no-untyped-call]
                _run, driver._conn, many, operation, parameters
            )
        self._rows = collections.deque(self._outcome[3])

    async def _async_soft_close(self) -> None:
        return  # nothing is open: the sqlite3 cursor closed in the thread

    def close(self) -> None:
        self._rows.clear()


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module for ``create_async_engine(url, module=...)`` with ``sqlite+aiosqlite``."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> _Connection:
        adapted = super().connect(*arg, **kw)
        return _Connection(self, adapted._connection)


async def in_thread(conn: AsyncConnection, work: Callable[..., T], *args: Any) -> T:
    """Run ``work(sqlite3_connection, *args)`` in the connection's driver thread: one trip for
    however many statements it runs (``db.sqlite_raw``). Only for work that leaves no cursor
    open and no transaction it did not find open."""
    adapted = (await conn.get_raw_connection()).dbapi_connection
    assert isinstance(adapted, AsyncAdapt_aiosqlite_connection), "a SQLite connection"
    driver: aiosqlite.Connection = adapted._connection
    async with adapted._execute_mutex:
        result: T = await driver._execute(work, driver._conn, *args)
    return result
