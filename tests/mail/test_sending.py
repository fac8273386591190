"""E-mail: queued with what it announces, sent by the worker through a real SMTP server."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from omnigift.clock import utcnow
from omnigift.config import Settings
from omnigift.db.tables import emails
from omnigift.mail.rendering import qr_png
from omnigift.mail.sending import MailSettings, send_due
from omnigift.runtime import Runtime
from tests.conftest import make_key
from tests.factories import customer, issue, promotion, row_counts, usd
from tests.support.smtp import Mailbox, mailing, send_queued
from tests.support.stack import eventually, start_stack


async def refund(client: httpx.AsyncClient, headers: dict[str, str], **fields: Any) -> Any:
    body = {
        "return_id": "RET-7",
        "order_id": "#7",
        "customer": {"email": "ada@example.com", "name": "Ada"},
        "amount": usd(5000),
        "method": "gift_card",
        **fields,
    }
    made = await client.post("/v1/refunds", json=body, headers=headers)
    assert made.status_code in (200, 201), made.text
    return made.json()


async def test_seed_001_a_refund_is_emailed_at_once_with_its_code_and_qr_code(
    settings: Settings, mailbox: Mailbox
) -> None:
    stack, stop = await start_stack(mailing(settings, mailbox))
    try:
        ten_percent = {"type": "percent", "percent": 10, "expires_in_days": 90}
        await promotion(stack.api, stack.admin, "refund_taken", ten_percent, name="10% extra")
        answer = await refund(stack.api, stack.admin)
        await refund(stack.api, stack.admin)  # the platform retries: still one e-mail

        (message,) = await eventually(lambda: _arrived(mailbox), timeout=20)
        code = answer["gift_card"]["code"]
        assert message["To"] == "ada@example.com"
        assert message["Subject"] == "Your refund from Natori"
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        assert code in text and code in html and "$50.00" in text and "$5.00" in text
        (image,) = [p for p in message.walk() if p.get_content_type() == "image/png"]
        assert image.get_payload(decode=True) == qr_png(code)
        assert f"cid:{image['Content-ID'].strip('<>')}" in html
        log = await stack.api.get(
            f"/v1/gift-cards/{answer['gift_card']['id']}/emails", headers=stack.admin
        )
        assert [(e["kind"], e["state"]) for e in log.json()["data"]] == [("refund_issued", "sent")]
        async with stack.runtime.db.read() as conn:
            kept = (await conn.execute(select(emails.c.context))).scalars().all()
        assert code.replace(" ", "") not in str(kept).replace(" ", "")  # never stored
        assert len(mailbox.received) == 1
    finally:
        await stop()


async def _arrived(mailbox: Mailbox) -> list[Any] | None:
    return list(mailbox.received) or None


async def test_a_refused_email_is_retried_then_marked_failed(
    app_client: httpx.AsyncClient, settings: Settings, mailbox: Mailbox
) -> None:
    returns = await make_key(app_client, "returns:write")
    await refund(app_client, returns)
    runtime: Runtime = app_client.app.state.runtime  # type: ignore[attr-defined]
    mail = MailSettings.from_settings(mailing(settings, mailbox, email_max_attempts=2))
    mailbox.refuse_next = 2
    now = utcnow()

    assert await send_due(runtime.db, runtime.policy.vault, mail, now) == 1
    assert await send_due(runtime.db, runtime.policy.vault, mail, now) == 0  # waits to retry
    assert await send_due(runtime.db, runtime.policy.vault, mail, now + timedelta(hours=1)) == 1

    async with runtime.db.read() as conn:
        (row,) = (await conn.execute(select(emails))).all()
    assert row.state == "failed" and row.attempts == 2 and "550" in row.last_error
    assert mailbox.received == []


async def test_without_an_smtp_server_emails_wait_in_the_queue(
    app_client: httpx.AsyncClient, settings: Settings
) -> None:
    returns = await make_key(app_client, "returns:write")
    await refund(app_client, returns)
    runtime: Runtime = app_client.app.state.runtime  # type: ignore[attr-defined]

    sent = await send_due(
        runtime.db, runtime.policy.vault, MailSettings.from_settings(settings), utcnow()
    )

    assert sent == 0
    async with runtime.db.read() as conn:
        assert (await conn.execute(select(emails.c.state))).scalars().all() == ["queued"]


async def test_staff_send_a_card_again_to_its_recipient_with_the_senders_message(
    app_client: httpx.AsyncClient, admin: dict[str, str], settings: Settings, mailbox: Mailbox
) -> None:
    card = await issue(
        app_client,
        admin,
        2500,
        recipient={"name": "Grace", "email": "grace@example.com", "message": "Happy birthday!"},
    )
    queued = await app_client.post(f"/v1/gift-cards/{card['id']}/emails", json={}, headers=admin)
    assert queued.status_code == 202 and queued.json()["state"] == "queued"
    runtime: Runtime = app_client.app.state.runtime  # type: ignore[attr-defined]

    await send_queued(runtime, settings, mailbox)

    (message,) = mailbox.received
    assert message["To"] == "grace@example.com"
    text = message.get_body(("plain",)).get_content()
    assert "Happy birthday!" in text and card["code"] in text
    nowhere = await app_client.post(
        f"/v1/gift-cards/{(await issue(app_client, admin, 100))['id']}/emails",
        json={},
        headers=admin,
    )
    assert nowhere.status_code == 422


async def test_a_gift_is_emailed_at_the_time_the_buyer_chose(
    app_client: httpx.AsyncClient, admin: dict[str, str], settings: Settings, mailbox: Mailbox
) -> None:
    at = utcnow() + timedelta(hours=1)
    card = await issue(
        app_client,
        admin,
        5000,
        recipient={"name": "Grace", "email": "grace@example.com", "message": "For Sunday"},
        deliver=True,
        deliver_at=at.isoformat(),
    )
    runtime: Runtime = app_client.app.state.runtime  # type: ignore[attr-defined]
    mail = MailSettings.from_settings(mailing(settings, mailbox))

    assert await send_due(runtime.db, runtime.policy.vault, mail, utcnow()) == 0
    assert await send_due(runtime.db, runtime.policy.vault, mail, at + timedelta(seconds=1)) == 1

    (message,) = mailbox.received
    text = message.get_body(("plain",)).get_content()
    assert message["Subject"] == "Your Natori gift card"
    assert "For Sunday" in text and card["code"] in text


async def test_delivering_a_card_without_a_recipient_email_is_refused(
    app_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    before = await row_counts(app_client)

    refused = await app_client.post(
        "/v1/gift-cards",
        json={"currency": "USD", "initial_value": usd(100), "deliver": True},
        headers={**admin, "Idempotency-Key": "deliver-nobody"},
    )

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "recipient.email"
    assert await row_counts(app_client) == before


async def test_a_bonus_card_is_emailed_to_the_customer_who_earned_it(
    app_client: httpx.AsyncClient, admin: dict[str, str], settings: Settings, mailbox: Mailbox
) -> None:
    bonus_card = {"type": "fixed", "amount": 2000, "target": "new_card", "expires_in_days": 60}
    await promotion(app_client, admin, "card_purchased", bonus_card, name="Holiday bonus")
    ada = await customer(app_client, admin, email="ada@example.com", name="Ada")
    bought = await issue(app_client, admin, 10000, customer_id=ada["id"])
    runtime: Runtime = app_client.app.state.runtime  # type: ignore[attr-defined]

    await send_queued(runtime, settings, mailbox)

    (message,) = mailbox.received
    text = message.get_body(("plain",)).get_content()
    (bonus,) = bought["bonuses"]
    assert message["To"] == "ada@example.com" and "Holiday bonus" in text and "$20.00" in text
    assert bonus["new_card_code"] in text and bought["code"] not in text
