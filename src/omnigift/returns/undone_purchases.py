"""A card purchase undone — its order refunded, its till sale reversed, its web store order
refunded in full — takes back what it gave: the card and the bonus cards it earned.

A card nobody has used is cleared and deactivated. One already used, even in part, is left as it
is and flagged for staff (``refunded_card_spent``): value already spent can't be taken back, and
whether to chase it is the retailer's call (giftcard-apis.md section 5).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db.tables import activities
from omnigift.ledger.activities import ActivityRequest, apply_activity
from omnigift.ledger.cards import ActivityType, CardState
from omnigift.ledger.origin import Origin
from omnigift.ledger.policy import LedgerPolicy
from omnigift.ledger.records import lock_card
from omnigift.promotions.granting import bonus_cards
from omnigift.sync.exceptions import ExceptionKind, raise_exception


@dataclass(frozen=True)
class Undoing:
    """What undid a purchase, as staff will read it."""

    reference: str  # the refund or reversal: named on the exception
    why: str  # the reason on the clearing and deactivation
    integration_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


async def withdraw_bonuses(
    conn: AsyncConnection,
    occasion: str,
    besides: str,
    undoing: Undoing,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
) -> None:
    """Withdraw every new card promotions issued for ``occasion`` but ``besides`` (they lock
    in id order after it: cards are issued in id order, a bonus after what earned it)."""
    for bonus in await bonus_cards(conn, occasion, besides=besides):
        await withdraw_card(conn, bonus, undoing, policy, origin, now)


async def withdraw_card(
    conn: AsyncConnection,
    card_id: str,
    undoing: Undoing,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
) -> None:
    """Clear and deactivate the card if unused; otherwise leave it and flag it for staff."""
    card = await lock_card(conn, card_id)
    if card.state in (CardState.DEACTIVATED, CardState.EXPIRED):
        return
    used = (
        await conn.execute(
            select(func.coalesce(func.sum(activities.c.amount), 0)).where(
                activities.c.account_id == card_id,
                activities.c.type.in_(
                    (ActivityType.REDEEM.value, ActivityType.ADJUST_DECREMENT.value)
                ),
            )
        )
    ).scalar_one()
    if not used and not card.held:
        for kind in (ActivityType.CLEAR_BALANCE, ActivityType.DEACTIVATE):
            if kind is ActivityType.CLEAR_BALANCE and not card.balance:
                continue
            request = ActivityRequest(type=kind, reason=undoing.why)
            await apply_activity(conn, card_id, request, policy, origin, now)
        return
    await raise_exception(
        conn,
        now,
        kind=ExceptionKind.REFUNDED_CARD_SPENT,
        integration_id=undoing.integration_id,
        account_id=card_id,
        amount=int(used) or None,
        currency=card.currency,
        reference=undoing.reference,
        details={**undoing.details, "balance": card.balance},
    )
