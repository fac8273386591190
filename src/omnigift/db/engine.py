"""Engines and the transaction boundary.

Writes run in ``Database.transaction()``: one database transaction that commits only when the block
finishes without an exception, and rolls back otherwise (cosmicpython's unit of work). On SQLite a
write transaction begins IMMEDIATE, so writers queue up front instead of failing on upgrade;
reads use a separate engine that does not take the write lock. On PostgreSQL both are one engine,
and a read or a single write needs no transaction around it: ``read``, ``write_one`` and
``autocommit`` save the BEGIN and COMMIT (or ROLLBACK) round trips.

SQLite takes one writer at a time, and a writer that finds the lock taken sleeps in growing steps
(up to 100 ms) before it looks again: sixteen tills redeeming at once spent most of their time
asleep (p99 two seconds). So writers of one process queue on an ``asyncio.Lock`` first and meet
SQLite's lock free; its busy timeout remains for writers in other processes. The redeem's short
way (ADR 5) on SQLite writes through ``commits`` (many requests' writes in one commit) and reads
through ``loop_reader`` (in the event loop's thread): see ``db.sqlite_raw``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolResetState

from omnigift.db.sqlite_driver import OneTripDBAPI
from omnigift.db.sqlite_raw import GroupCommit, LoopReader

SQLITE_BUSY_TIMEOUT_MS = 30_000


def _sqlite_engine(url: str, *, immediate: bool, pool_size: int) -> AsyncEngine:
    # The pool's usual reset (a ROLLBACK on every return) is a trip to the driver's thread each
    # time, and most connections come back with no transaction open: see ``_on_reset``.
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        module=OneTripDBAPI(),
        pool_reset_on_return=None,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us emit BEGIN ourselves; pysqlite's own transaction handling would defer it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed redeem survives a power loss, not just a process crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
        # Roll back only a transaction still open (sqlite3 knows without a trip); one that
        # SQLAlchemy ended, or work sent past it in one trip, leaves none.
        if not state.asyncio_safe or state.transaction_was_reset:
            return
        if dbapi_connection.driver_connection.in_transaction:
            dbapi_connection.rollback()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The service's database: a write path and a read path over one URL."""

    def __init__(self, url: str, *, pool_size: int = 30) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._writer: asyncio.Lock | None = None
        self.commits: GroupCommit | None = None  # SQLite: writes sent together (sqlite_raw)
        self.loop_reader: LoopReader | None = None  # SQLite: small reads in the loop's thread
        if self.is_sqlite:
            self.engine = _sqlite_engine(url, immediate=True, pool_size=pool_size)
            self._read_engine = _sqlite_engine(url, immediate=False, pool_size=pool_size)
            self._writer = asyncio.Lock()
            self.commits = GroupCommit(self.autocommit)
            path = self.engine.url.database
            if path and path != ":memory:":
                self.loop_reader = LoopReader(path)
        else:
            # No overflow: SQLAlchemy closes an overflow connection as soon as it comes back, and
            # under steady load that meant ~30 new PostgreSQL sessions a second, each a new
            # backend process that prepares every statement again (docs/benchmarks.md). The
            # pool opens connections as they are needed and keeps them.
            self.engine = create_async_engine(
                url, pool_size=pool_size, max_overflow=0, pool_pre_ping=False
            )
            self._read_engine = self.engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction: commit on success, roll back on any exception."""
        if self._writer is None:
            async with self.engine.begin() as conn:
                yield conn
            return
        async with self._writer, self.engine.begin() as conn:
            yield conn

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection with no transaction open, for work that is reads and guarded writes
        sent past SQLAlchemy, each its own transaction (ADR 5).

        On PostgreSQL every statement is its own transaction: no BEGIN and no COMMIT to wait
        for. On SQLite it is the write connection, held alone among this process's writers;
        what is sent in one trip to its driver's thread begins and ends its own transaction
        (``db.sqlite_raw``). A statement run through SQLAlchemy on it would begin a transaction
        that is rolled back when the block ends.
        """
        if self._writer is not None:
            async with self._writer, self.engine.connect() as conn:
                yield conn
            return
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            yield conn

    @asynccontextmanager
    async def write_one(self) -> AsyncIterator[AsyncConnection]:
        """A connection for work that is ONE write statement, committed as it runs.

        On PostgreSQL that is one round trip instead of three (BEGIN, the write, COMMIT), with
        the same effect; on SQLite it is a write transaction, queued with the other writers.
        """
        if self.is_sqlite:
            async with self.transaction() as conn:
                yield conn
            return
        async with self.autocommit() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only connection.

        On SQLite a block of reads sees one snapshot. On PostgreSQL each statement sees what was
        committed when it started (READ COMMITTED, as inside a transaction there), and runs with
        no transaction around it: no BEGIN and ROLLBACK round trips around every read.
        """
        if self.is_sqlite:
            async with self._read_engine.connect() as conn:
                yield conn
            return
        async with self.autocommit() as conn:
            yield conn

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self.loop_reader is not None:
            self.loop_reader.close()
        if self._read_engine is not self.engine:
            await self._read_engine.dispose()
