"""Reminders: value about to expire, value left unused; each sent once, to whom we can write."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select

from omnigift.clock import utcnow
from omnigift.config import Settings
from omnigift.db.tables import emails
from omnigift.mail.reminders import queue_reminders
from omnigift.runtime import Runtime
from tests.factories import customer, issue
from tests.support.smtp import Mailbox, send_queued

GRACE = {"name": "Grace", "email": "grace@example.com"}


def runtime_of(client: httpx.AsyncClient) -> Runtime:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


async def kinds(runtime: Runtime) -> list[tuple[str, str]]:
    async with runtime.db.read() as conn:
        rows = await conn.execute(select(emails.c.kind, emails.c.to_address).order_by(emails.c.id))
        return [(r.kind, r.to_address) for r in rows]


async def test_a_bonus_about_to_expire_is_reminded_once(
    app_client: httpx.AsyncClient, admin: dict[str, str], settings: Settings, mailbox: Mailbox
) -> None:
    soon = (utcnow() + timedelta(days=10)).isoformat()
    card = await issue(
        app_client,
        admin,
        1500,
        recipient=GRACE,
        initial_lot={"kind": "promotional", "expires_at": soon},
    )
    await issue(app_client, admin, 1500, recipient=GRACE)  # nothing of it expires
    runtime = runtime_of(app_client)

    first = await queue_reminders(runtime.db, utcnow(), expiry_days=14, balance_days=0)
    again = await queue_reminders(runtime.db, utcnow(), expiry_days=14, balance_days=0)
    await send_queued(runtime, settings, mailbox)

    assert (first, again) == (1, 0)
    (message,) = mailbox.received
    text = message.get_body(("plain",)).get_content()
    assert message["Subject"] == "Your Natori gift card expires soon"
    assert soon[:10] in text and "$15.00" in text and card["code"] in text


async def test_a_card_left_unused_is_reminded_to_its_customer_once_a_period(
    app_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    ada = await customer(app_client, admin, email="ada@example.com", name="Ada")
    await issue(app_client, admin, 4000, customer_id=ada["id"])
    await issue(app_client, admin, 4000)  # nobody to write to
    runtime = runtime_of(app_client)
    later = utcnow() + timedelta(days=181)

    assert await queue_reminders(runtime.db, utcnow(), expiry_days=0, balance_days=180) == 0
    assert await queue_reminders(runtime.db, later, expiry_days=0, balance_days=180) == 1
    assert await queue_reminders(runtime.db, later, expiry_days=0, balance_days=180) == 0

    assert await kinds(runtime) == [("balance_reminder", "ada@example.com")]


async def test_store_credit_about_to_expire_and_left_unused_is_reminded_to_its_customer(
    app_client: httpx.AsyncClient, admin: dict[str, str], settings: Settings, mailbox: Mailbox
) -> None:
    ada = await customer(app_client, admin, email="ada@example.com", name="Ada")
    soon = (utcnow() + timedelta(days=10)).isoformat()
    loaded = await app_client.post(
        f"/v1/customers/{ada['id']}/store-credit/activities",
        json={
            "type": "load",
            "amount": {"amount": 2500, "currency": "USD"},
            "lot": {"kind": "promotional", "expires_at": soon},
        },
        headers={**admin, "Idempotency-Key": "sc-bonus-1"},
    )
    assert loaded.status_code == 201, loaded.text
    runtime = runtime_of(app_client)

    expiring = await queue_reminders(runtime.db, utcnow(), expiry_days=14, balance_days=0)
    again = await queue_reminders(runtime.db, utcnow(), expiry_days=14, balance_days=0)
    await send_queued(runtime, settings, mailbox)

    assert (expiring, again) == (1, 0)
    (message,) = mailbox.received
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Your Natori store credit expires soon"
    text = message.get_body(("plain",)).get_content()
    assert soon[:10] in text and "$25.00" in text and "Gift card" not in text
    later = utcnow() + timedelta(days=181)
    assert await queue_reminders(runtime.db, later, expiry_days=0, balance_days=180) == 1
    assert (await kinds(runtime))[-1] == ("balance_reminder", "ada@example.com")
