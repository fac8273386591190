"""Reading the ledger: cards, their histories, the activity feed and the finance view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db.tables import accounts, activities, gift_cards, holds, postings
from omnigift.ledger.errors import NotFound
from omnigift.ledger.postings import SystemAccount
from omnigift.ledger.records import CardRecord, card_query, find_card
from omnigift.ledger.views import activity_view
from omnigift.ledger.wallets import is_wallet_id


@dataclass(frozen=True)
class Page:
    """One page of a list, oldest first; ``next_cursor`` is the id to continue after."""

    data: list[dict[str, Any]]
    next_cursor: str | None


async def get_card(conn: AsyncConnection, card_id: str) -> CardRecord:
    """A gift card (never a store credit wallet: those are reached through their customer)."""
    card = await find_card(conn, card_id) if not is_wallet_id(card_id) else None
    if card is None:
        raise NotFound(f"no gift card {card_id}")
    return card


@dataclass(frozen=True)
class CardFilter:
    state: str | None = None
    customer_id: str | None = None
    last4: str | None = None
    created_after: datetime | None = None


async def list_cards(
    conn: AsyncConnection, filters: CardFilter, limit: int, after: str | None
) -> tuple[list[CardRecord], str | None]:
    """Cards in creation order, filtered, one page at a time."""
    query = card_query()
    if filters.state:
        query = query.where(gift_cards.c.state == filters.state)
    if filters.customer_id:
        query = query.where(gift_cards.c.customer_id == filters.customer_id)
    if filters.last4:
        query = query.where(gift_cards.c.code_last4 == filters.last4)
    if filters.created_after:
        query = query.where(gift_cards.c.created_at > filters.created_after)
    if after:
        query = query.where(gift_cards.c.id > after)
    rows = (await conn.execute(query.order_by(gift_cards.c.id).limit(limit + 1))).all()
    cards = [CardRecord.from_row(row) for row in rows[:limit]]
    return cards, (cards[-1].id if len(rows) > limit else None)


@dataclass(frozen=True)
class ActivityFilter:
    card_id: str | None = None
    type: str | None = None
    channel: str | None = None
    created_after: datetime | None = None


async def list_activities(
    conn: AsyncConnection, filters: ActivityFilter, limit: int, after: str | None
) -> Page:
    """Activities oldest first: one card's history, or the whole feed."""
    query = select(activities)
    if filters.card_id:
        query = query.where(activities.c.account_id == filters.card_id)
    if filters.type:
        query = query.where(activities.c.type == filters.type)
    if filters.channel:
        query = query.where(activities.c.channel == filters.channel)
    if filters.created_after:
        query = query.where(activities.c.created_at > filters.created_after)
    if after:
        query = query.where(activities.c.id > after)
    rows = (await conn.execute(query.order_by(activities.c.id).limit(limit + 1))).all()
    data = [activity_view(row._mapping) for row in rows[:limit]]
    return Page(data, data[-1]["id"] if len(rows) > limit else None)


async def ledger_balances(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Per currency: outstanding card liability and each system account's balance.

    System balances are sums of postings (they have no stored balance), and ``holds`` is the value
    currently reserved by open holds. Liability is the sum of card balances, and store credit
    liability the sum of wallet balances; double entry makes the two together equal to minus the
    sum of all system postings.
    """
    liability = await conn.execute(
        select(accounts.c.currency, accounts.c.kind, func.sum(accounts.c.balance), func.count())
        .where(accounts.c.kind.in_(("gift_card", "store_credit")))
        .group_by(accounts.c.currency, accounts.c.kind)
    )
    system = await conn.execute(
        select(accounts.c.currency, accounts.c.id, func.coalesce(func.sum(postings.c.amount), 0))
        .join_from(accounts, postings, postings.c.account_id == accounts.c.id, isouter=True)
        .where(accounts.c.kind == "system")
        .group_by(accounts.c.currency, accounts.c.id)
    )
    held = await conn.execute(
        select(holds.c.currency, func.sum(holds.c.amount))
        .where(holds.c.state == "open")
        .group_by(holds.c.currency)
    )
    result: dict[str, dict[str, Any]] = {}

    def entry(currency: str) -> dict[str, Any]:
        return result.setdefault(
            currency,
            {
                "currency": currency,
                "outstanding_liability": {"amount": 0, "currency": currency},
                "card_count": 0,
                "store_credit_liability": {"amount": 0, "currency": currency},
                "store_credit_count": 0,
                "system_accounts": {
                    name.value: {"amount": 0, "currency": currency} for name in SystemAccount
                },
            },
        )

    for currency, kind, total, count in liability:
        owed, counted = (
            ("outstanding_liability", "card_count")
            if kind == "gift_card"
            else ("store_credit_liability", "store_credit_count")
        )
        entry(currency)[owed]["amount"] = int(total or 0)
        entry(currency)[counted] = int(count)
    for currency, account_id, total in system:
        name = account_id.removeprefix("sys_").rsplit("_", 1)[0]
        entry(currency)["system_accounts"][name]["amount"] = int(total)
    for currency, total in held:
        entry(currency)["system_accounts"][SystemAccount.HOLDS.value]["amount"] = int(total or 0)
    return [result[c] for c in sorted(result)]
