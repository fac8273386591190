"""PostgreSQL: every row of one activity written by ONE statement.

On PostgreSQL each statement is a network round trip and, through SQLAlchemy and asyncpg, a few
hundred microseconds of the service's CPU: the redeem path's six separate writes cost the service
more than the database spent running them (docs/benchmarks.md). Data-modifying CTEs write them
together. PostgreSQL runs every such CTE to completion whether or not it is read, and checks
foreign keys at the end of the statement, so the activity and its postings go in side by side.

SQLite has no round trips to save, but each statement costs a trip to its driver's thread:
``one_trip`` writes the same rows there in one trip. The ledger tests run on both engines.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, BindParameter, String, Table, TextClause, bindparam, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db import raw
from omnigift.db.raw import RawStatement
from omnigift.db.types import UTCDateTime
from omnigift.events.outbox import PendingEvent

# A row of another table written in the same statement as an activity (the API's idempotency
# key and its response), so that one stands or falls with the other.
AlongRow = tuple[Table, dict[str, Any]]

# Every CTE after ``account`` writes only when ``account`` moved: with ``seen_version`` set, a card
# changed since the caller read it is left alone, and nothing else is written either. Values
# selected (not in VALUES) carry casts, as PostgreSQL cannot infer a parameter's type there.
_WRITE = """
WITH account AS (
  UPDATE accounts
  SET balance = balance + :delta, held = held + :held_delta,
      version = version + :n_events, updated_at = :now
  WHERE id = :card
    AND (CAST(:seen_version AS bigint) IS NULL OR version = CAST(:seen_version AS bigint))
  RETURNING id),
card_state AS (
  UPDATE gift_cards SET state = :state_after
  FROM account
  WHERE gift_cards.id = account.id AND CAST(:state_changed AS boolean)
  RETURNING gift_cards.id),
moved AS (
  UPDATE lots SET remaining = lots.remaining + m.moved
  FROM unnest(CAST(:moved_lots AS varchar[]), CAST(:moved_amounts AS bigint[])) AS m(id, moved),
       account
  WHERE lots.id = m.id
  RETURNING lots.id),
new_lot AS (
  INSERT INTO lots (id, account_id, kind, amount, remaining, expires_at, created_at)
  SELECT n.id, account.id, n.kind, n.amount, n.amount, n.expires_at, :now
  FROM json_to_recordset(CAST(:new_lots AS json))
       AS n(id varchar, kind varchar, amount bigint, expires_at timestamptz),
       account
  RETURNING id),
activity AS (
  INSERT INTO activities (id, account_id, type, amount, currency, balance_after, state_after,
                          reason, reference, metadata, channel, integration_id, location_id,
                          api_key_id, staff_user_id, redeem_activity_id, hold_id,
                          lot_movements, created_at)
  SELECT CAST(:activity_id AS varchar), account.id, CAST(:type AS varchar),
         CAST(:amount AS bigint), CAST(:currency AS varchar), CAST(:balance_after AS bigint),
         CAST(:state_after AS varchar), CAST(:reason AS text), CAST(:reference AS json),
         CAST(:metadata AS json), CAST(:channel AS varchar), CAST(:integration_id AS varchar),
         CAST(:location_id AS varchar), CAST(:api_key_id AS varchar),
         CAST(:staff_user_id AS varchar), CAST(:redeem_activity_id AS varchar),
         CAST(:hold_id AS varchar), CAST(:lot_movements AS json), :now
  FROM account
  RETURNING id),
posting AS (
  INSERT INTO postings (activity_id, account_id, currency, amount)
  SELECT activity.id, p.account_id, :currency, p.amount
  FROM json_to_recordset(CAST(:postings AS json)) AS p(account_id varchar, amount bigint),
       activity
  RETURNING id),
event AS (
  INSERT INTO events (id, type, account_id, sequence, data, created_at)
  SELECT e.id, e.type, e.account_id, e.sequence, e.data, :now
  FROM json_to_recordset(CAST(:events AS json))
       AS e(id varchar, type varchar, account_id varchar, sequence integer, data json),
       account
  RETURNING id){along}
SELECT count(*) AS written FROM account
"""
_BINDS: tuple[BindParameter[Any], ...] = (
    bindparam("now", type_=UTCDateTime()),
    bindparam("moved_lots", type_=ARRAY(String())),
    bindparam("moved_amounts", type_=ARRAY(BigInteger())),
    *(
        bindparam(name, type_=String())
        for name in (
            "new_lots",
            "reference",
            "metadata",
            "lot_movements",
            "postings",
            "events",
        )
    ),
)
_POSTGRESQL = postgresql.dialect()  # type: ignore[no-untyped-call]
Shape = tuple[str, tuple[str, ...]] | None  # the along row's table and columns, if any
_STATEMENTS: dict[Shape, TextClause] = {None: text(_WRITE.format(along="")).bindparams(*_BINDS)}
_RAW: dict[Shape, RawStatement] = {}


def _shape(along: AlongRow | None) -> Shape:
    return None if along is None else (along[0].name, tuple(along[1]))


def _raw(along: AlongRow | None) -> RawStatement:
    """The write for ``raw.fetchrow``, compiled once per shape."""
    shape = _shape(along)
    if shape not in _RAW:
        _RAW[shape] = RawStatement(_statement(along))
    return _RAW[shape]


def _statement(along: AlongRow | None) -> TextClause:
    """The write, with an INSERT of ``along``'s row as one more CTE; built once per shape."""
    shape = _shape(along)
    if along is None or shape in _STATEMENTS:
        return _STATEMENTS[shape]
    table, row = along
    columns = [table.c[name] for name in row]
    kinds = [column.type.compile(dialect=_POSTGRESQL) for column in columns]
    values = ", ".join(
        f"CAST(:along_{column.name} AS {kind})" for column, kind in zip(columns, kinds, strict=True)
    )
    names = ", ".join(f'"{column.name}"' for column in columns)
    # Names from our own table metadata, values bound: nothing from a request is spliced.
    insert = f"INSERT INTO {table.name} ({names}) SELECT {values} FROM account"  # noqa: S608
    cte = f",\nalong AS (\n  {insert})"
    _STATEMENTS[shape] = text(_WRITE.format(along=cte)).bindparams(
        *_BINDS,
        *(bindparam(f"along_{column.name}", type_=column.type) for column in columns),
    )
    return _STATEMENTS[shape]


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class Rows:
    """An activity's rows as ``write_rows`` writes them (see there)."""

    activity: dict[str, Any]
    delta: int
    held_delta: int
    state_changed: bool
    new_lot: dict[str, Any] | None
    postings: list[tuple[str, int]]
    events: list[PendingEvent]
    now: datetime
    seen_version: int | None = None
    along: AlongRow | None = None

    def lot_moves(self) -> list[tuple[str, int]]:
        """Each lot the activity moves, once, with its net movement: one UPDATE per lot (a lot
        named twice in one statement would be moved once)."""
        merged: dict[str, int] = {}
        for lot_id, amount in self.activity["lot_movements"] or []:
            merged[lot_id] = merged.get(lot_id, 0) + amount
        return list(merged.items())


async def write_rows(conn: AsyncConnection, rows: Rows) -> bool:
    """Write an activity's account move, state, lots, activity row, postings and events at once,
    and ``along``'s row; True once written (see ``records.write_planned`` for ``seen_version``).

    ``activity`` is the row ``records.plan_write`` built.
    """
    params = _params(rows)
    if rows.seen_version is not None:  # the short way: a connection with no transaction around it
        row = await raw.fetchrow(conn, _raw(rows.along), params)
        return bool(row and row["written"])
    return bool((await conn.execute(_statement(rows.along), params)).scalar_one())


async def write_rows_together(conn: AsyncConnection, each: Sequence[Rows]) -> bool:
    """Write several activities, each guarded by its ``seen_version``, in one transaction sent at
    once: all of them, or (if any finds its card moved) none; True once written.

    All or none matters: each was planned on what the one before it leaves, so one that finds
    its card moved leaves the rest planned on a card that never was, and a later version guard
    could still match by chance (another writer having moved the card as many times).
    """
    shapes = {_shape(rows.along) for rows in each}
    if len(shapes) != 1 or any(rows.seen_version is None for rows in each):
        raise ValueError("writes together are guarded and carry rows of one shape")
    return await raw.fetch_each_or_none(
        conn,
        _raw(each[0].along),
        [_params(rows) for rows in each],
        lambda written: all(row["written"] for row in written),
    )


def _params(rows: Rows) -> dict[str, Any]:
    activity, new_lot, along = rows.activity, rows.new_lot, rows.along
    expires = new_lot["expires_at"] if new_lot else None
    moved = dict(rows.lot_moves())
    return {
        **activity,
        "activity_id": activity["id"],
        "card": activity["account_id"],
        "delta": rows.delta,
        "held_delta": rows.held_delta,
        "n_events": len(rows.events),
        "state_changed": rows.state_changed,
        "moved_lots": list(moved),
        "moved_amounts": list(moved.values()),
        "new_lots": _json(
            [{**new_lot, "expires_at": expires.isoformat() if expires else None}] if new_lot else []
        ),
        "reference": _json(activity["reference"]),
        "metadata": _json(activity["metadata"]),
        "lot_movements": _json(activity["lot_movements"]),
        "postings": _json([{"account_id": a, "amount": n} for a, n in rows.postings]),
        "events": _json(
            [
                {
                    "id": e.id,
                    "type": e.type.value,
                    "account_id": e.account_id,
                    "sequence": e.sequence,
                    "data": e.data,
                }
                for e in rows.events
            ]
        ),
        "now": rows.now,
        "seen_version": rows.seen_version,
        **({f"along_{name}": value for name, value in along[1].items()} if along else {}),
    }
