"""Reading and writing the ledger's rows. Every money path goes through ``lock_card`` and
``write_activity``: one place that locks, one place that writes balances, lots, postings and events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db import raw, sqlite_raw
from omnigift.db.sqlite_raw import GroupCommit
from omnigift.db.tables import (
    accounts,
    gift_cards,
    lots,
    store_credit_wallets,
)
from omnigift.events.catalogue import EventType
from omnigift.events.outbox import PendingEvent, record
from omnigift.ids import new_id
from omnigift.ledger import one_trip
from omnigift.ledger.cards import ActivityType, CardSnapshot, CardState
from omnigift.ledger.errors import NotFound
from omnigift.ledger.lots import Lot, LotKind, Movement
from omnigift.ledger.one_statement import AlongRow, Rows, write_rows, write_rows_together
from omnigift.ledger.origin import Origin
from omnigift.ledger.postings import Posting, SystemAccount, assert_balanced, system_account_id
from omnigift.ledger.views import activity_view, card_view, wallet_view
from omnigift.ledger.wallets import STORE_CREDIT, is_wallet_id

CARD_COLUMNS = (
    *gift_cards.c,
    accounts.c.balance,
    accounts.c.held,
    accounts.c.version,
    accounts.c.updated_at,
)


@dataclass(slots=True)
class CardRecord:
    """A gift card with its account: what a command reads under lock and what views show."""

    id: str
    type: str
    state: CardState
    currency: str
    balance: int
    held: int
    version: int
    expires_at: datetime | None
    code_last4: str
    code_sealed: str
    pin_hash: str | None
    pin_failures: int
    pin_failures_since: datetime | None
    initial_value: int | None
    customer_id: str | None
    recipient: dict[str, Any] | None
    issued_channel: str
    issued_integration_id: str | None
    issued_location_id: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> CardRecord:
        """From a SQLAlchemy row, or an asyncpg record of the same columns (``db.raw``)."""
        m = row._mapping if isinstance(row, Row) else row
        return cls(
            id=m["id"],
            type=m["type"],
            state=CardState(m["state"]),
            currency=m["currency"],
            balance=m["balance"],
            held=m["held"],
            version=m["version"],
            expires_at=m["expires_at"],
            code_last4=m["code_last4"],
            code_sealed=m["code_sealed"],
            pin_hash=m["pin_hash"],
            pin_failures=m["pin_failures"],
            pin_failures_since=m["pin_failures_since"],
            initial_value=m["initial_value"],
            customer_id=m["customer_id"],
            recipient=m["recipient"],
            issued_channel=m["issued_channel"],
            issued_integration_id=m["issued_integration_id"],
            issued_location_id=m["issued_location_id"],
            metadata=m["metadata"] or {},
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )

    @classmethod
    def from_wallet_row(cls, row: Row[Any]) -> CardRecord:
        """A store credit wallet in the record the money paths share: always active, no code,
        no expiry of its own (its lots may have one)."""
        m = row._mapping
        return cls(
            id=m["id"],
            type=STORE_CREDIT,
            state=CardState.ACTIVE,
            currency=m["currency"],
            balance=m["balance"],
            held=m["held"],
            version=m["version"],
            expires_at=None,
            code_last4="",
            code_sealed="",
            pin_hash=None,
            pin_failures=0,
            pin_failures_since=None,
            initial_value=None,
            customer_id=m["customer_id"],
            recipient=None,
            issued_channel="",
            issued_integration_id=None,
            issued_location_id=None,
            metadata={},
            created_at=m["created_at"],
            updated_at=m["updated_at"],
        )

    @property
    def is_wallet(self) -> bool:
        return self.type == STORE_CREDIT

    def snapshot(self) -> CardSnapshot:
        return CardSnapshot(self.state, self.currency, self.balance, self.held, self.expires_at)


def card_query() -> Any:
    """SELECT of every card column joined with its account."""
    return select(*CARD_COLUMNS).join_from(gift_cards, accounts, gift_cards.c.id == accounts.c.id)


# The statements of the money path are built once: building one per call costs more CPU than the
# database spends running it (docs/benchmarks.md). Bound names avoid the column names, which
# SQLAlchemy reserves in UPDATE ... SET.
_LOCK_CARD = card_query().where(gift_cards.c.id == bindparam("b_card")).with_for_update(of=accounts)
_FIND_CARD = card_query().where(gift_cards.c.id == bindparam("b_card"))
_WALLET_QUERY = select(
    store_credit_wallets.c.id,
    store_credit_wallets.c.customer_id,
    store_credit_wallets.c.currency,
    store_credit_wallets.c.created_at,
    accounts.c.balance,
    accounts.c.held,
    accounts.c.version,
    accounts.c.updated_at,
).join_from(store_credit_wallets, accounts, store_credit_wallets.c.id == accounts.c.id)
_LOCK_WALLET = _WALLET_QUERY.where(
    store_credit_wallets.c.id == bindparam("b_card")
).with_for_update(of=accounts)
_FIND_WALLET = _WALLET_QUERY.where(store_credit_wallets.c.id == bindparam("b_card"))
_OPEN_LOTS = (
    select(lots.c.id, lots.c.kind, lots.c.remaining, lots.c.expires_at, lots.c.created_at)
    .where(lots.c.account_id == bindparam("b_account"), lots.c.remaining > 0)
    .order_by(lots.c.id)
)


async def lock_card(conn: AsyncConnection, card_id: str) -> CardRecord:
    """Read a card and lock its account row until the transaction ends.

    Every command that changes a card's value or state starts here, so commands on one card run
    one after the other. A command locking several accounts must lock them in id order.
    """
    wallet = is_wallet_id(card_id)
    found = await _one(conn, _LOCK_WALLET if wallet else _LOCK_CARD, card_id)
    if found is None:
        raise NotFound(f"no store credit {card_id}" if wallet else f"no gift card {card_id}")
    return found


async def find_card(conn: AsyncConnection, card_id: str) -> CardRecord | None:
    """Read a card (or a store credit wallet) without locking it."""
    return await _one(conn, _FIND_WALLET if is_wallet_id(card_id) else _FIND_CARD, card_id)


async def _one(conn: AsyncConnection, statement: Any, account_id: str) -> CardRecord | None:
    row: Row[Any] | None = (await conn.execute(statement, {"b_card": account_id})).first()
    if row is None:
        return None
    return CardRecord.from_wallet_row(row) if is_wallet_id(account_id) else CardRecord.from_row(row)


async def open_lots(conn: AsyncConnection, account_id: str) -> list[Lot]:
    """The account's lots that still hold value."""
    rows = await conn.execute(_OPEN_LOTS, {"b_account": account_id})
    return [_lot(row._mapping) for row in rows]


# PostgreSQL: a card and its open lots in one statement, read together from one snapshot.
_LOTS_AS_JSON = (
    select(
        func.json_agg(
            aggregate_order_by(
                func.json_build_array(
                    lots.c.id, lots.c.kind, lots.c.remaining, lots.c.expires_at, lots.c.created_at
                ),
                lots.c.id,
            )
        )
    )
    .where(lots.c.account_id == gift_cards.c.id, lots.c.remaining > 0)
    .scalar_subquery()
    .label("open_lots")
)
_READ_CARD_WITH_LOTS = raw.RawStatement(
    card_query().add_columns(_LOTS_AS_JSON).where(gift_cards.c.id == bindparam("b_card"))
)


# A card and its open lots, as they stood at one moment.
CardWithLots = tuple[CardRecord, list[Lot]]


async def read_card_with_lots(conn: AsyncConnection, card_id: str) -> CardWithLots | None:
    """A gift card and its open lots as one consistent snapshot, WITHOUT its lock.

    What is decided on it may be written only if the card has not moved since: see
    ``write_planned(..., seen_version=card.version)``. The read goes past SQLAlchemy: on
    PostgreSQL one statement on a connection with no transaction around its statements
    (``Database.autocommit``), on SQLite two in one trip to the driver's thread, from one
    snapshot.
    """
    if conn.dialect.name == "sqlite":
        return await _read_card_with_lots_in_one_trip(conn, card_id)
    row = await raw.fetchrow(conn, _READ_CARD_WITH_LOTS, {"b_card": card_id})
    if row is None:
        return None
    found = [
        Lot(lot_id, LotKind(kind), remaining, _instant(expires), _at(created))
        for lot_id, kind, remaining, expires, created in row["open_lots"] or []
    ]
    return CardRecord.from_row(row), found


_CARD_IN_ONE_TRIP = sqlite_raw.TripStatement(_FIND_CARD)
_LOTS_IN_ONE_TRIP = sqlite_raw.TripStatement(_OPEN_LOTS)


def _card_and_lots(card_id: str) -> list[tuple[sqlite_raw.TripStatement, dict[str, Any]]]:
    return [(_CARD_IN_ONE_TRIP, {"b_card": card_id}), (_LOTS_IN_ONE_TRIP, {"b_account": card_id})]


async def _read_card_with_lots_in_one_trip(
    conn: AsyncConnection, card_id: str
) -> CardWithLots | None:
    found = await sqlite_raw.read_together(conn, _card_and_lots(card_id))
    return _found_card_with_lots(found)


def read_card_with_lots_in_loop(
    reader: sqlite_raw.LoopReader | None, card_id: str
) -> CardWithLots | None:
    """SQLite: ``read_card_with_lots`` run in the event loop's thread, with no trip to a driver
    thread (``sqlite_raw.LoopReader``). None when not read so: no reader (PostgreSQL), SQLite
    busy, or no such card; the caller then reads the usual way."""
    found = reader.read_together(_card_and_lots(card_id)) if reader else None
    return _found_card_with_lots(found) if found else None


def _found_card_with_lots(found: list[list[dict[str, Any]]]) -> CardWithLots | None:
    found_card, found_lots = found
    if not found_card:
        return None
    return CardRecord.from_row(found_card[0]), [_lot(row) for row in found_lots]


def _lot(row: Any) -> Lot:
    return Lot(
        row["id"], LotKind(row["kind"]), row["remaining"], row["expires_at"], row["created_at"]
    )


def _instant(value: str | None) -> datetime | None:
    return None if value is None else _at(value)


def _at(value: str) -> datetime:
    """A timestamp as JSON renders it (ISO 8601 with an offset), in UTC."""
    return datetime.fromisoformat(value).astimezone(UTC)


@dataclass(slots=True)
class NewLot:
    kind: LotKind
    amount: int
    expires_at: datetime | None
    id: str = field(default_factory=lambda: new_id("lot"))


@dataclass(slots=True)
class Change:
    """Everything one activity does to one card; written by ``write_activity`` in one go."""

    card: CardRecord
    type: ActivityType
    origin: Origin
    amount: int | None = None
    postings: list[Posting] = field(default_factory=list)
    lot_movements: list[Movement] = field(default_factory=list)  # signed: negative spends
    new_lot: NewLot | None = None
    state_after: CardState | None = None
    held_delta: int = 0
    reason: str | None = None
    reference: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    redeem_activity_id: str | None = None
    hold_id: str | None = None
    extra_events: list[tuple[EventType, dict[str, Any]]] = field(default_factory=list)
    created: bool = False  # the card is new: ``gift_card.created`` comes first
    activity_id: str = field(default_factory=lambda: new_id("act"))


@dataclass(slots=True)
class Written:
    """The activity row as stored, and the card as it stands after it."""

    activity: dict[str, Any]
    card: CardRecord


@dataclass(slots=True)
class PlannedWrite:
    """Every row a checked change writes, worked out before anything is sent."""

    change: Change
    activity: dict[str, Any]
    after: CardRecord
    events: list[PendingEvent]
    delta: int
    # The card and its open lots as they stand once this is written, when the lots are known:
    # one object, so a card's queue can tell whether a write was planned on what the one before
    # it leaves (``api/turns.py``).
    known_after: CardWithLots | None = None

    @property
    def written(self) -> Written:
        return Written(activity=self.activity, card=self.after)


def plan_write(change: Change, now: datetime) -> PlannedWrite:
    """The activity row, the card after it and its events; checks the postings balance."""
    card = change.card
    assert_balanced(change.postings)
    delta = sum(amount for account, amount in change.postings if account == card.id)
    state_after = change.state_after or card.state
    activity = {
        "id": change.activity_id,
        "account_id": card.id,
        "type": change.type.value,
        "amount": change.amount,
        "currency": card.currency,
        "balance_after": card.balance + delta,
        "state_after": state_after.value,
        "reason": change.reason,
        "reference": change.reference,
        "metadata": change.metadata,
        **change.origin.as_dict(),
        "redeem_activity_id": change.redeem_activity_id,
        "hold_id": change.hold_id,
        "lot_movements": [list(m) for m in change.lot_movements] or None,
        "created_at": now,
    }
    n_events = 1 + change.created + (state_after is not card.state) + len(change.extra_events)
    after = replace(
        card,
        balance=card.balance + delta,
        held=card.held + change.held_delta,
        state=state_after,
        version=card.version + n_events,
        updated_at=now,
    )
    return PlannedWrite(change, activity, after, _events_for(change, activity, after), delta)


async def write_activity(conn: AsyncConnection, change: Change, now: datetime) -> Written:
    """Apply a checked change: balance, held, state, lots, the activity, its postings, its events.

    The caller holds the card's lock (``lock_card``). The balance and held columns move by deltas,
    and the database's CHECK constraints refuse a negative balance as a last line of defence.
    """
    planned = plan_write(change, now)
    if not await write_planned(conn, planned, now):
        # Unguarded, the write always finds the locked account; never drop an activity silently.
        raise RuntimeError(f"no account {change.card.id} to write the activity on")
    return planned.written


async def write_planned(
    conn: AsyncConnection,
    planned: PlannedWrite,
    now: datetime,
    *,
    seen_version: int | None = None,
    along: AlongRow | None = None,
) -> bool:
    """Write a planned change, and ``along`` with it; True once written.

    With ``seen_version`` the caller read the card without its lock, on a connection with no
    transaction open (``Database.autocommit``): everything is written only if the card's account
    is still at that version, and otherwise nothing is written and the answer is False. Every
    change to a card's value, holds or state moves its version, so an unchanged version means
    the read still holds. PostgreSQL writes it all in one statement (``one_statement``), SQLite
    in one trip to its driver's thread (``one_trip``).
    """
    rows = _rows(planned, now, seen_version, along)
    if conn.dialect.name == "postgresql":
        return await write_rows(conn, rows)
    return await one_trip.write_rows(conn, [rows])


async def write_planned_together(
    conn: AsyncConnection, writes: Sequence[tuple[PlannedWrite, datetime, AlongRow]]
) -> bool:
    """Write several planned changes, each planned on what the one before it leaves and guarded
    by the card's version as planned on, and each one's ``along`` row; in one transaction, all
    or none (``one_statement.write_rows_together``, ``one_trip.write_rows``). True once
    written."""
    each = [
        _rows(planned, now, planned.change.card.version, along) for planned, now, along in writes
    ]
    if conn.dialect.name == "postgresql":
        return await write_rows_together(conn, each)
    return await one_trip.write_rows(conn, each)


async def write_planned_in_group(
    commits: GroupCommit, writes: Sequence[tuple[PlannedWrite, datetime, AlongRow]]
) -> bool:
    """SQLite: ``write_planned_together`` sent with what the other requests of this process
    write meanwhile, one commit for them all (``sqlite_raw.GroupCommit``). True once written."""
    each = [
        _rows(planned, now, planned.change.card.version, along) for planned, now, along in writes
    ]
    return await one_trip.write_rows_in_group(commits, each)


def _rows(
    planned: PlannedWrite, now: datetime, seen_version: int | None, along: AlongRow | None
) -> Rows:
    change = planned.change
    return Rows(
        planned.activity,
        delta=planned.delta,
        held_delta=change.held_delta,
        state_changed=planned.after.state is not change.card.state,
        new_lot=_lot_row(change.new_lot) if change.new_lot else None,
        postings=change.postings,
        events=planned.events,
        now=now,
        seen_version=seen_version,
        along=along,
    )


async def update_card(
    conn: AsyncConnection, card: CardRecord, values: dict[str, Any], now: datetime
) -> CardRecord:
    """Change a locked card's own fields (not its value) and record ``gift_card.updated``."""
    await conn.execute(update(gift_cards).where(gift_cards.c.id == card.id).values(**values))
    await move_account(conn, card.id, now, events=1)
    after = await lock_card(conn, card.id)
    updated = PendingEvent(
        EventType.GIFT_CARD_UPDATED,
        {"gift_card": card_view(after)},
        account_id=card.id,
        sequence=after.version,
    )
    await record(conn, [updated], now)
    return after


async def move_account(
    conn: AsyncConnection,
    account_id: str,
    now: datetime,
    *,
    delta: int = 0,
    held_delta: int = 0,
    events: int = 1,
) -> None:
    """The one statement that changes a value account's balance, held value and version."""
    await conn.execute(
        one_trip.MOVE_ACCOUNT,
        {
            "b_card": account_id,
            "b_delta": delta,
            "b_held_delta": held_delta,
            "b_events": events,
            "b_now": now,
        },
    )


def _lot_row(lot: NewLot) -> dict[str, Any]:
    return {
        "id": lot.id,
        "kind": lot.kind.value,
        "amount": lot.amount,
        "expires_at": lot.expires_at,
    }


def _events_for(change: Change, activity: dict[str, Any], after: CardRecord) -> list[PendingEvent]:
    if after.is_wallet:
        return _wallet_events_for(change, activity, after)
    card_data = card_view(after)
    pending = []
    if change.created:
        pending.append(
            PendingEvent(EventType.GIFT_CARD_CREATED, {"gift_card": card_data}, account_id=after.id)
        )
    pending.append(
        PendingEvent(
            EventType.GIFT_CARD_ACTIVITY_CREATED,
            {"activity": activity_view(activity), "gift_card": card_data},
            account_id=after.id,
        )
    )
    if after.state is not change.card.state and not change.created:
        pending.append(
            PendingEvent(EventType.GIFT_CARD_UPDATED, {"gift_card": card_data}, account_id=after.id)
        )
    pending.extend(
        PendingEvent(kind, data, account_id=after.id) for kind, data in change.extra_events
    )
    for offset, event in enumerate(pending, start=1):
        event.sequence = change.card.version + offset
    return pending


def _wallet_events_for(
    change: Change, activity: dict[str, Any], after: CardRecord
) -> list[PendingEvent]:
    data = {"activity": activity_view(activity), "store_credit": wallet_view(after)}
    pending = [PendingEvent(EventType.STORE_CREDIT_ACTIVITY_CREATED, data, account_id=after.id)]
    pending.extend(
        PendingEvent(kind, data, account_id=after.id) for kind, data in change.extra_events
    )
    for offset, event in enumerate(pending, start=1):
        event.sequence = change.card.version + offset
    return pending


async def ensure_system_accounts(conn: AsyncConnection, currency: str, now: datetime) -> None:
    """Create the system accounts of a currency the first time a card in it is issued."""
    rows = [
        {
            "id": system_account_id(name, currency),
            "kind": "system",
            "currency": currency,
            "created_at": now,
            "updated_at": now,
        }
        for name in SystemAccount
    ]
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    await conn.execute(dialect.insert(accounts).values(rows).on_conflict_do_nothing())
