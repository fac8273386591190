"""The ledger's invariants under random sequences of operations, checked after every step.

A ``Driver`` runs each operation against the real services and against a small Python model of
the rules (lots, holds, states, expiry). The model predicts whether the ledger must accept or
refuse (and with which error); after every step the whole database is audited for the double-entry
invariants (research 2.6) and compared with the model.

Expiry of lots is "on touch": a lot past its expiry lapses (what is left of it, up to the card's
``balance - held``, goes to breakage with an ``expire`` activity) when the job runs, and also
first thing, in the same transaction, when a redeem, an adjust_decrement, a hold or a capture
touches the card; if that command is refused, the lapse is undone with it. A redeem or
adjust_decrement never spends a lot past its expiry; a capture may spend the expired value kept
back for holds.

Hypothesis drives the driver on SQLite (a fresh database file per example); a fixed, seeded random
sequence also runs on every engine of the ``runtime`` fixture (SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.config import Settings
from omnigift.db.tables import metadata
from omnigift.ledger.activities import ActivityRequest, apply_activity
from omnigift.ledger.cards import ActivityType, CardState, CardType
from omnigift.ledger.errors import (
    CardExpired,
    CardNotActive,
    CurrencyMismatch,
    ExpiryTooSoon,
    InsufficientFunds,
    InvalidRequest,
    InvalidState,
    LedgerError,
    NotFound,
    RefundExceedsRedemption,
)
from omnigift.ledger.expiry import run_expiry
from omnigift.ledger.holds import capture_hold, place_hold, void_hold
from omnigift.ledger.issuing import IssueCard, LotSpec, issue_card
from omnigift.ledger.lots import LotKind
from omnigift.ledger.origin import Origin
from omnigift.runtime import Runtime
from tests.support.audit import check_ledger, read_all

T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
FIVE_YEARS = timedelta(days=5 * 365)
NEVER = datetime.max.replace(tzinfo=UTC)
SECRET = "invariants-secret-" + "x" * 40
CURRENCY = "USD"

A = ActivityType
S = CardState
Error = type[LedgerError] | None

# The rules as the API contract states them, written out independently of the code under test.
ALLOWED_FROM = {
    A.ACTIVATE: {S.PENDING},
    A.LOAD: {S.ACTIVE},
    A.REFUND: {S.ACTIVE, S.FROZEN},
    A.ADJUST_INCREMENT: {S.ACTIVE, S.FROZEN},
    A.ADJUST_DECREMENT: {S.ACTIVE, S.FROZEN},
    A.FREEZE: {S.ACTIVE},
    A.UNFREEZE: {S.FROZEN},
    A.DEACTIVATE: {S.PENDING, S.ACTIVE, S.FROZEN, S.EXPIRED},
    A.CLEAR_BALANCE: set(CardState),
}
NEXT_STATE = {
    A.ACTIVATE: S.ACTIVE,
    A.FREEZE: S.FROZEN,
    A.UNFREEZE: S.ACTIVE,
    A.DEACTIVATE: S.DEACTIVATED,
}
ADDS_VALUE = {A.ACTIVATE, A.LOAD, A.REFUND, A.ADJUST_INCREMENT}
LAPSES_FIRST = {A.REDEEM, A.ADJUST_DECREMENT}  # and placing or capturing a hold
LIVE = {S.PENDING, S.ACTIVE, S.FROZEN}
KIND_RANK = {LotKind.PROMOTIONAL: 0, LotKind.REFUND: 1, LotKind.PAID: 2}
SOURCE_OF = {LotKind.PAID: "issued", LotKind.PROMOTIONAL: "promotions", LotKind.REFUND: "refunds"}

# Choices shared by the Hypothesis machine and the seeded sequence.
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
PAID_LOT_EXPIRIES = [None, None, FIVE_YEARS, FIVE_YEARS + 30 * DAY, FIVE_YEARS - DAY]
PAID_CARD_EXPIRIES = [None, None, FIVE_YEARS + DAY, 30 * DAY]
PROMO_LOT_EXPIRIES = [None, HOUR, DAY, 30 * DAY, -HOUR]
PROMO_CARD_EXPIRIES = [None, None, DAY, 30 * DAY, 60 * DAY]
LOAD_KINDS = [LotKind.PAID, LotKind.PAID, LotKind.PROMOTIONAL, LotKind.REFUND]
LOAD_EXPIRIES = [None, None, HOUR, 30 * DAY, FIVE_YEARS + DAY]
HOLD_LIFETIMES = [60, 3600, 86400, 7 * 86400]
SECONDS, MINUTES = timedelta(seconds=30), timedelta(minutes=10)
TIME_STEPS = [SECONDS, MINUTES, HOUR, HOUR, DAY, 30 * DAY, FIVE_YEARS + 60 * DAY]
CURRENCIES = [CURRENCY] * 7 + ["EUR"]

AmountSpec = int | str  # a fixed amount, "all" of what is allowed, or "over" it by one


def resolve(spec: AmountSpec, limit: int) -> int:
    """An amount to ask for: fixed, exactly the limit, or one more than the limit."""
    if spec == "all":
        return limit
    if spec == "over":
        return limit + 1
    assert isinstance(spec, int)
    return spec


def lot_expiry_error(kind: LotKind, expires_at: datetime | None, now: datetime) -> Error:
    if expires_at is None:
        return None
    if expires_at <= now:
        return InvalidRequest
    if kind is LotKind.PAID and expires_at < now + FIVE_YEARS:
        return ExpiryTooSoon
    return None


# The model


@dataclass
class MLot:
    seq: int
    kind: LotKind
    amount: int
    expires_at: datetime | None
    created_at: datetime
    remaining: int

    def burn_key(self) -> tuple[datetime, int, datetime, int]:
        return (self.expires_at or NEVER, KIND_RANK[self.kind], self.created_at, self.seq)

    def due(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


@dataclass
class MHold:
    id: str
    card_id: str
    amount: int
    expires_at: datetime
    state: str = "open"
    captured: int | None = None


@dataclass
class MRedemption:
    id: str
    card_id: str
    amount: int
    spent: list[tuple[int, int]]
    restored: list[tuple[int, int]] = field(default_factory=list)

    @property
    def refundable(self) -> int:
        return self.amount - sum(moved for _, moved in self.restored)


@dataclass
class MCard:
    id: str
    state: CardState
    expires_at: datetime | None
    lots: list[MLot] = field(default_factory=list)
    holds: list[MHold] = field(default_factory=list)
    version: int = 0
    activities: int = 0

    @property
    def balance(self) -> int:
        return sum(lot.remaining for lot in self.lots)

    @property
    def open_holds(self) -> list[MHold]:
        return [hold for hold in self.holds if hold.state == "open"]

    @property
    def held(self) -> int:
        return sum(hold.amount for hold in self.open_holds)

    @property
    def available(self) -> int:
        return self.balance - self.held

    def past_expiry(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def spend_error(self, now: datetime) -> Error:
        if self.state is S.EXPIRED or self.past_expiry(now):
            return CardExpired
        if self.state is not S.ACTIVE:
            return CardNotActive
        return None


class Model:
    """What the ledger should hold, by the rules of API.md."""

    def __init__(self) -> None:
        self.cards: dict[str, MCard] = {}
        self.holds: dict[str, MHold] = {}
        self.redemptions: list[MRedemption] = []
        self.system: Counter[str] = Counter()
        self._seq = 0

    def add_lot(
        self, card: MCard, kind: LotKind, amount: int, expires: datetime | None, now: datetime
    ) -> None:
        self._seq += 1
        card.lots.append(MLot(self._seq, kind, amount, expires, now, amount))

    def credit(self, amount: int, source: str) -> None:
        """New value onto a card, taken from a system account."""
        self.system[source] -= amount

    def burn(
        self, card: MCard, amount: int, sink: str, *, at: datetime | None = None
    ) -> list[tuple[int, int]]:
        """Spend in burn order: soonest expiry, promotional < refund < paid, oldest first.

        With ``at`` (a plain redeem or adjust_decrement) lots past their expiry are not spent.
        """
        plan, left = [], amount
        for lot in sorted((lot for lot in card.lots if lot.remaining), key=MLot.burn_key):
            if at is not None and lot.due(at):
                continue
            take = min(lot.remaining, left)
            if take:
                lot.remaining -= take
                plan.append((lot.seq, take))
                left -= take
        assert left == 0, "the model spent more than the card holds"
        self.system[sink] += amount
        return plan

    def restore(self, card: MCard, redemption: MRedemption, amount: int) -> None:
        """Give back to the lots the redemption spent, last-spent first."""
        outstanding: Counter[int] = Counter()
        for seq, moved in redemption.spent:
            outstanding[seq] += moved
        for seq, moved in redemption.restored:
            outstanding[seq] -= moved
        by_seq = {lot.seq: lot for lot in card.lots}
        left = amount
        for seq, _ in reversed(redemption.spent):
            give = min(outstanding[seq], left)
            if give > 0:
                by_seq[seq].remaining += give
                redemption.restored.append((seq, give))
                outstanding[seq] -= give
                left -= give
        assert left == 0
        self.system["redeemed"] -= amount

    def record(self, card: MCard, *, state_after: CardState | None = None, extra: int = 0) -> None:
        """One more activity: its event, a state-change event, and any extra events."""
        changed = state_after is not None and state_after is not card.state
        card.version += 1 + changed + extra
        card.activities += 1
        if state_after is not None:
            card.state = state_after

    def lapse_plan(self, card: MCard, now: datetime) -> list[tuple[MLot, int]]:
        """What of the card's lots past their expiry lapses: at most ``balance - held`` in all."""
        room, plan = card.available, []
        for lot in card.lots:  # creation order, as the ledger reads them
            if lot.remaining and lot.due(now):
                take = min(lot.remaining, room)
                if take:
                    plan.append((lot, take))
                    room -= take
        return plan

    def lapse(self, card: MCard, now: datetime) -> int:
        """Lots past their expiry go to breakage, with one ``expire`` activity if anything does."""
        plan = self.lapse_plan(card, now)
        for lot, take in plan:
            lot.remaining -= take
        taken = sum(take for _, take in plan)
        if taken:
            self.system["breakage"] += taken
            self.record(card)
        return taken

    def expire(self, now: datetime) -> tuple[int, int, int]:
        """The expiry job: holds, then cards, then lots. Returns (cards, lots, holds) ended."""
        ended_holds = 0
        for hold in self.holds.values():
            if hold.state == "open" and hold.expires_at <= now:
                hold.state = "expired"
                self.cards[hold.card_id].version += 1
                ended_holds += 1
        ended_cards = 0
        for card in self.cards.values():
            if card.state in LIVE and card.past_expiry(now):
                released = card.open_holds
                for hold in released:
                    hold.state = "expired"
                self.system["breakage"] += card.balance
                for lot in card.lots:
                    lot.remaining = 0
                self.record(card, state_after=S.EXPIRED, extra=len(released))
                ended_cards += 1
        ended_lots = 0
        for card in self.cards.values():
            if self.lapse(card, now):
                ended_lots += 1
        return ended_cards, ended_lots, ended_holds


def compare_with_model(db: dict[str, list[dict[str, Any]]], model: Model) -> None:
    account = {row["id"]: row for row in db["accounts"]}
    cards = {row["id"]: row for row in db["gift_cards"]}
    assert set(cards) == set(model.cards)
    lots_of: defaultdict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for lot in db["lots"]:  # ordered by id: creation order
        lots_of[lot["account_id"]].append(
            (lot["kind"], lot["amount"], lot["remaining"], lot["expires_at"])
        )
    activity_count = Counter(row["account_id"] for row in db["activities"])
    for card_id, expected in model.cards.items():
        row, acc = cards[card_id], account[card_id]
        got = (row["state"], acc["balance"], acc["held"], acc["version"], activity_count[card_id])
        want = (
            expected.state.value,
            expected.balance,
            expected.held,
            expected.version,
            expected.activities,
        )
        assert got == want, f"{card_id}: (state, balance, held, version, activities)"
        assert lots_of[card_id] == [
            (lot.kind.value, lot.amount, lot.remaining, lot.expires_at) for lot in expected.lots
        ], f"{card_id}: lots"
    stored_holds = {row["id"]: row for row in db["holds"]}
    assert set(stored_holds) == set(model.holds)
    for hold_id, hold in model.holds.items():
        row = stored_holds[hold_id]
        assert (row["state"], row["amount"], row["captured_amount"]) == (
            hold.state,
            hold.amount,
            hold.captured,
        ), hold_id
    system = Counter()
    for posting in db["postings"]:
        if posting["account_id"].startswith("sys_"):
            name = posting["account_id"].removeprefix("sys_").rsplit("_", 1)[0]
            system[name] += posting["amount"]
    assert +system == +model.system and -system == -model.system, "system account balances"


# The driver: one operation at a time, on the ledger and on the model


class Driver:
    def __init__(self, runtime: Runtime, *, audit_every_step: bool = True) -> None:
        self.runtime = runtime
        self.model = Model()
        self.now = T0
        self.audit_every_step = audit_every_step
        self.outcomes: Counter[tuple[str, str]] = Counter()

    # picking things to act on

    def card(self, pick: int) -> MCard:
        """Mostly a card that can be spent (so that most steps do something), else any card."""
        cards = [self.model.cards[card_id] for card_id in sorted(self.model.cards)]
        spendable = [card for card in cards if card.spend_error(self.now) is None]
        candidates = spendable if spendable and pick % 3 else cards
        return candidates[pick // 3 % len(candidates)]

    def hold(self, pick: int) -> MHold:
        """Mostly an open hold, else any hold."""
        holds = [self.model.holds[hold_id] for hold_id in sorted(self.model.holds)]
        still_open = [hold for hold in holds if hold.state == "open"]
        candidates = still_open if still_open and pick % 3 else holds
        return candidates[pick // 3 % len(candidates)]

    def redemption(self, pick: int) -> MRedemption:
        return self.model.redemptions[pick % len(self.model.redemptions)]

    def lapsed_available(self, card: MCard) -> int:
        """Available value once the card's due lots lapsed: what a command taking value checks."""
        return card.available - sum(take for _, take in self.model.lapse_plan(card, self.now))

    # running one operation

    async def attempt(
        self,
        name: str,
        expected: Error,
        call: Callable[[AsyncConnection], Awaitable[Any]],
    ) -> Any:
        """Run ``call`` in a transaction; it must be refused with ``expected``, or succeed."""
        before = await self.row_counts() if expected else None
        try:
            async with self.runtime.db.transaction() as conn:
                result = await call(conn)
        except LedgerError as exc:
            assert expected is not None, f"{name} was refused unexpectedly: {exc!r}"
            assert type(exc) is expected, f"{name}: expected {expected.__name__}, got {exc!r}"
            assert await self.row_counts() == before, f"a refused {name} wrote rows"
            self.outcomes[(name, type(exc).__name__)] += 1
            return None
        assert expected is None, f"{name} should have been refused with {expected.__name__}"
        self.outcomes[(name, "done")] += 1
        return result

    async def row_counts(self) -> dict[str, int]:
        """How many rows every table holds, in one query."""
        tables = metadata.sorted_tables
        query = select(
            *(select(func.count()).select_from(table).scalar_subquery() for table in tables)
        )
        async with self.runtime.db.read() as conn:
            counts = (await conn.execute(query)).one()
        return {table.name: count for table, count in zip(tables, counts, strict=True)}

    async def audit(self) -> None:
        async with self.runtime.db.read() as conn:
            db = await read_all(conn)
        check_ledger(db)
        compare_with_model(db, self.model)

    async def step_done(self) -> None:
        if self.audit_every_step:
            await self.audit()

    # operations

    async def issue(
        self,
        kind: LotKind,
        value: int | None,
        lot_expiry: timedelta | None,
        card_expiry: timedelta | None,
    ) -> None:
        now = self.now
        lot_expires = None if lot_expiry is None else now + lot_expiry
        card_expires = None if card_expiry is None else now + card_expiry
        card_kind = LotKind.PROMOTIONAL if kind is LotKind.PROMOTIONAL else LotKind.PAID
        expected = lot_expiry_error(kind, lot_expires, now) or lot_expiry_error(
            card_kind, card_expires, now
        )
        command = IssueCard(
            type=CardType.DIGITAL,
            currency=CURRENCY,
            initial_value=value,
            initial_lot=LotSpec(kind=kind, expires_at=lot_expires),
            expires_at=card_expires,
        )
        issued = await self.attempt(
            "issue",
            expected,
            lambda conn: issue_card(conn, command, self.runtime.policy, Origin(), now),
        )
        if issued:
            card = MCard(issued.written.card.id, S.ACTIVE if value else S.PENDING, card_expires)
            self.model.cards[card.id] = card
            if value:
                self.model.add_lot(card, kind, value, lot_expires, now)
                self.model.credit(value, SOURCE_OF[kind])
            card.version, card.activities = 2, 1
        await self.step_done()

    async def _activity(
        self, card: MCard, request: ActivityRequest, expected: Error
    ) -> dict[str, Any] | None:
        written = await self.attempt(
            request.type.value,
            expected,
            lambda conn: apply_activity(
                conn, card.id, request, self.runtime.policy, Origin(), self.now
            ),
        )
        return None if written is None else written.activity

    def activity_error(
        self, card: MCard, kind: ActivityType, amount: int | None, currency: str | None = None
    ) -> Error:
        """The refusal check_request and check_activity owe this request, if any."""
        if amount is not None and amount <= 0:
            return InvalidRequest
        if currency is not None and currency != CURRENCY:
            return CurrencyMismatch
        if kind is A.REDEEM:
            assert amount is not None
            return card.spend_error(self.now) or (
                InsufficientFunds if amount > self.lapsed_available(card) else None
            )
        if card.state not in ALLOWED_FROM[kind]:
            return InvalidState
        if kind in ADDS_VALUE and card.past_expiry(self.now):
            return CardExpired
        if (
            kind is A.ADJUST_DECREMENT
            and amount is not None
            and amount > self.lapsed_available(card)
        ):
            return InsufficientFunds
        return None

    def new_value_error(self, card: MCard, kind: LotKind, expires: datetime | None) -> Error:
        """The lot rules for value added to an existing card."""
        error = lot_expiry_error(kind, expires, self.now)
        if error is None and kind is LotKind.PAID:
            error = lot_expiry_error(LotKind.PAID, card.expires_at, self.now)
        return error

    async def add_value(
        self,
        kind: ActivityType,
        pick: int,
        amount: int | None,
        lot: LotKind,
        expiry: timedelta | None = None,
    ) -> None:
        """activate, load, adjust_increment, or a refund that names no redemption."""
        card = self.card(pick)
        expires = None if expiry is None else self.now + expiry
        currency = CURRENCY if amount is not None else None
        expected = self.activity_error(card, kind, amount, currency)
        if expected is None and amount is not None:
            expected = self.new_value_error(card, lot, expires)
        request = ActivityRequest(
            type=kind,
            amount=amount,
            currency=currency,
            reason="correction" if kind is A.ADJUST_INCREMENT else None,
            lot=LotSpec(kind=lot, expires_at=expires) if kind is not A.ACTIVATE else None,
        )
        if await self._activity(card, request, expected) is not None:
            if amount is not None:
                source = {A.ADJUST_INCREMENT: "adjustments", A.REFUND: "refunds"}.get(
                    kind, SOURCE_OF[lot]
                )
                self.model.add_lot(card, lot, amount, expires, self.now)
                self.model.credit(amount, source)
            self.model.record(card, state_after=NEXT_STATE.get(kind))
        await self.step_done()

    async def redeem(self, pick: int, spec: AmountSpec, currency: str = CURRENCY) -> None:
        card = self.card(pick)
        amount = resolve(spec, self.lapsed_available(card))
        expected = self.activity_error(card, A.REDEEM, amount, currency)
        request = ActivityRequest(type=A.REDEEM, amount=amount, currency=currency)
        done = await self._activity(card, request, expected)
        if done is not None:
            self.model.lapse(card, self.now)  # an expire activity first, same transaction
            spent = self.model.burn(card, amount, "redeemed", at=self.now)
            self.model.redemptions.append(MRedemption(done["id"], card.id, amount, spent))
            self.model.record(card)
        await self.step_done()

    async def refund(self, pick: int, spec: AmountSpec, redemption: int | None) -> None:
        """A refund of a named redemption (maybe on another card), or of money in general."""
        if redemption is None or not self.model.redemptions:
            await self.add_value(A.REFUND, pick, resolve(spec, 1000), LotKind.REFUND)
            return
        redeemed = self.redemption(redemption)
        card = self.card(pick) if pick % 4 == 0 else self.model.cards[redeemed.card_id]
        amount = resolve(spec, redeemed.refundable)
        expected = self.activity_error(card, A.REFUND, amount, CURRENCY)
        if expected is None and redeemed.card_id != card.id:
            expected = NotFound
        if expected is None and amount > redeemed.refundable:
            expected = RefundExceedsRedemption
        request = ActivityRequest(
            type=A.REFUND, amount=amount, currency=CURRENCY, redeem_activity_id=redeemed.id
        )
        if await self._activity(card, request, expected) is not None:
            self.model.restore(card, redeemed, amount)
            self.model.record(card)
        await self.step_done()

    async def adjust_decrement(self, pick: int, spec: AmountSpec) -> None:
        card = self.card(pick)
        amount = resolve(spec, self.lapsed_available(card))
        expected = self.activity_error(card, A.ADJUST_DECREMENT, amount, CURRENCY)
        request = ActivityRequest(
            type=A.ADJUST_DECREMENT, amount=amount, currency=CURRENCY, reason="shrinkage"
        )
        if await self._activity(card, request, expected) is not None:
            self.model.lapse(card, self.now)
            self.model.burn(card, amount, "adjustments", at=self.now)
            self.model.record(card)
        await self.step_done()

    async def change_state(self, kind: ActivityType, pick: int) -> None:
        """freeze, unfreeze, deactivate, clear_balance."""
        card = self.card(pick)
        expected = self.activity_error(card, kind, None)
        if await self._activity(card, ActivityRequest(type=kind), expected) is not None:
            released = 0
            if kind is A.CLEAR_BALANCE:
                for hold in card.open_holds:
                    hold.state = "voided"
                    released += 1
                if card.balance:
                    self.model.burn(card, card.balance, "adjustments")
            self.model.record(card, state_after=NEXT_STATE.get(kind), extra=released)
        await self.step_done()

    async def place_hold(self, pick: int, spec: AmountSpec, lifetime: int) -> None:
        card = self.card(pick)
        available = self.lapsed_available(card)
        amount = resolve(spec, available)
        expected: Error = InvalidRequest if amount <= 0 else None
        expected = expected or card.spend_error(self.now)
        if expected is None and amount > available:
            expected = InsufficientFunds
        placed = await self.attempt(
            "hold",
            expected,
            lambda conn: place_hold(
                conn,
                card.id,
                amount,
                CURRENCY,
                self.runtime.policy,
                Origin(),
                self.now,
                expires_in=lifetime,
            ),
        )
        if placed:
            self.model.lapse(card, self.now)
            hold = MHold(placed["id"], card.id, amount, self.now + timedelta(seconds=lifetime))
            self.model.holds[hold.id] = hold
            card.holds.append(hold)
            card.version += 1
        await self.step_done()

    async def capture(self, pick: int, portion: int | str | None) -> None:
        """Capture all (None), a percentage, or more than the hold ("over")."""
        hold = self.hold(pick)
        card = self.model.cards[hold.card_id]
        amount = (
            None
            if portion is None
            else hold.amount + 1
            if portion == "over"
            else max(1, hold.amount * int(portion) // 100)
        )
        take = hold.amount if amount is None else amount
        expected: Error = None
        if hold.state != "open" or hold.expires_at <= self.now:
            expected = InvalidState
        elif not 0 < take <= hold.amount:
            expected = InvalidRequest
        else:
            expected = card.spend_error(self.now)
        done = await self.attempt(
            "capture",
            expected,
            lambda conn: capture_hold(conn, hold.id, amount, Origin(), self.now),
        )
        if done is not None:
            _, written = done
            self.model.lapse(card, self.now)  # while the hold still counts in ``held``
            hold.state, hold.captured = "captured", take
            spent = self.model.burn(card, take, "redeemed")  # may spend expired value kept for it
            self.model.redemptions.append(MRedemption(written.activity["id"], card.id, take, spent))
            self.model.record(card, extra=1)
        await self.step_done()

    async def void(self, pick: int) -> None:
        hold = self.hold(pick)
        expected = InvalidState if hold.state != "open" else None
        done = await self.attempt("void", expected, lambda conn: void_hold(conn, hold.id, self.now))
        if done is not None:
            hold.state = "voided"
            self.model.cards[hold.card_id].version += 1
        await self.step_done()

    async def advance(self, step: timedelta, run_job: bool) -> None:
        """Time passes; the expiry job runs (or hasn't yet)."""
        self.now += step
        if run_job:
            report = await run_expiry(self.runtime.db, self.now)
            expected = self.model.expire(self.now)
            assert (report.cards, report.lots, report.holds) == expected, "expiry report"
            self.outcomes[("expiry", "done")] += 1
        await self.step_done()


# Hypothesis: random sequences on a fresh SQLite database per example

AMOUNTS = st.one_of(st.integers(1, 3000), st.sampled_from(["all", "over"]))
PICK = st.integers(0, 1_000)
VALUE = st.integers(1, 5000)


class LedgerMachine(RuleBasedStateMachine):
    template: Path  # a migrated SQLite file, set by the test
    workdir: Path

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.Runner()
        self.directory = Path(tempfile.mkdtemp(dir=self.workdir))
        target = self.directory / "ledger.sqlite"
        shutil.copy(self.template, target)
        runtime = Runtime.from_settings(
            Settings(
                database_url=f"sqlite+aiosqlite:///{target}",
                data_dir=self.directory,
                secret_key=SECRET,
                pool_size=2,
            )
        )
        self.driver = Driver(runtime)

    def run(self, step: Coroutine[Any, Any, None]) -> None:
        self.loop.run(step)

    def teardown(self) -> None:
        self.loop.run(self.driver.runtime.db.dispose())
        self.loop.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    def has_cards(self) -> bool:
        return bool(self.driver.model.cards)

    def has_holds(self) -> bool:
        return bool(self.driver.model.holds)

    @rule(
        value=VALUE,
        lot_expiry=st.sampled_from(PAID_LOT_EXPIRIES),
        card_expiry=st.sampled_from(PAID_CARD_EXPIRIES),
    )
    def issue_paid_card(self, value, lot_expiry, card_expiry):
        self.run(self.driver.issue(LotKind.PAID, value, lot_expiry, card_expiry))

    @rule(
        value=VALUE,
        lot_expiry=st.sampled_from(PROMO_LOT_EXPIRIES),
        card_expiry=st.sampled_from(PROMO_CARD_EXPIRIES),
    )
    def issue_promotional_card(self, value, lot_expiry, card_expiry):
        self.run(self.driver.issue(LotKind.PROMOTIONAL, value, lot_expiry, card_expiry))

    @rule(card_expiry=st.sampled_from(PAID_CARD_EXPIRIES))
    def issue_pending_card(self, card_expiry):
        self.run(self.driver.issue(LotKind.PAID, None, None, card_expiry))

    @precondition(has_cards)
    @rule(pick=PICK, value=st.none() | VALUE)
    def activate(self, pick, value):
        self.run(self.driver.add_value(A.ACTIVATE, pick, value, LotKind.PAID))

    @precondition(has_cards)
    @rule(
        pick=PICK,
        value=VALUE,
        kind=st.sampled_from(LOAD_KINDS),
        expiry=st.sampled_from(LOAD_EXPIRIES),
    )
    def load(self, pick, value, kind, expiry):
        self.run(self.driver.add_value(A.LOAD, pick, value, kind, expiry))

    @precondition(has_cards)
    @rule(pick=PICK, amount=AMOUNTS, currency=st.sampled_from(CURRENCIES))
    def redeem(self, pick, amount, currency):
        self.run(self.driver.redeem(pick, amount, currency))

    @precondition(has_cards)
    @rule(pick=PICK, amount=AMOUNTS, redemption=st.none() | PICK)
    def refund(self, pick, amount, redemption):
        self.run(self.driver.refund(pick, amount, redemption))

    @precondition(has_cards)
    @rule(pick=PICK, value=VALUE)
    def adjust_increment(self, pick, value):
        self.run(self.driver.add_value(A.ADJUST_INCREMENT, pick, value, LotKind.PAID))

    @precondition(has_cards)
    @rule(pick=PICK, amount=AMOUNTS)
    def adjust_decrement(self, pick, amount):
        self.run(self.driver.adjust_decrement(pick, amount))

    @precondition(has_cards)
    @rule(
        pick=PICK,
        kind=st.sampled_from([A.FREEZE, A.UNFREEZE, A.FREEZE, A.UNFREEZE, A.CLEAR_BALANCE]),
    )
    def freeze_unfreeze_or_clear(self, pick, kind):
        self.run(self.driver.change_state(kind, pick))

    @precondition(has_cards)
    @rule(pick=PICK)
    def deactivate(self, pick):
        self.run(self.driver.change_state(A.DEACTIVATE, pick))

    @precondition(has_cards)
    @rule(pick=PICK, amount=AMOUNTS, lifetime=st.sampled_from(HOLD_LIFETIMES))
    def place_hold(self, pick, amount, lifetime):
        self.run(self.driver.place_hold(pick, amount, lifetime))

    @precondition(has_holds)
    @rule(pick=PICK, portion=st.none() | st.integers(1, 99) | st.just("over"))
    def capture(self, pick, portion):
        self.run(self.driver.capture(pick, portion))

    @precondition(has_holds)
    @rule(pick=PICK)
    def void(self, pick):
        self.run(self.driver.void(pick))

    @rule(step=st.sampled_from(TIME_STEPS), run_job=st.booleans())
    def time_passes(self, step, run_job):
        self.run(self.driver.advance(step, run_job))


def test_every_invariant_holds_after_every_step_of_random_operations(sqlite_template, tmp_path):
    LedgerMachine.template = sqlite_template
    LedgerMachine.workdir = tmp_path
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )


# A fixed random sequence, on every engine


async def random_step(driver: Driver, rng: random.Random) -> None:
    """One operation chosen and parameterised by ``rng`` (the same menu as the machine)."""
    pick = rng.randrange(1_000)
    amount: AmountSpec = rng.choice([rng.randint(1, 3000), rng.randint(1, 500), "all", "over"])
    operations = ["issue_paid", "issue_promotional", "issue_pending"]
    if driver.model.cards:
        operations += ["activate", "load", "load", "redeem", "redeem", "redeem", "refund"]
        operations += ["refund_redemption", "refund_redemption", "adjust_increment"]
        operations += ["adjust_decrement", "freeze", "unfreeze", "clear", "hold", "hold"]
        operations += ["deactivate"] if rng.random() < 0.3 else []
    if driver.model.holds:
        operations += ["capture", "capture", "void"]
    operations += ["time"]
    operation = rng.choice(operations)
    if operation == "issue_paid":
        await driver.issue(
            LotKind.PAID,
            rng.randint(1, 5000),
            rng.choice(PAID_LOT_EXPIRIES),
            rng.choice(PAID_CARD_EXPIRIES),
        )
    elif operation == "issue_promotional":
        await driver.issue(
            LotKind.PROMOTIONAL,
            rng.randint(1, 5000),
            rng.choice(PROMO_LOT_EXPIRIES),
            rng.choice(PROMO_CARD_EXPIRIES),
        )
    elif operation == "issue_pending":
        await driver.issue(LotKind.PAID, None, None, rng.choice(PAID_CARD_EXPIRIES))
    elif operation == "activate":
        await driver.add_value(
            A.ACTIVATE, pick, rng.choice([None, rng.randint(1, 5000)]), LotKind.PAID
        )
    elif operation == "load":
        await driver.add_value(
            A.LOAD, pick, rng.randint(1, 5000), rng.choice(LOAD_KINDS), rng.choice(LOAD_EXPIRIES)
        )
    elif operation == "redeem":
        await driver.redeem(pick, amount, rng.choice(CURRENCIES))
    elif operation == "refund":
        await driver.refund(pick, amount, None)
    elif operation == "refund_redemption":
        await driver.refund(pick, amount, rng.randrange(1_000))
    elif operation == "adjust_increment":
        await driver.add_value(A.ADJUST_INCREMENT, pick, rng.randint(1, 2000), LotKind.PAID)
    elif operation == "adjust_decrement":
        await driver.adjust_decrement(pick, amount)
    elif operation in ("freeze", "unfreeze", "clear", "deactivate"):
        kind = {"clear": A.CLEAR_BALANCE}.get(operation) or ActivityType(operation)
        await driver.change_state(kind, pick)
    elif operation == "hold":
        await driver.place_hold(pick, amount, rng.choice(HOLD_LIFETIMES))
    elif operation == "capture":
        await driver.capture(pick, rng.choice([None, rng.randint(1, 99), "over"]))
    elif operation == "void":
        await driver.void(pick)
    else:
        await driver.advance(rng.choice(TIME_STEPS), run_job=rng.random() < 0.8)


async def test_a_fixed_random_sequence_of_two_hundred_operations_keeps_every_invariant(runtime):
    driver = Driver(runtime, audit_every_step=False)
    rng = random.Random(20300101)
    for number in range(200):
        await random_step(driver, rng)
        if number % 20 == 19:
            await driver.audit()
    await driver.advance(FIVE_YEARS * 2, run_job=True)
    await driver.audit()

    done = {name for name, outcome in driver.outcomes if outcome == "done"}
    refused = {name for name, outcome in driver.outcomes if outcome != "done"}
    assert {"issue", "load", "redeem", "refund", "hold", "capture", "expiry"} <= done
    assert {"redeem", "refund"} <= refused
    assert any(r.restored for r in driver.model.redemptions), "no refund of a redemption ran"


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_other_fixed_sequences_keep_every_invariant_after_every_step(runtime, seed):
    driver = Driver(runtime)
    rng = random.Random(seed)
    for _ in range(60):
        await random_step(driver, rng)
