"""Granting promotions when something happens, in the same transaction as what happened.

For each active promotion of the occasion's trigger and currency whose conditions hold: the
promotion's row is locked (its budget is shared), the per-customer limit and the budget are
checked, and the reward is written as promotional value booked to the ``promotions`` account —
a ``load`` with a promotional lot on the same card or wallet, or a new card issued with a
promotional lot. The application is recorded once per promotion and occasion, so a retried
request or webhook never grants twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.clock import rfc3339
from omnigift.codes import format_code
from omnigift.customers.profiles import get_customer
from omnigift.db.tables import promotion_applications, promotions
from omnigift.ids import new_id
from omnigift.ledger.activities import ActivityRequest, apply_activity
from omnigift.ledger.cards import ActivityType, CardState, CardType
from omnigift.ledger.issuing import IssueCard, Issued, LotSpec, issue_card
from omnigift.ledger.lots import LotKind
from omnigift.ledger.origin import Origin
from omnigift.ledger.policy import LedgerPolicy
from omnigift.ledger.records import find_card, lock_card
from omnigift.mail.outbox import queue_email
from omnigift.money import display
from omnigift.promotions.rules import (
    Occasion,
    Target,
    Trigger,
    applies,
    parse_conditions,
    parse_reward,
)


async def grant(
    conn: AsyncConnection,
    occasion: Occasion,
    account_id: str | None,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
) -> list[dict[str, Any]]:
    """Every reward the occasion earns (``account_id``: the card or wallet it concerns, None
    for an occasion that concerns none, such as an order: it earns new cards only)."""
    granted = []
    for promotion_id in await _candidates(conn, occasion.trigger, occasion.currency):
        done = await _grant_one(conn, promotion_id, occasion, account_id, policy, origin, now)
        if done is not None:
            granted.append(done)
    return granted


async def on_card_purchased(
    conn: AsyncConnection,
    command: IssueCard,
    issued: Issued,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
) -> list[dict[str, Any]]:
    """A card issued with paid value (bought, not imported, refunded or given away) may earn
    a promotion such as "buy a $100 card, get a $20 bonus card"."""
    card = issued.written.card
    bought = (
        command.initial_value is not None
        and command.initial_lot.kind is LotKind.PAID
        and not command.imported
        and card.state is CardState.ACTIVE
    )
    if not bought:
        return []
    assert command.initial_value is not None
    occasion = _purchase(
        card.id, command.initial_value, card.currency, card.customer_id, origin, now
    )
    return await grant(conn, occasion, card.id, policy, origin, now)


async def on_card_sold(
    conn: AsyncConnection,
    card_id: str,
    amount: int,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
) -> list[dict[str, Any]]:
    """A card sold for ``amount`` at a till — activated with value through the tender API, or
    sold in a POS that keeps its own gift cards — earns promotions as one bought online does."""
    card = await lock_card(conn, card_id)
    occasion = _purchase(card.id, amount, card.currency, card.customer_id, origin, now)
    return await grant(conn, occasion, card.id, policy, origin, now)


def _purchase(
    card_id: str,
    amount: int,
    currency: str,
    customer_id: str | None,
    origin: Origin,
    now: datetime,
) -> Occasion:
    return Occasion(
        trigger=Trigger.CARD_PURCHASED,
        amount=amount,
        currency=currency,
        channel=origin.channel,
        at=now,
        reference=purchase_occasion(card_id),
        customer_id=customer_id,
    )


def kept_bonus(bonus: dict[str, Any]) -> dict[str, Any]:
    """A bonus as a stored answer keeps it: whether it made a new card, never that card's code
    (codes are sealed at rest; ``reveal_bonus_codes`` adds them to each answer)."""
    kept = {k: v for k, v in bonus.items() if k != "new_card_code"}
    return {**kept, "new_card": bool(bonus.get("new_card_code") or bonus.get("new_card"))}


async def reveal_bonus_codes(
    conn: AsyncConnection, bonuses: list[dict[str, Any]], policy: LedgerPolicy
) -> None:
    """Add the code of each new bonus card to a stored answer's bonuses, unsealed for the
    caller (the answer to a retried request shows them again)."""
    for bonus in bonuses:
        if bonus.get("new_card"):
            card = await find_card(conn, bonus["account_id"])
            assert card is not None
            bonus["new_card_code"] = format_code(policy.vault.unseal(card.code_sealed))


async def has_candidates(conn: AsyncConnection, trigger: Trigger, currency: str) -> bool:
    """Is any promotion of this trigger and currency switched on (worth finding a customer
    for)?"""
    return bool(await _candidates(conn, trigger, currency))


async def _candidates(conn: AsyncConnection, trigger: Trigger, currency: str) -> list[str]:
    found = select(promotions.c.id).where(
        promotions.c.trigger == trigger.value,
        promotions.c.currency == currency,
        promotions.c.active.is_(True),
    )
    return list((await conn.execute(found.order_by(promotions.c.id))).scalars())


def order_occasion(integration_id: str, order_id: str) -> str:
    """The occasion of a web store order: what its bonuses are recorded against."""
    return f"order:{integration_id}:{order_id}"


def purchase_occasion(card_id: str) -> str:
    """The occasion of a card's purchase: what its bonuses are recorded against."""
    return f"card:{card_id}"


async def bonus_cards(conn: AsyncConnection, occasion: str, besides: str) -> list[str]:
    """The new cards promotions issued for an occasion: every card rewarded but ``besides``
    (the card the occasion concerns, which may hold a bonus of its own)."""
    found = select(promotion_applications.c.account_id).where(
        promotion_applications.c.trigger_reference == occasion,
        promotion_applications.c.account_id != besides,
    )
    return list((await conn.execute(found.order_by(promotion_applications.c.account_id))).scalars())


async def _grant_one(
    conn: AsyncConnection,
    promotion_id: str,
    occasion: Occasion,
    account_id: str | None,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
) -> dict[str, Any] | None:
    locked = select(promotions).where(promotions.c.id == promotion_id).with_for_update()
    promotion = dict((await conn.execute(locked)).one()._mapping)
    amount = await _earned(conn, promotion, occasion)
    if amount is None:
        return None
    reward = parse_reward(promotion["reward"])
    lot = LotSpec(kind=LotKind.PROMOTIONAL, expires_at=reward.expiry(now))
    bonus = {"bonus": {"promotion_id": promotion_id, "occasion": occasion.reference}}
    code = None
    if reward.target is Target.NEW_CARD:
        command = IssueCard(
            type=CardType.DIGITAL,
            currency=occasion.currency,
            initial_value=amount,
            initial_lot=lot,
            expires_at=lot.expires_at,
            customer_id=occasion.customer_id,
            metadata=bonus,
        )
        issued = await issue_card(conn, command, policy, origin, now)
        rewarded, activity, code = issued.written.card.id, issued.written.activity, issued.code
        await _tell(conn, occasion, promotion["name"], rewarded, amount, lot.expires_at, now)
    else:
        assert account_id is not None, "promotions of this trigger reward new cards only"
        request = ActivityRequest(
            ActivityType.LOAD, amount, occasion.currency, metadata=bonus, lot=lot
        )
        activity = (await apply_activity(conn, account_id, request, policy, origin, now)).activity
        rewarded = account_id
    await _record(conn, promotion_id, occasion, rewarded, str(activity["id"]), amount, now)
    return {
        "promotion_id": promotion_id,
        "name": promotion["name"],
        "amount": {"amount": amount, "currency": occasion.currency},
        "expires_at": rfc3339(lot.expires_at),
        "account_id": rewarded,
        "activity_id": activity["id"],
        "new_card_code": format_code(code) if code else None,  # shown once, like any code
    }


async def _tell(
    conn: AsyncConnection,
    occasion: Occasion,
    promotion: str,
    card_id: str,
    amount: int,
    expires_at: datetime | None,
    now: datetime,
) -> None:
    """E-mail a new bonus card to its customer, when we know their e-mail."""
    if occasion.customer_id is None:
        return
    customer = await get_customer(conn, occasion.customer_id)
    if not customer["email"]:
        return
    context = {
        "name": customer["name"],
        "promotion": promotion,
        "amount": display(amount, occasion.currency),
        "expires_at": expires_at.date().isoformat() if expires_at else None,
    }
    await queue_email(
        conn, "bonus_granted", f"bonus:{card_id}", customer["email"], context, now,
        account_id=card_id,
    )  # fmt: skip


async def _earned(
    conn: AsyncConnection, promotion: dict[str, Any], occasion: Occasion
) -> int | None:
    """The reward this occasion earns from a locked promotion, or None: switched off, its
    conditions unmet, granted for this occasion before, the customer's limit reached, or a
    budget that can't cover it whole."""
    conditions = parse_conditions(promotion["conditions"])
    if not promotion["active"] or not applies(conditions, occasion):
        return None
    if await _already(conn, promotion["id"], occasion.reference):
        return None
    limit = conditions.per_customer_limit
    if (
        limit is not None
        and occasion.customer_id
        and await _grants_to(conn, promotion["id"], occasion.customer_id) >= limit
    ):
        return None
    amount = parse_reward(promotion["reward"]).amount_for(occasion.amount)
    budget = promotion["budget"]
    if amount <= 0 or (budget is not None and promotion["spent"] + amount > budget):
        return None
    return amount


async def _record(
    conn: AsyncConnection,
    promotion_id: str,
    occasion: Occasion,
    account_id: str,
    activity_id: str,
    amount: int,
    now: datetime,
) -> None:
    await conn.execute(
        insert(promotion_applications).values(
            id=new_id("grant"),
            promotion_id=promotion_id,
            trigger_reference=occasion.reference,
            customer_id=occasion.customer_id,
            account_id=account_id,
            activity_id=activity_id,
            amount=amount,
            created_at=now,
        )
    )
    await conn.execute(
        update(promotions)
        .where(promotions.c.id == promotion_id)
        .values(spent=promotions.c.spent + amount)
    )


async def _already(conn: AsyncConnection, promotion_id: str, reference: str) -> bool:
    found = select(promotion_applications.c.id).where(
        promotion_applications.c.promotion_id == promotion_id,
        promotion_applications.c.trigger_reference == reference,
    )
    return (await conn.execute(found)).first() is not None


async def _grants_to(conn: AsyncConnection, promotion_id: str, customer_id: str) -> int:
    counted = select(func.count()).where(
        promotion_applications.c.promotion_id == promotion_id,
        promotion_applications.c.customer_id == customer_id,
    )
    return int((await conn.execute(counted)).scalar_one())
