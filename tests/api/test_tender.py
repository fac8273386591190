"""The tender API as a till uses it: every call keyed by the till's own transaction id."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.conftest import make_key
from tests.factories import card, issue, promotion, usd


@pytest.fixture
async def till(app_client: httpx.AsyncClient) -> dict[str, str]:
    return await make_key(
        app_client,
        "cards:lookup",
        "cards:redeem",
        "cards:write",
        channel="pos",
        location="store-12",
    )


def txn() -> str:
    return f"T-{uuid.uuid4().hex[:12]}"


async def call(
    client: httpx.AsyncClient, headers: dict[str, str], op: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/tender/{op}",
        json={"terminal_id": "till-3", "cashier_id": "c-42", **body},
        headers=headers,
    )


async def code_of(
    client: httpx.AsyncClient, admin: dict[str, str], amount: int | None = 5000, **fields: Any
) -> tuple[str, str]:
    issued = await issue(client, admin, amount, **fields)
    return issued["id"], issued["code"]


async def test_balance_inquiry_shows_balance_and_available_never_the_code(
    app_client: httpx.AsyncClient, admin: dict[str, str], till: dict[str, str]
) -> None:
    card_id, code = await code_of(app_client, admin, 5000)
    answer = await call(app_client, till, "balance", code=code)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["gift_card"]["id"] == card_id
    assert body["gift_card"]["available"] == usd(5000)
    assert code.replace(" ", "") not in answer.text.replace(" ", "")


async def test_a_redeem_is_applied_once_however_often_the_till_retries(
    app_client: httpx.AsyncClient, admin: dict[str, str], till: dict[str, str]
) -> None:
    card_id, code = await code_of(app_client, admin, 5000)
    t = txn()
    first = await call(app_client, till, "redeem", transaction_id=t, code=code, amount=usd(1200))
    again = await call(app_client, till, "redeem", transaction_id=t, code=code, amount=usd(1200))

    assert first.status_code == again.status_code == 200, first.text
    assert first.json() == again.json()
    assert (await card(app_client, admin, card_id))["balance"]["amount"] == 3800
    history = await app_client.get(f"/v1/gift-cards/{card_id}/activities", headers=admin)
    redeem = [a for a in history.json()["data"] if a["type"] == "redeem"]
    assert len(redeem) == 1
    assert redeem[0]["metadata"]["terminal_id"] == "till-3"
    assert redeem[0]["metadata"]["cashier_id"] == "c-42"
    assert redeem[0]["origin"]["location_id"] == "store-12"


async def test_a_transaction_id_reused_for_another_request_is_refused(
    app_client: httpx.AsyncClient, admin: dict[str, str], till: dict[str, str]
) -> None:
    card_id, code = await code_of(app_client, admin, 5000)
    t = txn()
    await call(app_client, till, "redeem", transaction_id=t, code=code, amount=usd(1000))
    other = await call(app_client, till, "redeem", transaction_id=t, code=code, amount=usd(2000))
    assert other.status_code == 409
    assert other.json()["code"] == "transaction_id_reused"
    assert (await card(app_client, admin, card_id))["balance"]["amount"] == 4000


async def test_reversing_a_redeem_restores_it_once(
    app_client: httpx.AsyncClient, admin: dict[str, str], till: dict[str, str]
) -> None:
    card_id, code = await code_of(app_client, admin, 5000)
    t = txn()
    await call(app_client, till, "redeem", transaction_id=t, code=code, amount=usd(1500))

    first = await call(app_client, till, "reverse", transaction_id=t)
    second = await call(app_client, till, "reverse", transaction_id=t)

    assert first.status_code == second.status_code == 200, first.text
    assert first.json() == second.json()
    assert first.json()["reversed"] == "redeem"
    assert (await card(app_client, admin, card_id))["balance"]["amount"] == 5000
    history = await app_client.get(f"/v1/gift-cards/{card_id}/activities", headers=admin)
    assert [a["type"] for a in history.json()["data"]] == ["issue", "redeem", "refund"]


async def test_an_unknown_transaction_cannot_be_reversed(
    app_client: httpx.AsyncClient, till: dict[str, str]
) -> None:
    answer = await call(app_client, till, "reverse", transaction_id="never-happened")
    assert answer.status_code == 404


async def test_a_card_sold_at_the_till_is_activated_and_the_sale_can_be_voided(
    app_client: httpx.AsyncClient, admin: dict[str, str], till: dict[str, str]
) -> None:
    card_id, code = await code_of(app_client, admin, None, type="physical")
    t = txn()
    activated = await call(
        app_client, till, "activate", transaction_id=t, code=code, amount=usd(2500)
    )
    assert activated.status_code == 200, activated.text
    assert activated.json()["gift_card"]["state"] == "active"
    assert activated.json()["gift_card"]["balance"] == usd(2500)

    voided = await call(app_client, till, "reverse", transaction_id=t)
    assert voided.status_code == 200, voided.text
    after = await card(app_client, admin, card_id)
    assert after["balance"]["amount"] == 0
    assert after["state"] == "deactivated"


async def test_a_load_and_its_reversal(
    app_client: httpx.AsyncClient, admin: dict[str, str], till: dict[str, str]
) -> None:
    card_id, code = await code_of(app_client, admin, 1000)
    t = txn()
    loaded = await call(app_client, till, "load", transaction_id=t, code=code, amount=usd(4000))
    assert loaded.json()["gift_card"]["balance"] == usd(5000)
    await call(app_client, till, "reverse", transaction_id=t)
    assert (await card(app_client, admin, card_id))["balance"]["amount"] == 1000


async def test_a_split_tender_holds_then_captures_part(
    app_client: httpx.AsyncClient, admin: dict[str, str], till: dict[str, str]
) -> None:
    card_id, code = await code_of(app_client, admin, 5000)
    hold_txn = txn()
    held = await call(
        app_client, till, "redeem", transaction_id=hold_txn, code=code, amount=usd(3000), hold=True
    )
    assert held.status_code == 200, held.text
    assert held.json()["gift_card"]["available"] == usd(2000)

    captured = await call(
        app_client,
        till,
        "capture",
        transaction_id=txn(),
        hold_transaction_id=hold_txn,
        amount=usd(2500),
    )
    assert captured.status_code == 200, captured.text
    assert captured.json()["amount"] == usd(2500)
    after = await card(app_client, admin, card_id)
    assert after["balance"]["amount"] == 2500
    assert after["available"]["amount"] == 2500


async def test_an_offline_redemption_lands_with_its_original_time(
    app_client: httpx.AsyncClient, admin: dict[str, str], till: dict[str, str]
) -> None:
    card_id, code = await code_of(app_client, admin, 5000)
    when = "2026-12-01T14:03:00+00:00"
    answer = await call(
        app_client,
        till,
        "redeem",
        transaction_id=txn(),
        code=code,
        amount=usd(2000),
        occurred_at=when,
    )
    assert answer.status_code == 200, answer.text
    history = await app_client.get(f"/v1/gift-cards/{card_id}/activities", headers=admin)
    redeem = history.json()["data"][-1]
    assert redeem["metadata"]["occurred_at"] == when
    assert redeem["metadata"]["offline"] is True
    assert (await card(app_client, admin, card_id))["balance"]["amount"] == 3000


async def test_an_overdrawing_offline_redemption_empties_the_card_and_raises_an_exception(
    app_client: httpx.AsyncClient, admin: dict[str, str], till: dict[str, str]
) -> None:
    card_id, code = await code_of(app_client, admin, 1000)
    answer = await call(
        app_client,
        till,
        "redeem",
        transaction_id=txn(),
        code=code,
        amount=usd(2500),
        occurred_at="2026-12-01T14:03:00Z",
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["amount"] == usd(1000)
    assert answer.json()["uncovered"] == usd(1500)
    assert (await card(app_client, admin, card_id))["balance"]["amount"] == 0
    listed = await app_client.get(
        "/v1/sync-exceptions", params={"gift_card_id": card_id}, headers=admin
    )
    kinds = [(e["kind"], e["amount"]) for e in listed.json()["data"]]
    assert kinds == [("offline_overdraft", usd(1500))]


async def test_an_online_redeem_over_the_balance_is_declined_and_changes_nothing(
    app_client: httpx.AsyncClient, admin: dict[str, str], till: dict[str, str]
) -> None:
    card_id, code = await code_of(app_client, admin, 1000)
    t = txn()
    declined = await call(app_client, till, "redeem", transaction_id=t, code=code, amount=usd(2500))
    assert declined.status_code == 409
    assert declined.json()["code"] == "insufficient_funds"
    # Declined means not recorded: the till may retry the same id with a smaller amount.
    retried = await call(app_client, till, "redeem", transaction_id=t, code=code, amount=usd(1000))
    assert retried.status_code == 200
    assert (await card(app_client, admin, card_id))["balance"]["amount"] == 0


async def test_a_till_key_must_be_bound_to_a_store(
    app_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    _, code = await code_of(app_client, admin, 1000)
    unbound = await make_key(app_client, "cards:lookup", "cards:redeem")
    answer = await call(
        app_client, unbound, "redeem", transaction_id=txn(), code=code, amount=usd(100)
    )
    assert answer.status_code == 403


async def _promotion(
    client: httpx.AsyncClient, admin: dict[str, str], reward: dict[str, Any]
) -> None:
    conditions = {"min_amount": 10000, "channels": ["pos"]}
    await promotion(client, admin, "card_purchased", reward, conditions=conditions)


async def test_a_card_sold_at_the_till_earns_its_bonus_card_whose_code_the_receipt_shows(
    app_client: httpx.AsyncClient, admin: dict[str, str], till: dict[str, str]
) -> None:
    await _promotion(app_client, admin, {"type": "fixed", "amount": 2000, "target": "new_card"})
    _, code = await code_of(app_client, admin, None, type="physical")
    t = txn()

    sold = await call(app_client, till, "activate", transaction_id=t, code=code, amount=usd(10000))
    again = await call(app_client, till, "activate", transaction_id=t, code=code, amount=usd(10000))

    assert sold.status_code == 200, sold.text
    (bonus,) = sold.json()["bonuses"]
    assert bonus["amount"] == usd(2000)
    bonus_card = await card(app_client, admin, bonus["account_id"])
    assert bonus_card["balance"]["amount"] == 2000 and bonus_card["code_last4"]
    assert bonus["new_card_code"].replace(" ", "")[-4:] == bonus_card["code_last4"]
    assert again.json() == sold.json()  # a retrying till gets the same card, not a second
    listed = await app_client.get("/v1/gift-cards", headers=admin)
    assert len(listed.json()["data"]) == 2


async def test_voiding_a_card_sale_withdraws_the_bonus_it_earned_on_it_and_beside_it(
    app_client: httpx.AsyncClient, admin: dict[str, str], till: dict[str, str]
) -> None:
    await _promotion(app_client, admin, {"type": "percent", "percent": 10})
    await _promotion(app_client, admin, {"type": "fixed", "amount": 500, "target": "new_card"})
    card_id, code = await code_of(app_client, admin, None, type="physical")
    t = txn()
    sold = await call(app_client, till, "activate", transaction_id=t, code=code, amount=usd(10000))
    assert sold.json()["gift_card"]["balance"] == usd(11000)  # the 10% lot on the card
    bonus_id = next(b["account_id"] for b in sold.json()["bonuses"] if b["new_card"])

    voided = await call(app_client, till, "reverse", transaction_id=t)

    assert voided.status_code == 200, voided.text
    for withdrawn in (card_id, bonus_id):
        after = await card(app_client, admin, withdrawn)
        assert (after["state"], after["balance"]["amount"]) == ("deactivated", 0)


async def test_a_card_sold_under_the_minimum_earns_nothing(
    app_client: httpx.AsyncClient, admin: dict[str, str], till: dict[str, str]
) -> None:
    await _promotion(app_client, admin, {"type": "fixed", "amount": 2000, "target": "new_card"})
    _, code = await code_of(app_client, admin, None, type="physical")

    sold = await call(
        app_client, till, "activate", transaction_id=txn(), code=code, amount=usd(5000)
    )

    assert sold.status_code == 200 and "bonuses" not in sold.json()
    listed = await app_client.get("/v1/gift-cards", headers=admin)
    assert len(listed.json()["data"]) == 1
