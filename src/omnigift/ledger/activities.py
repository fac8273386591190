"""Applying an activity to a card: check the rules under the card's lock, then write it.

An activity that takes value (redeem, adjust_decrement) first lapses the card's lots past their
expiry (``lapsing``), in the same transaction: a refusal rolls that back with everything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db.tables import activities, holds
from omnigift.events.catalogue import EventType
from omnigift.ledger.cards import (
    NEEDS_AMOUNT,
    NEXT_STATE,
    REQUESTABLE,
    TAKES_NO_AMOUNT,
    ActivityType,
    CardState,
    check_activity,
    check_lot_expiry,
)
from omnigift.ledger.errors import InvalidRequest, NotFound, RefundExceedsRedemption
from omnigift.ledger.issuing import LotSpec
from omnigift.ledger.lapsing import lapse_lots, lapse_plan
from omnigift.ledger.lots import (
    Lot,
    LotKind,
    Movement,
    after_movements,
    plan_burn,
    plan_restore,
)
from omnigift.ledger.origin import Origin
from omnigift.ledger.policy import LedgerPolicy
from omnigift.ledger.postings import (
    SINK_OF,
    SOURCE_OF_LOT,
    SystemAccount,
    credit_card,
    debit_card,
)
from omnigift.ledger.records import (
    CardRecord,
    CardWithLots,
    Change,
    NewLot,
    PlannedWrite,
    Written,
    lock_card,
    open_lots,
    plan_write,
    read_card_with_lots,
    write_activity,
)
from omnigift.ledger.views import hold_view
from omnigift.ledger.wallets import is_wallet_id


@dataclass(frozen=True)
class ActivityRequest:
    """What a client asks to happen to a card."""

    type: ActivityType
    amount: int | None = None
    currency: str | None = None
    reason: str | None = None
    reference: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    redeem_activity_id: str | None = None
    lot: LotSpec | None = None
    allow_partial: bool = False  # redeem: take what is available, up to the amount


def check_request(request: ActivityRequest) -> None:
    """Refuse a malformed request before touching the database."""
    kind = request.type
    if kind not in REQUESTABLE:
        raise InvalidRequest(f"{kind} activities are recorded by the system only", field="type")
    if kind in NEEDS_AMOUNT and request.amount is None:
        raise InvalidRequest(f"a {kind} activity needs an amount", field="amount")
    if kind in TAKES_NO_AMOUNT and request.amount is not None:
        raise InvalidRequest(f"a {kind} activity takes no amount", field="amount")
    if request.amount is not None and request.amount <= 0:
        raise InvalidRequest("amounts must be positive", field="amount.amount")
    if kind in (ActivityType.ADJUST_INCREMENT, ActivityType.ADJUST_DECREMENT) and not (
        request.reason and request.reason.strip()
    ):
        raise InvalidRequest("an adjustment needs a reason", field="reason")
    if request.redeem_activity_id and kind is not ActivityType.REFUND:
        raise InvalidRequest("only a refund names a redemption", field="redeem_activity_id")


async def apply_activity(
    conn: AsyncConnection,
    card_id: str,
    request: ActivityRequest,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
) -> Written:
    """Apply one requested activity to a card, or refuse it having written nothing."""
    check_request(request)
    card = await lock_card(conn, card_id)
    if card.is_wallet and request.type not in WALLET_ACTIVITIES:
        raise InvalidRequest(f"store credit takes no {request.type} activity", field="type")
    lots: list[Lot] | None = None  # read once, here, by the activities that take value
    if request.type in _LAPSES_FIRST:
        # Expired value is gone before availability is checked, not only once the job has run.
        card, lots = await lapse_lots(conn, card, await open_lots(conn, card.id), now)
    change = await _change(conn, card, lots, request, policy, origin, now)
    return await write_activity(conn, change, now)


async def plan_redeem_unlocked(
    conn: AsyncConnection | None,
    card_id: str,
    request: ActivityRequest,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
    *,
    known: CardWithLots | None = None,
) -> PlannedWrite | None:
    """Plan a gift card redeem from one read of the card and its lots, WITHOUT the lock.

    The caller writes it with ``write_planned(..., seen_version=<the card's version as read>)``,
    which writes nothing if the card moved meanwhile. With ``known`` (the card and its lots as
    the caller read them, or as its previous write left them: ``PlannedWrite.known_after``)
    nothing is read here, and no connection is needed: the guarded write checks it all the
    same. None when the redeem cannot be planned this way (another activity, a store credit, no
    such card, value due to lapse first, nothing known and no connection to read on): the caller
    then takes ``apply_activity``. Refusals raise as there.
    """
    if request.type is not ActivityType.REDEEM or is_wallet_id(card_id):
        return None
    check_request(request)
    read = known
    if read is None and conn is not None:
        read = await read_card_with_lots(conn, card_id)
    if read is None:
        return None
    card, lots = read
    if lapse_plan(card, lots, now):
        return None
    change = _checked_change(card, request, origin, now)
    _spend(change, lots, now)
    planned = plan_write(change, now)
    planned.known_after = (planned.after, after_movements(lots, change.lot_movements))
    return planned


async def _change(
    conn: AsyncConnection,
    card: CardRecord,
    lots: list[Lot] | None,
    request: ActivityRequest,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
) -> Change:
    """What the activity does to the card as read, once the rules allow it."""
    change = _checked_change(card, request, origin, now)
    await _BUILDERS[request.type](conn, change, request, policy, now, lots)
    return change


def _checked_change(
    card: CardRecord, request: ActivityRequest, origin: Origin, now: datetime
) -> Change:
    """The activity on the card as read, its amount settled and the card's rules checked; what it
    moves is left to its builder."""
    amount = request.amount
    if request.allow_partial and request.type is ActivityType.REDEEM and amount is not None:
        amount = min(amount, card.balance - card.held) or amount  # nothing left: refused below
    check_activity(card.snapshot(), request.type, amount, request.currency, now)
    return Change(
        card=card,
        type=request.type,
        origin=origin,
        amount=amount,
        reason=request.reason,
        reference=request.reference,
        metadata=request.metadata,
        state_after=NEXT_STATE.get(request.type),
    )


async def _add_value(
    conn: AsyncConnection,
    change: Change,
    request: ActivityRequest,
    policy: LedgerPolicy,
    now: datetime,
    lots: list[Lot] | None,
    *,
    default_kind: LotKind,
    source: SystemAccount | None = None,
) -> None:
    """A new lot of value on the card (activate with a value, load, refund, adjust up)."""
    card = change.card
    if change.amount is None and change.type is ActivityType.ACTIVATE:
        change.amount = card.initial_value  # a printed denomination, loaded on activation
    if change.amount is None:
        return
    spec = request.lot or LotSpec(kind=default_kind)
    check_lot_expiry(spec.kind, spec.expires_at, now, policy.min_paid_expiry)
    if spec.kind is LotKind.PAID:
        check_lot_expiry(LotKind.PAID, card.expires_at, now, policy.min_paid_expiry)
    change.new_lot = NewLot(spec.kind, change.amount, spec.expires_at)
    change.postings = credit_card(
        card.id, card.currency, change.amount, source or SOURCE_OF_LOT[spec.kind]
    )


def _take_value(
    change: Change, lots: list[Lot], amount: int, *, at: datetime | None = None
) -> None:
    """Spend ``amount`` from the card's lots in burn order, into the activity's sink account.

    With ``at`` no lot past its expiry then is spent; the caller lapsed them first, so what is left
    of them is at most ``held`` and the other lots cover the ``balance - held`` it checked.
    """
    card = change.card
    plan = plan_burn(lots, amount, at=at)
    change.lot_movements = [(lot_id, -moved) for lot_id, moved in plan]
    change.postings = debit_card(card.id, card.currency, amount, SINK_OF[change.type])


async def _redeem(
    conn: AsyncConnection,
    change: Change,
    request: ActivityRequest,
    policy: LedgerPolicy,
    now: datetime,
    lots: list[Lot] | None,
) -> None:
    """Redeem or adjust_decrement: lots were lapsed at ``now``, so never spend one past expiry."""
    assert lots is not None
    _spend(change, lots, now)


def _spend(change: Change, lots: list[Lot], now: datetime) -> None:
    assert change.amount is not None
    _take_value(change, lots, change.amount, at=now)


_adjust_decrement = _redeem


async def _refund(
    conn: AsyncConnection,
    change: Change,
    request: ActivityRequest,
    policy: LedgerPolicy,
    now: datetime,
    lots: list[Lot] | None,
) -> None:
    if request.redeem_activity_id is None:
        await _add_value(
            conn,
            change,
            request,
            policy,
            now,
            lots,
            default_kind=LotKind.REFUND,
            source=SystemAccount.REFUNDS,
        )
        return
    assert change.amount is not None
    change.redeem_activity_id = request.redeem_activity_id
    change.lot_movements = await _restore_plan(
        conn, change.card, request.redeem_activity_id, change.amount
    )
    change.postings = credit_card(
        change.card.id, change.card.currency, change.amount, SystemAccount.REDEEMED
    )


async def _restore_plan(
    conn: AsyncConnection, card: CardRecord, redeem_id: str, amount: int
) -> list[Movement]:
    """Which lots a refund of a named redemption restores; never more than is left of it."""
    redeemed = (
        await conn.execute(
            select(activities.c.amount, activities.c.lot_movements).where(
                activities.c.id == redeem_id,
                activities.c.account_id == card.id,
                activities.c.type == ActivityType.REDEEM.value,
            )
        )
    ).first()
    if redeemed is None:
        raise NotFound(f"no redemption {redeem_id} on this card")
    earlier = (
        await conn.execute(
            select(activities.c.amount, activities.c.lot_movements).where(
                activities.c.redeem_activity_id == redeem_id
            )
        )
    ).all()
    refunded = sum(row.amount for row in earlier)
    if amount > redeemed.amount - refunded:
        raise RefundExceedsRedemption(
            f"{redeemed.amount - refunded} of that redemption is left to refund", field="amount"
        )
    spent = [(lot_id, -moved) for lot_id, moved in redeemed.lot_movements or []]
    restored = [(lot_id, moved) for row in earlier for lot_id, moved in row.lot_movements or []]
    return plan_restore(spent, restored, amount)


async def _state_only(
    conn: AsyncConnection,
    change: Change,
    request: ActivityRequest,
    policy: LedgerPolicy,
    now: datetime,
    lots: list[Lot] | None,
) -> None:
    """Freeze, unfreeze, deactivate: a new state, no value moves."""


async def _clear_balance(
    conn: AsyncConnection,
    change: Change,
    request: ActivityRequest,
    policy: LedgerPolicy,
    now: datetime,
    lots: list[Lot] | None,
) -> None:
    """Take the whole balance off the card, releasing its open holds first."""
    card = change.card
    change.extra_events = await release_open_holds(conn, card.id, "voided", now)
    change.held_delta = -card.held
    if card.balance:  # everything, expired or not: no lapsing, no ``at``
        change.amount = card.balance
        _take_value(change, await open_lots(conn, card.id), card.balance)


async def release_open_holds(
    conn: AsyncConnection, card_id: str, state: str, now: datetime
) -> list[tuple[EventType, dict[str, Any]]]:
    """End every open hold of a locked card (``voided`` or ``expired``); their events."""
    rows = (
        await conn.execute(
            update(holds)
            .where(holds.c.account_id == card_id, holds.c.state == "open")
            .values(state=state, updated_at=now)
            .returning(*holds.c)
        )
    ).all()
    kind = EventType.HOLD_VOIDED if state == "voided" else EventType.HOLD_EXPIRED
    return [(kind, {"hold": hold_view(row._mapping)}) for row in rows]


# Each builder fills in what its activity type moves: lots, postings, holds released.
# ``lots`` are the card's open lots when ``apply_activity`` already read them (_LAPSES_FIRST).
Builder = Callable[
    [AsyncConnection, Change, ActivityRequest, LedgerPolicy, datetime, list[Lot] | None],
    Awaitable[None],
]
_BUILDERS: dict[ActivityType, Builder] = {
    ActivityType.ACTIVATE: partial(_add_value, default_kind=LotKind.PAID),
    ActivityType.LOAD: partial(_add_value, default_kind=LotKind.PAID),
    ActivityType.REDEEM: _redeem,
    ActivityType.REFUND: _refund,
    ActivityType.ADJUST_INCREMENT: partial(
        _add_value, default_kind=LotKind.PAID, source=SystemAccount.ADJUSTMENTS
    ),
    ActivityType.ADJUST_DECREMENT: _adjust_decrement,
    ActivityType.FREEZE: _state_only,
    ActivityType.UNFREEZE: _state_only,
    ActivityType.DEACTIVATE: _state_only,
    ActivityType.CLEAR_BALANCE: _clear_balance,
}
# A store credit wallet is always active: value moves in and out, its state never changes.
WALLET_ACTIVITIES = frozenset(
    {
        ActivityType.LOAD,
        ActivityType.REDEEM,
        ActivityType.REFUND,
        ActivityType.ADJUST_INCREMENT,
        ActivityType.ADJUST_DECREMENT,
    }
)
# Activities that take value lapse due lots first (clear_balance takes everything anyway).
_LAPSES_FIRST = frozenset({ActivityType.REDEEM, ActivityType.ADJUST_DECREMENT})

__all__ = [
    "ActivityRequest",
    "CardState",
    "apply_activity",
    "check_request",
    "plan_redeem_unlocked",
]
