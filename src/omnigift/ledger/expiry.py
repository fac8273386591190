"""The expiry job: cards past their expiry date, lots past theirs, holds past theirs.

Expired value moves to ``breakage`` with an ``expire`` activity. Each card is handled in its own
short transaction under its lock, so the job never blocks a till for long and can run on any
number of workers at once (a card already handled is simply skipped).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db.engine import Database
from omnigift.db.tables import accounts, gift_cards, holds, lots
from omnigift.ledger.activities import release_open_holds
from omnigift.ledger.cards import ActivityType, CardState
from omnigift.ledger.holds import expire_hold
from omnigift.ledger.lapsing import lapse_lots
from omnigift.ledger.lots import Movement
from omnigift.ledger.origin import SYSTEM
from omnigift.ledger.postings import SystemAccount, debit_card
from omnigift.ledger.records import Change, lock_card, open_lots, write_activity

BATCH = 500
_LIVE = (CardState.PENDING.value, CardState.ACTIVE.value, CardState.FROZEN.value)


@dataclass
class ExpiryReport:
    cards: int = 0
    lots: int = 0
    holds: int = 0


async def run_expiry(db: Database, now: datetime) -> ExpiryReport:
    """Expire everything due at ``now``; returns how many cards, lots and holds it ended."""
    report = ExpiryReport()
    report.holds = await _each(db, _due_holds, lambda c, i: expire_hold(c, i, now), now)
    report.cards = await _each(db, _due_cards, lambda c, i: expire_card(c, i, now), now)
    report.lots = await _each(db, _due_lot_cards, lambda c, i: expire_lots(c, i, now), now)
    return report


async def _each(
    db: Database,
    due: Callable[[AsyncConnection, datetime], Awaitable[list[str]]],
    handle: Callable[[AsyncConnection, str], Awaitable[bool]],
    now: datetime,
) -> int:
    done = 0
    while True:
        async with db.read() as conn:
            ids = await due(conn, now)
        progress = 0
        for item_id in ids:
            async with db.transaction() as conn:
                progress += await handle(conn, item_id)
        done += progress
        if len(ids) < BATCH or not progress:
            return done


async def _due_holds(conn: AsyncConnection, now: datetime) -> list[str]:
    query = select(holds.c.id).where(holds.c.state == "open", holds.c.expires_at <= now)
    return list((await conn.execute(query.limit(BATCH))).scalars())


async def _due_cards(conn: AsyncConnection, now: datetime) -> list[str]:
    query = select(gift_cards.c.id).where(
        gift_cards.c.state.in_(_LIVE), gift_cards.c.expires_at <= now
    )
    return list((await conn.execute(query.limit(BATCH))).scalars())


async def _due_lot_cards(conn: AsyncConnection, now: datetime) -> list[str]:
    # Only cards with value not under a hold: a card whose due value is all held can't make
    # progress, and a full batch of those would stop the job before it reached the others.
    query = (
        select(lots.c.account_id)
        .join(accounts, accounts.c.id == lots.c.account_id)
        .where(
            lots.c.remaining > 0,
            lots.c.expires_at <= now,
            accounts.c.balance > accounts.c.held,
        )
        .group_by(lots.c.account_id)
    )
    return list((await conn.execute(query.limit(BATCH))).scalars())


async def expire_card(conn: AsyncConnection, card_id: str, now: datetime) -> bool:
    """A card past its expiry: open holds end, the whole balance goes to breakage."""
    card = await lock_card(conn, card_id)
    if card.state.value not in _LIVE or card.expires_at is None or card.expires_at > now:
        return False
    change = Change(
        card=card,
        type=ActivityType.EXPIRE,
        origin=SYSTEM,
        state_after=CardState.EXPIRED,
        reason="card expired",
        held_delta=-card.held,
    )
    change.extra_events = await release_open_holds(conn, card.id, "expired", now)
    if card.balance:
        plan = [(lot.id, -lot.remaining) for lot in await open_lots(conn, card.id)]
        _take(change, plan, card.balance)
    await write_activity(conn, change, now)
    return True


async def expire_lots(conn: AsyncConnection, card_id: str, now: datetime) -> bool:
    """Lots past their expiry: what is left of them goes to breakage; the rest stays.

    Value reserved by an open hold is not expired from under it; it is expired once the hold ends.
    The rule itself is ``lapsing.lapse_lots``, which the commands that take value also run first.
    """
    card = await lock_card(conn, card_id)
    after, _ = await lapse_lots(conn, card, await open_lots(conn, card_id), now)
    return after is not card


def _take(change: Change, plan: list[Movement], amount: int) -> None:
    change.amount = amount
    change.lot_movements = plan
    change.postings = debit_card(
        change.card.id, change.card.currency, amount, SystemAccount.BREAKAGE
    )
