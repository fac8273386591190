"""Queueing an e-mail in the transaction of what it announces: no refund without its e-mail,
no e-mail for a refund rolled back. The queue row is also the card's delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.clock import rfc3339
from omnigift.db.tables import emails
from omnigift.ids import new_id

KINDS = (
    "refund_issued",
    "bonus_granted",
    "card_delivered",
    "expiry_reminder",
    "balance_reminder",
)


async def queue_email(
    conn: AsyncConnection,
    kind: str,
    reference: str,
    to: str,
    context: dict[str, Any],
    now: datetime,
    *,
    account_id: str | None = None,
    send_at: datetime | None = None,
) -> dict[str, Any]:
    """Queue an e-mail, once per (kind, reference): the queued one. ``context`` must not hold a
    code: the sender unseals the card's code when it renders the message."""
    assert kind in KINDS and "code" not in context
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    row = {
        "id": new_id("em"),
        "kind": kind,
        "reference": reference,
        "account_id": account_id,
        "to_address": to,
        "context": context,
        "state": "queued",
        "attempts": 0,
        "send_at": send_at or now,
        "next_attempt_at": send_at or now,
        "claimed_until": None,
        "last_error": None,
        "sent_at": None,
        "created_at": now,
    }
    await conn.execute(
        dialect.insert(emails)
        .values(**row)
        .on_conflict_do_nothing(index_elements=["kind", "reference"])
    )
    found = select(emails).where(emails.c.kind == kind, emails.c.reference == reference)
    return email_view(dict((await conn.execute(found)).one()._mapping))


async def delivery_log(conn: AsyncConnection, account_id: str) -> list[dict[str, Any]]:
    """The e-mails about a card or wallet, oldest first."""
    rows = await conn.execute(
        select(emails).where(emails.c.account_id == account_id).order_by(emails.c.created_at)
    )
    return [email_view(dict(r._mapping)) for r in rows]


def email_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "kind": row["kind"],
        "to": row["to_address"],
        "state": row["state"],
        "attempts": row["attempts"],
        "send_at": rfc3339(row["send_at"]),
        "sent_at": rfc3339(row["sent_at"]),
        "next_attempt_at": rfc3339(row["next_attempt_at"]) if row["state"] == "queued" else None,
        "last_error": row["last_error"],
        "created_at": rfc3339(row["created_at"]),
    }
