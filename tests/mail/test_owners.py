"""A person asks for their cards again: each of theirs goes to their e-mail, and only there."""

from __future__ import annotations

from email.message import EmailMessage

import httpx

from omnigift.config import Settings
from tests.conftest import make_key
from tests.factories import act, customer, issue
from tests.mail.test_reminders import kinds, runtime_of
from tests.support.smtp import Mailbox, send_queued


async def _storefront(client: httpx.AsyncClient) -> dict[str, str]:
    return await make_key(client, "cards:lookup", channel="online")


async def test_a_person_gets_every_card_of_theirs_and_no_one_elses_once_an_hour(
    app_client: httpx.AsyncClient, admin: dict[str, str], settings: Settings, mailbox: Mailbox
) -> None:
    grace = await customer(app_client, admin, email="grace@example.com", name="Grace")
    gift = await issue(app_client, admin, 2500, recipient={"email": "Grace@Example.com"})
    owned = await issue(app_client, admin, 4000, customer_id=grace["id"])
    emptied = await issue(app_client, admin, 1000, customer_id=grace["id"])
    assert (await act(app_client, admin, emptied["id"], "redeem", 1000)).status_code == 201
    await issue(app_client, admin, 3000, recipient={"email": "ada@example.com"})
    storefront = await _storefront(app_client)

    asked = await app_client.post(
        "/v1/gift-cards/resend", json={"email": "grace@example.com"}, headers=storefront
    )
    again = await app_client.post(
        "/v1/gift-cards/resend", json={"email": "GRACE@example.com"}, headers=storefront
    )

    assert (asked.status_code, asked.json()) == (202, {"status": "accepted"})
    assert again.json() == asked.json()
    runtime = runtime_of(app_client)
    assert await kinds(runtime) == [("card_delivered", "grace@example.com")] * 2
    await send_queued(runtime, settings, mailbox)
    codes = {
        m.get_body(("plain",)).get_content().split("Gift card: ")[1][:24] for m in mailbox.received
    }
    assert {c.split("\n")[0].strip() for c in codes} == {gift["code"], owned["code"]}
    assert {m["To"] for m in mailbox.received} == {"grace@example.com"}


async def test_an_address_with_no_cards_answers_the_same_and_counts_as_a_miss(
    app_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    storefront = await _storefront(app_client)
    answers = [
        await app_client.post(
            "/v1/gift-cards/resend", json={"email": f"nobody{n}@example.com"}, headers=storefront
        )
        for n in range(11)
    ]

    assert [a.status_code for a in answers[:10]] == [202] * 10
    assert answers[10].status_code == 429
    assert answers[10].json()["code"] == "too_many_attempts"
    assert await kinds(runtime_of(app_client)) == []


async def test_a_malformed_address_is_refused(
    app_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    storefront = await _storefront(app_client)
    bad = await app_client.post(
        "/v1/gift-cards/resend", json={"email": "not-an-address"}, headers=storefront
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "email"


def _code_in(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    return str(text.split("Gift card: ")[1].splitlines()[0].strip())
