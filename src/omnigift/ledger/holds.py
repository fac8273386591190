"""Holds: value reserved by a checkout now, captured (spent) or released later.

A hold lowers what is available, not the balance; its capture is a ``redeem`` activity. Every hold
command locks the card first, so holds and activities of one card never interleave.

Placing and capturing a hold first lapse the card's lots past their expiry (``lapsing``), like a
redeem does: ``available`` is then right when a hold is checked, and a capture spends no expired
value that was not kept back for open holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db.tables import holds
from omnigift.events.catalogue import EventType
from omnigift.events.outbox import PendingEvent, record
from omnigift.ids import new_id
from omnigift.ledger.cards import ActivityType, check_available, check_spendable
from omnigift.ledger.errors import CurrencyMismatch, InvalidRequest, InvalidState, NotFound
from omnigift.ledger.lapsing import lapse_lots
from omnigift.ledger.lots import plan_burn
from omnigift.ledger.origin import Origin
from omnigift.ledger.policy import LedgerPolicy
from omnigift.ledger.postings import SystemAccount, debit_card
from omnigift.ledger.records import (
    CardRecord,
    Change,
    Written,
    lock_card,
    move_account,
    open_lots,
    write_activity,
)
from omnigift.ledger.views import hold_view


async def place_hold(
    conn: AsyncConnection,
    card_id: str,
    amount: int,
    currency: str,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
    *,
    expires_in: int | None = None,
    reference: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Reserve ``amount`` of a card's available value until captured, voided or expired."""
    if amount <= 0:
        raise InvalidRequest("amounts must be positive", field="amount.amount")
    lifetime = timedelta(seconds=expires_in) if expires_in is not None else policy.default_hold
    if not timedelta(seconds=1) <= lifetime <= policy.max_hold:
        raise InvalidRequest(
            f"expires_in must be 1 to {int(policy.max_hold.total_seconds())} seconds",
            field="expires_in",
        )
    card = await lock_card(conn, card_id)
    if currency != card.currency:
        raise CurrencyMismatch(f"the card holds {card.currency}, not {currency}", field="amount")
    card, _ = await lapse_lots(conn, card, await open_lots(conn, card.id), now)
    snapshot = card.snapshot()
    check_spendable(snapshot, now)
    check_available(snapshot, amount)
    row = {
        "id": new_id("hold"),
        "account_id": card.id,
        "state": "open",
        "amount": amount,
        "currency": card.currency,
        "captured_amount": None,
        "capture_activity_id": None,
        "reference": reference,
        "channel": origin.channel,
        "location_id": origin.location_id,
        "api_key_id": origin.api_key_id,
        "expires_at": now + lifetime,
        "created_at": now,
        "updated_at": now,
    }
    await conn.execute(holds.insert().values(row))
    await _hold_event(conn, card, EventType.HOLD_CREATED, row, now, held_delta=amount)
    return hold_view(row)


async def capture_hold(
    conn: AsyncConnection, hold_id: str, amount: int | None, origin: Origin, now: datetime
) -> tuple[dict[str, Any], Written]:
    """Spend all or part of a hold (a ``redeem`` activity); the rest is released."""
    card, hold = await _lock_open_hold(conn, hold_id, now)
    take = hold["amount"] if amount is None else amount
    if not 0 < take <= hold["amount"]:
        raise InvalidRequest(
            f"a capture takes 1 to {hold['amount']} of this hold", field="amount.amount"
        )
    check_spendable(card.snapshot(), now)
    # Lapse first: with the hold's own amount still in ``held``, what stays of expired lots after
    # this is the value kept back for open holds. That value may be spent by the capture, so no
    # ``at``: burn order then spends it first (it expired soonest), before any unexpired lot, which
    # leaves as little as possible to lapse once the rest of the hold is released.
    card, lots = await lapse_lots(conn, card, await open_lots(conn, card.id), now)
    plan = plan_burn(lots, take)
    change = Change(
        card=card,
        type=ActivityType.REDEEM,
        origin=origin,
        amount=take,
        postings=debit_card(card.id, card.currency, take, SystemAccount.REDEEMED),
        lot_movements=[(lot_id, -moved) for lot_id, moved in plan],
        held_delta=-hold["amount"],
        reference=hold["reference"],
        hold_id=hold_id,
    )
    captured = {
        **hold,
        "state": "captured",
        "captured_amount": take,
        "capture_activity_id": change.activity_id,
        "updated_at": now,
    }
    change.extra_events = [(EventType.HOLD_CAPTURED, {"hold": hold_view(captured)})]
    await conn.execute(
        update(holds)
        .where(holds.c.id == hold_id)
        .values(
            state="captured",
            captured_amount=take,
            capture_activity_id=change.activity_id,
            updated_at=now,
        )
    )
    written = await write_activity(conn, change, now)
    return hold_view(captured), written


async def void_hold(conn: AsyncConnection, hold_id: str, now: datetime) -> dict[str, Any]:
    """Release a hold: its value is available again."""
    card, hold = await _lock_open_hold(conn, hold_id, now, allow_past_expiry=True)
    voided = {**hold, "state": "voided", "updated_at": now}
    await conn.execute(
        update(holds).where(holds.c.id == hold_id).values(state="voided", updated_at=now)
    )
    await _hold_event(conn, card, EventType.HOLD_VOIDED, voided, now, held_delta=-hold["amount"])
    return hold_view(voided)


async def expire_hold(conn: AsyncConnection, hold_id: str, now: datetime) -> bool:
    """Release a hold past its expiry (the background job); False if it was no longer open."""
    hold = await _find_hold(conn, hold_id)
    card = await lock_card(conn, hold["account_id"])
    hold = await _find_hold(conn, hold_id)
    if hold["state"] != "open" or hold["expires_at"] > now:
        return False
    expired = {**hold, "state": "expired", "updated_at": now}
    await conn.execute(
        update(holds).where(holds.c.id == hold_id).values(state="expired", updated_at=now)
    )
    await _hold_event(conn, card, EventType.HOLD_EXPIRED, expired, now, held_delta=-hold["amount"])
    return True


async def get_hold(conn: AsyncConnection, hold_id: str) -> dict[str, Any]:
    """A hold as the API shows it."""
    return hold_view(await _find_hold(conn, hold_id))


async def _find_hold(conn: AsyncConnection, hold_id: str) -> dict[str, Any]:
    row: Row[Any] | None = (await conn.execute(select(holds).where(holds.c.id == hold_id))).first()
    if row is None:
        raise NotFound(f"no hold {hold_id}")
    return dict(row._mapping)


async def _lock_open_hold(
    conn: AsyncConnection, hold_id: str, now: datetime, *, allow_past_expiry: bool = False
) -> tuple[CardRecord, dict[str, Any]]:
    """Lock the hold's card, then read the hold again: only then is its state settled."""
    hold = await _find_hold(conn, hold_id)
    card = await lock_card(conn, hold["account_id"])
    hold = await _find_hold(conn, hold_id)
    if hold["state"] != "open":
        raise InvalidState(f"the hold is {hold['state']}")
    if hold["expires_at"] <= now and not allow_past_expiry:
        raise InvalidState("the hold has expired")
    return card, hold


async def _hold_event(
    conn: AsyncConnection,
    card: CardRecord,
    kind: EventType,
    hold: dict[str, Any],
    now: datetime,
    *,
    held_delta: int,
) -> None:
    await move_account(conn, card.id, now, held_delta=held_delta)
    event = PendingEvent(
        kind, {"hold": hold_view(hold)}, account_id=card.id, sequence=card.version + 1
    )
    await record(conn, [event], now)
