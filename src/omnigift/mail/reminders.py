"""Reminders: a card whose value expires soon, or a card left unused for a long time.

Looked for by the worker every ``email_reminder_interval_seconds`` (an hour): active cards that
hold value and whose holder we can e-mail (the card's recipient, else its customer). An expiry
reminder goes once per card within the reminder window, before the card's own expiry or a lot's
(a promotional bonus); a balance reminder at most once per ``email_balance_reminder_days`` of
inactivity.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db.engine import Database
from omnigift.db.tables import accounts, customers, emails, gift_cards, lots
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
        if expiry_days:
            queued += await _expiring(conn, now, timedelta(days=expiry_days))
        if balance_days:
            queued += await _unused(conn, now, timedelta(days=balance_days))
    return queued


async def _expiring(conn: AsyncConnection, now: datetime, within: timedelta) -> int:
    horizon = now + within
    soonest_lot = type_coerce(  # typed, so SQLite's text comes back as an aware datetime
        select(func.min(lots.c.expires_at))
        .where(lots.c.account_id == gift_cards.c.id, lots.c.remaining > 0, lots.c.expires_at > now)
        .scalar_subquery(),
        UTCDateTime(),
    )
    lot_due = exists().where(
        lots.c.account_id == gift_cards.c.id,
        lots.c.remaining > 0,
        lots.c.expires_at > now,
        lots.c.expires_at <= horizon,
    )
    card_due = gift_cards.c.expires_at.between(now, horizon)
    reminded = exists().where(
        emails.c.kind == "expiry_reminder",
        emails.c.account_id == gift_cards.c.id,
        emails.c.created_at > now - within,
    )
    query = (
        _holders().add_columns(soonest_lot.label("lot_ends")).where(card_due | lot_due, ~reminded)
    )
    count = 0
    async for row in _pages(conn, query):
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


async def _unused(conn: AsyncConnection, now: datetime, idle: timedelta) -> int:
    since = now - idle
    reminded = exists().where(
        emails.c.kind == "balance_reminder",
        emails.c.account_id == gift_cards.c.id,
        emails.c.created_at > since,
    )
    query = _holders().where(accounts.c.updated_at <= since, ~reminded)
    period = int(now.timestamp() // idle.total_seconds())
    count = 0
    async for row in _pages(conn, query):
        to, name = _addressee(row)
        if not to:
            continue
        context = {"name": name, "balance": display(row.balance, row.currency)}
        reference = f"balance:{row.id}:{period}"
        await queue_email(conn, "balance_reminder", reference, to, context, now, account_id=row.id)
        count += 1
    return count


def _holders() -> Any:
    """Active cards holding value, with whom to write to."""
    return (
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


async def _pages(conn: AsyncConnection, query: Any) -> AsyncIterator[Any]:
    """Every row of ``query``, a page at a time in card id order."""
    after = ""
    while True:
        rows = (
            await conn.execute(
                query.where(gift_cards.c.id > after).order_by(gift_cards.c.id).limit(PAGE)
            )
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
