"""Reminders: value that expires soon, or value left unused for a long time.

Looked for by the worker every ``email_reminder_interval_seconds`` (an hour): active cards that
hold value and whose holder we can e-mail (the card's recipient, else its customer), and store
credit wallets that hold value (their customer). An expiry reminder goes once per card or wallet
within the reminder window, before the card's own expiry or a lot's (a promotional bonus); a
balance reminder at most once per ``email_balance_reminder_days`` of inactivity.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, null, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db.engine import Database
from omnigift.db.tables import accounts, customers, emails, gift_cards, lots, store_credit_wallets
from omnigift.db.types import UTCDateTime
from omnigift.mail.outbox import queue_email
from omnigift.money import display

PAGE = 500


async def queue_reminders(
    db: Database, now: datetime, *, expiry_days: int, balance_days: int
) -> int:
    """Queue the reminders that are due now; how many were queued."""
    queued = 0
    async with db.transaction() as conn:
        for holders in (_cards(), _wallets()):
            if expiry_days:
                queued += await _expiring(conn, holders, now, timedelta(days=expiry_days))
            if balance_days:
                queued += await _unused(conn, holders, now, timedelta(days=balance_days))
    return queued


@dataclass(frozen=True)
class _Holders:
    """Accounts holding value with whom to write to: ``query`` has the columns ``id``,
    ``currency``, ``recipient``, ``expires_at``, ``balance``, ``customer_email`` and
    ``customer_name``; ``id`` is the account id column it pages by; ``expires_at`` the
    column of an expiry of the whole account (a card's), None where there is none (a wallet)."""

    id: Any
    query: Any
    expires_at: Any = None


async def _expiring(
    conn: AsyncConnection, holders: _Holders, now: datetime, within: timedelta
) -> int:
    horizon = now + within
    soonest_lot = type_coerce(  # typed, so SQLite's text comes back as an aware datetime
        select(func.min(lots.c.expires_at))
        .where(lots.c.account_id == holders.id, lots.c.remaining > 0, lots.c.expires_at > now)
        .scalar_subquery(),
        UTCDateTime(),
    )
    lot_due = exists().where(
        lots.c.account_id == holders.id,
        lots.c.remaining > 0,
        lots.c.expires_at > now,
        lots.c.expires_at <= horizon,
    )
    due: Any = lot_due
    if holders.expires_at is not None:
        due = holders.expires_at.between(now, horizon) | lot_due
    reminded = exists().where(
        emails.c.kind == "expiry_reminder",
        emails.c.account_id == holders.id,
        emails.c.created_at > now - within,
    )
    query = holders.query.add_columns(soonest_lot.label("lot_ends")).where(due, ~reminded)
    count = 0
    async for row in _pages(conn, holders.id, query):
        to, name = _addressee(row)
        if not to:
            continue
        ends = min(e for e in (row.expires_at, row.lot_ends) if e is not None and e > now)
        context = {
            "name": name,
            "balance": display(row.balance, row.currency),
            "expires_at": ends.date().isoformat(),
        }
        reference = f"expiry:{row.id}:{ends.date().isoformat()}"
        await queue_email(conn, "expiry_reminder", reference, to, context, now, account_id=row.id)
        count += 1
    return count


async def _unused(conn: AsyncConnection, holders: _Holders, now: datetime, idle: timedelta) -> int:
    since = now - idle
    reminded = exists().where(
        emails.c.kind == "balance_reminder",
        emails.c.account_id == holders.id,
        emails.c.created_at > since,
    )
    query = holders.query.where(accounts.c.updated_at <= since, ~reminded)
    period = int(now.timestamp() // idle.total_seconds())
    count = 0
    async for row in _pages(conn, holders.id, query):
        to, name = _addressee(row)
        if not to:
            continue
        context = {"name": name, "balance": display(row.balance, row.currency)}
        reference = f"balance:{row.id}:{period}"
        await queue_email(conn, "balance_reminder", reference, to, context, now, account_id=row.id)
        count += 1
    return count


def _cards() -> _Holders:
    """Active cards holding value, with whom to write to."""
    query = (
        select(
            gift_cards.c.id,
            gift_cards.c.currency,
            gift_cards.c.recipient,
            gift_cards.c.expires_at,
            accounts.c.balance,
            customers.c.email.label("customer_email"),
            customers.c.name.label("customer_name"),
        )
        .join(accounts, accounts.c.id == gift_cards.c.id)
        .outerjoin(customers, customers.c.id == gift_cards.c.customer_id)
        .where(gift_cards.c.state == "active", accounts.c.balance > 0)
    )
    return _Holders(gift_cards.c.id, query, gift_cards.c.expires_at)


def _wallets() -> _Holders:
    """Store credit holding value, with its customer (a wallet has no expiry of its own; its
    lots may)."""
    wallets = store_credit_wallets
    query = (
        select(
            wallets.c.id,
            wallets.c.currency,
            null().label("recipient"),
            type_coerce(null(), UTCDateTime()).label("expires_at"),
            accounts.c.balance,
            customers.c.email.label("customer_email"),
            customers.c.name.label("customer_name"),
        )
        .join(accounts, accounts.c.id == wallets.c.id)
        .join(customers, customers.c.id == wallets.c.customer_id)
        .where(accounts.c.balance > 0)
    )
    return _Holders(wallets.c.id, query)


async def _pages(conn: AsyncConnection, id_column: Any, query: Any) -> AsyncIterator[Any]:
    """Every row of ``query``, a page at a time in account id order."""
    after = ""
    while True:
        rows = (
            await conn.execute(query.where(id_column > after).order_by(id_column).limit(PAGE))
        ).all()
        for row in rows:
            yield row
        if len(rows) < PAGE:
            return
        after = rows[-1].id


def _addressee(row: Any) -> tuple[str | None, str | None]:
    recipient = row.recipient or {}
    if recipient.get("email"):
        return str(recipient["email"]).lower(), recipient.get("name")
    return row.customer_email, row.customer_name
