"""Lots past their expiry lapse: what is left of them goes to ``breakage``, an ``expire`` activity.

The one piece of code for lot expiry. The expiry job runs it on every card with due value, and
every command that takes value (redeem, adjust_decrement, placing or capturing a hold) runs it
first, under the same card lock and in the same transaction, so expired value is gone the moment
it expires, not only once the job comes by ("expire on touch").

Value reserved by open holds is not expired from under them: at most ``balance - held`` lapses in
total. What stays of due lots is therefore never more than ``held``, so the lots not yet expired
always hold at least ``balance - held``, the card's available value: a redemption that skips
expired lots (``plan_burn(..., at=now)``) can always find what availability promised, and a
capture may still spend the expired value kept for it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.ledger.cards import ActivityType
from omnigift.ledger.lots import Lot, Movement, after_movements, is_due
from omnigift.ledger.origin import SYSTEM
from omnigift.ledger.postings import SystemAccount, debit_card
from omnigift.ledger.records import CardRecord, Change, write_activity

REASON = "value expired"


def lapse_plan(card: CardRecord, lots: list[Lot], now: datetime) -> list[Movement]:
    """The (negative) movements that expire ``card``'s lots due at ``now``, none if nothing lapses.

    Due lots are taken in the order given (``open_lots``: creation order) until ``balance - held``
    is used up; the rest of them stays, kept for the card's open holds.
    """
    room = card.balance - card.held
    plan: list[Movement] = []
    for lot in lots:
        if room <= 0:
            break
        if not is_due(lot, now):
            continue
        take = min(lot.remaining, room)
        if take > 0:
            plan.append((lot.id, -take))
            room -= take
    return plan


async def lapse_lots(
    conn: AsyncConnection, card: CardRecord, lots: list[Lot], now: datetime
) -> tuple[CardRecord, list[Lot]]:
    """Expire what is due of a LOCKED card's open ``lots``: one ``expire`` activity, or nothing.

    Returns the card and its open lots as they stand afterwards (the same objects if nothing was
    due). The caller holds the card's lock (``lock_card``) and passes every open lot of the card.
    """
    plan = lapse_plan(card, lots, now)
    if not plan:
        return card, lots
    amount = -sum(moved for _, moved in plan)
    change = Change(
        card=card,
        type=ActivityType.EXPIRE,
        origin=SYSTEM,
        amount=amount,
        reason=REASON,
        lot_movements=plan,
        postings=debit_card(card.id, card.currency, amount, SystemAccount.BREAKAGE),
    )
    written = await write_activity(conn, change, now)
    return written.card, after_movements(lots, plan)
