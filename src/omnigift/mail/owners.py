"""A person asking for their cards again (a storefront's or balance page's "e-mail me my gift
cards"): every active card with value that is theirs — given to their e-mail, or owned by the
live customer with that e-mail — is e-mailed to that address, and only to it.

Each card goes at most once an hour, so the call can't flood an inbox; the caller never learns
whether there were any (the route answers the same either way).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.customers.profiles import normalize_email
from omnigift.db.tables import accounts, customers, gift_cards
from omnigift.mail.outbox import queue_email

WINDOW_SECONDS = 3600
MAX_CARDS = 25  # a person with more is helped by staff, not by a burst of e-mails


async def resend_to_owner(conn: AsyncConnection, email: str, now: datetime) -> int:
    """Queue a ``card_delivered`` e-mail to ``email`` for each card that is theirs; how many
    cards were found (whether or not they went out within the last hour already)."""
    address = normalize_email(email)
    theirs = select(customers.c.id).where(
        customers.c.email == address, customers.c.merged_into.is_(None)
    )
    rows = (
        await conn.execute(
            select(gift_cards.c.id, gift_cards.c.recipient, gift_cards.c.recipient_email)
            .join(accounts, accounts.c.id == gift_cards.c.id)
            .where(
                gift_cards.c.state == "active",
                accounts.c.balance > 0,
                or_(
                    gift_cards.c.recipient_email == address,
                    gift_cards.c.customer_id.in_(theirs),
                ),
            )
            .order_by(gift_cards.c.id)
            .limit(MAX_CARDS)
        )
    ).all()
    window = int(now.timestamp()) // WINDOW_SECONDS
    for row in rows:
        recipient = (row.recipient or {}) if row.recipient_email == address else {}
        context = {"name": recipient.get("name"), "message": None, "sender": None}
        await queue_email(
            conn,
            "card_delivered",
            f"owner:{row.id}:{window}",
            address,
            context,
            now,
            account_id=row.id,
        )
    return len(rows)
