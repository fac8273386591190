"""Narvar (seed 001): a return refunded as a gift card with a bonus, e-mailed at once,
spendable on the web store at once; retries and duplicates issue nothing more."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

from omnigift_sandbox.narvar.sender import Return, ReturnsPlatform
from tests.factories import promotion
from tests.support.smtp import Mailbox
from tests.support.stack import Platform, Stack, eventually

NARVAR = {"username": "narvar-natori", "password": "s3cret-rma-post"}


async def connect_narvar(stack: Stack, **settings: Any) -> tuple[dict[str, Any], ReturnsPlatform]:
    integration = await stack.connect(
        "narvar", "http://127.0.0.1:9", credentials=NARVAR, **settings
    )
    target = f"{stack.service.base_url}/v1/hooks/{integration['id']}"
    return integration, ReturnsPlatform(target, NARVAR["username"], NARVAR["password"])


def dress_return(method: str | None = "gift_card", rma: str = "993338") -> Return:
    return Return(
        rma_number=rma,
        order_number="70074401",
        email="ada@example.com",
        first_name="Ada",
        last_name="Lovelace",
        items=[{"sku": "DRESS-42", "quantity": 1, "return_reason": "Too small"}],
        refund_method=method,
        refund_amount="80.00",
    )


async def refunds_of(stack: Stack) -> list[dict[str, Any]]:
    cards = await stack.api.get("/v1/gift-cards", headers=stack.admin)
    return [c for c in cards.json()["data"] if (c["metadata"].get("refund") or {}).get("return_id")]


async def test_seed_001_a_return_becomes_a_gift_card_with_a_bonus_emailed_and_spendable_online(
    mailing_stack: Stack, shopify: Platform, mailbox: Mailbox
) -> None:
    stack = mailing_stack
    await stack.connect("shopify", shopify.server.base_url)
    _, narvar = await connect_narvar(stack)
    ten_percent = {"type": "percent", "percent": 10}
    await promotion(
        stack.api, stack.admin, "refund_taken", ten_percent, conditions={"methods": ["gift_card"]}
    )

    await narvar.run(dress_return())
    await narvar.send("approved", dress_return(), duplicate=True)  # a retried webhook

    (card,) = await eventually(lambda: refunds_of(stack), timeout=20)
    assert card["balance"]["amount"] == 8800 and card["customer_id"]
    (message,) = await eventually(lambda: _received(mailbox), timeout=20)
    assert message["To"] == "ada@example.com"
    text = message.get_body(("plain",)).get_content()
    code = text.split("Gift card: ")[1].splitlines()[0].strip()
    assert code.replace(" ", "")[-4:] == card["code_last4"]

    async def on_shopify() -> bool:
        wanted = code.replace(" ", "").lower()
        return any(c["code"] == wanted for c in (await shopify.state())["gift_cards"])

    await eventually(on_shopify, timeout=20)
    spent = await shopify.http.post(
        "/__sim/checkout",
        json={
            "email": "ada@example.com",
            "gift_card_codes": [code.replace(" ", "")],
            "line_items": [{"title": "Scarf", "price": "30.00", "quantity": 1}],
        },
    )
    assert spent.status_code < 300, spent.text

    async def spent_in_ledger() -> bool:
        found = await stack.api.get(f"/v1/gift-cards/{card['id']}", headers=stack.admin)
        return bool(found.json()["balance"]["amount"] == 5800)

    await eventually(spent_in_ledger, timeout=20)
    assert len(await refunds_of(stack)) == 1 and len(mailbox.received) == 1


async def _received(mailbox: Mailbox) -> list[Any] | None:
    return list(mailbox.received) or None


async def test_a_return_refunded_to_the_original_payment_issues_nothing(stack: Stack) -> None:
    _, narvar = await connect_narvar(stack)

    await narvar.run(dress_return(method=None))

    log = await stack.api.get(
        "/v1/events", params={"type": "gift_card.created"}, headers=stack.admin
    )
    assert log.json()["data"] == []


async def test_store_credit_from_a_return_lands_in_the_customers_wallet(stack: Stack) -> None:
    _, narvar = await connect_narvar(stack)

    await narvar.run(dress_return(method="store_credit"))

    async def wallet() -> list[dict[str, Any]] | None:
        found = await stack.api.get(
            "/v1/customers", params={"email": "ada@example.com"}, headers=stack.admin
        )
        people = found.json()["data"]
        if not people:
            return None
        held = await stack.api.get(
            f"/v1/customers/{people[0]['id']}/store-credit", headers=stack.admin
        )
        return list(held.json()["data"]) or None

    (held,) = await eventually(wallet, timeout=20)
    assert held["balance"]["amount"] == 8000


async def test_wrong_credentials_are_refused_and_issue_nothing(stack: Stack) -> None:
    _, narvar = await connect_narvar(stack)
    impostor = ReturnsPlatform(narvar.target, "narvar-natori", "guess", retry_delays=())

    await impostor.run(dress_return())

    assert [a.status for a in impostor.attempts] == [401] * 4
    assert await refunds_of(stack) == []


async def test_a_return_cancelled_after_its_refund_is_flagged_for_staff(stack: Stack) -> None:
    integration, narvar = await connect_narvar(stack)
    await narvar.run(dress_return())
    await eventually(lambda: refunds_of(stack), timeout=20)

    await narvar.send("cancelled_by_retailer", dress_return(), duplicate=True)

    async def flagged() -> list[dict[str, Any]] | None:
        found = await stack.api.get(
            "/v1/sync-exceptions", params={"integration_id": integration["id"]}, headers=stack.admin
        )
        return [e for e in found.json()["data"] if e["kind"] == "refund_cancelled"] or None

    (exception,) = await eventually(flagged, timeout=20)
    assert exception["amount"]["amount"] == 8000


async def test_the_returns_simulator_runs_from_the_command_line(stack: Stack) -> None:
    _, narvar = await connect_narvar(stack)
    omnigift = str(Path(sys.executable).parent / "omnigift")
    command = [
        omnigift, "sandbox", "narvar", "--target", narvar.target,
        "--username", NARVAR["username"], "--password", NARVAR["password"],
        "--rma", "5150", "--email", "grace@example.com", "--amount", "25.00", "--duplicate",
    ]  # fmt: skip

    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=60, check=False
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.count("-> 200") == 8  # four topics, each sent twice
    (card,) = await eventually(lambda: refunds_of(stack), timeout=20)
    assert card["balance"]["amount"] == 2500
