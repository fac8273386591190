"""SQLite: every row of one activity written in ONE trip to the driver's thread.

The SQLite twin of ``one_statement``: the same rows (``Rows``), the same version guard, the same
all-or-none for a card's chain of writes. SQLite needs no single statement (it has no network
round trips) but it pays for each trip to aiosqlite's thread and for SQLAlchemy's work around
each statement; here the account move, state, lots, activity, postings, events and the row along
with them are one trip and, on a connection with no transaction open, one write transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db.sqlite_raw import GroupCommit, GuardedWrite, TripStatement, write_all_or_none
from omnigift.db.tables import accounts, activities, events, gift_cards, lots, postings
from omnigift.events.outbox import event_rows
from omnigift.ledger.one_statement import Rows

# The one statement that moves a value account's balance, held value and version (the locked
# way's ``records.move_account`` runs it through SQLAlchemy).
MOVE_ACCOUNT = (
    update(accounts)
    .where(accounts.c.id == bindparam("b_card"))
    .values(
        balance=accounts.c.balance + bindparam("b_delta"),
        held=accounts.c.held + bindparam("b_held_delta"),
        version=accounts.c.version + bindparam("b_events"),
        updated_at=bindparam("b_now"),
    )
)
_MOVE = TripStatement(MOVE_ACCOUNT)
_MOVE_SEEN = TripStatement(MOVE_ACCOUNT.where(accounts.c.version == bindparam("b_seen")))
_SET_STATE = TripStatement(
    update(gift_cards)
    .where(gift_cards.c.id == bindparam("b_card"))
    .values(state=bindparam("b_state"))
)
_MOVE_LOT = TripStatement(
    update(lots)
    .where(lots.c.id == bindparam("b_lot"))
    .values(remaining=lots.c.remaining + bindparam("b_moved"))
)
_INSERTS: dict[tuple[str, tuple[str, ...]], TripStatement] = {}


def _insert(table: Table, keys: Sequence[str]) -> TripStatement:
    """An INSERT of the given columns, compiled once per shape."""
    shape = (table.name, tuple(keys))
    if shape not in _INSERTS:
        _INSERTS[shape] = TripStatement(table.insert(), keys)
    return _INSERTS[shape]


def _many(table: Table, rows: list[dict[str, Any]]) -> tuple[str, list[tuple[Any, ...]]]:
    statement = _insert(table, list(rows[0]))
    return statement.sql, [statement.arguments(row) for row in rows]


def guarded_write(rows: Rows) -> GuardedWrite:
    """The statements of one activity: the account's move first (guarded by ``seen_version``
    when set), then everything else the activity writes."""
    activity = rows.activity
    card = activity["account_id"]
    move = {
        "b_card": card,
        "b_delta": rows.delta,
        "b_held_delta": rows.held_delta,
        "b_events": len(rows.events),
        "b_now": rows.now,
        "b_seen": rows.seen_version,
    }
    guard = _MOVE if rows.seen_version is None else _MOVE_SEEN
    then: list[tuple[str, list[tuple[Any, ...]]]] = []
    if rows.state_changed:
        state = {"b_card": card, "b_state": activity["state_after"]}
        then.append((_SET_STATE.sql, [_SET_STATE.arguments(state)]))
    moved = [{"b_lot": lot_id, "b_moved": amount} for lot_id, amount in rows.lot_moves()]
    if moved:
        then.append((_MOVE_LOT.sql, [_MOVE_LOT.arguments(each) for each in moved]))
    if rows.new_lot:
        lot = {
            **rows.new_lot,
            "account_id": card,
            "remaining": rows.new_lot["amount"],
            "created_at": rows.now,
        }
        then.append(_many(lots, [lot]))
    then.append(_many(activities, [activity]))
    if rows.postings:
        then.append(_many(postings, _posting_rows(rows)))
    if rows.events:
        then.append(_many(events, event_rows(rows.events, rows.now)))
    if rows.along:
        table, row = rows.along
        then.append(_many(table, [row]))
    return GuardedWrite((guard.sql, guard.arguments(move)), then)


async def write_rows(conn: AsyncConnection, each: Sequence[Rows]) -> bool:
    """Write the activities' rows in one trip, all or none (see ``one_statement``: each guarded
    by its ``seen_version`` when set); True once written."""
    return await write_all_or_none(conn, [guarded_write(rows) for rows in each])


async def write_rows_in_group(commits: GroupCommit, each: Sequence[Rows]) -> bool:
    """``write_rows``, sent with the other writes of this process queued meanwhile: one trip and
    one commit for them all, each all or none on its own."""
    return await commits.write([guarded_write(rows) for rows in each])


def _posting_rows(rows: Rows) -> list[dict[str, Any]]:
    activity = rows.activity
    return [
        {
            "activity_id": activity["id"],
            "account_id": account,
            "currency": activity["currency"],
            "amount": amount,
        }
        for account, amount in rows.postings
    ]
