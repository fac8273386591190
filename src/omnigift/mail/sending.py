"""Sending the queued e-mails through SMTP, from the worker, never from a request.

Due e-mails are leased (so two workers never send one twice while both live), rendered with the
card's code unsealed at that moment, and sent with aiosmtplib. A failure is retried with growing
waits up to ``email_max_attempts``, then marked failed for staff; the error kept is the server's
answer, which never contains the message. Codes appear in the message only: never in the queue,
the log or an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import aiosmtplib
import structlog
from sqlalchemy import Row, bindparam, or_, select, update

from omnigift.codes import CodeVault, format_code
from omnigift.config import Settings
from omnigift.db.engine import Database
from omnigift.db.leases import Due, lease
from omnigift.db.tables import emails
from omnigift.ledger.records import find_card
from omnigift.mail.rendering import Brand, Rendered, render
from omnigift.money import display

log = structlog.get_logger()
BATCH = 20
LEASE_SECONDS = 60.0


@dataclass(frozen=True)
class MailSettings:
    host: str | None
    port: int
    username: str | None
    password: str | None
    starttls: bool
    tls: bool
    timeout: float
    sender: str
    max_attempts: int
    brand: Brand

    @classmethod
    def from_settings(cls, settings: Settings) -> MailSettings:
        balance_url = f"{settings.public_url.rstrip('/')}/balance" if settings.public_url else None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
            tls=settings.smtp_tls,
            timeout=settings.smtp_timeout_seconds,
            sender=settings.email_from,
            max_attempts=settings.email_max_attempts,
            brand=Brand(
                settings.brand_name, settings.brand_color, settings.brand_logo_url, balance_url
            ),
        )


_DUE = Due(
    select(emails)
    .where(
        emails.c.state == "queued",
        emails.c.next_attempt_at <= bindparam("b_now"),
        or_(emails.c.claimed_until.is_(None), emails.c.claimed_until < bindparam("b_now")),
    )
    .order_by(emails.c.next_attempt_at)
    .limit(BATCH),
    emails,
)


async def send_due(db: Database, vault: CodeVault, mail: MailSettings, now: datetime) -> int:
    """Send the e-mails that are due; how many were tried."""
    if mail.host is None:
        return 0  # kept queued until a server is configured
    rows = await lease(db, _DUE, now, LEASE_SECONDS, {"b_now": now})
    for row in rows:
        await _send_one(db, vault, mail, row, now)
    return len(rows)


async def _send_one(
    db: Database, vault: CodeVault, mail: MailSettings, row: Row[Any], now: datetime
) -> None:
    try:
        async with db.read() as conn:
            context = dict(row.context)
            if row.account_id:
                context.update(await _account_context(conn, vault, row.account_id))
        message = compose(mail, row.to_address, render(row.kind, context, mail.brand))
        await aiosmtplib.send(
            message,
            hostname=mail.host,
            port=mail.port,
            username=mail.username,
            password=mail.password,
            start_tls=mail.starttls,
            use_tls=mail.tls,
            timeout=mail.timeout,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        await _failed(db, mail, row, now, f"{type(exc).__name__}: {exc}"[:500])
        return
    async with db.transaction() as conn:
        await conn.execute(
            update(emails)
            .where(emails.c.id == row.id)
            .values(state="sent", sent_at=now, attempts=row.attempts + 1, claimed_until=None)
        )
    log.info("email.sent", email_id=row.id, kind=row.kind)


async def _failed(
    db: Database, mail: MailSettings, row: Row[Any], now: datetime, error: str
) -> None:
    attempts = row.attempts + 1
    final = attempts >= mail.max_attempts
    wait = timedelta(seconds=min(3600, 10 * 2 ** (attempts - 1)))
    async with db.transaction() as conn:
        await conn.execute(
            update(emails)
            .where(emails.c.id == row.id)
            .values(
                state="failed" if final else "queued",
                attempts=attempts,
                next_attempt_at=now + wait,
                claimed_until=None,
                last_error=error,
            )
        )
    log.warning("email.failed", email_id=row.id, kind=row.kind, attempts=attempts, final=final)


async def _account_context(conn: Any, vault: CodeVault, account_id: str) -> dict[str, Any]:
    """The card (with its code, unsealed now) or the store credit the e-mail is about."""
    account = await find_card(conn, account_id)
    if account is None:
        return {}
    shown = {
        "balance": display(account.balance, account.currency),
        "expires_at": account.expires_at.date().isoformat() if account.expires_at else None,
    }
    if account.is_wallet:
        return {"store_credit": shown, "card": None}
    code = format_code(vault.unseal(account.code_sealed))
    return {"card": {**shown, "code": code, "last4": account.code_last4}, "store_credit": None}


def compose(mail: MailSettings, to: str, rendered: Rendered) -> EmailMessage:
    """A multipart message: text, and HTML with its inline images."""
    message = EmailMessage()
    message["From"] = mail.sender
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Message-ID"] = make_msgid(domain="omnigift")
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    for part in message.iter_parts():
        if part.get_content_type() == "text/html":
            for cid, png in rendered.images.items():
                part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>")
    return message
