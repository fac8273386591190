"""Refunds from returns (seed 001): a gift card or store credit at once, once per return."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import make_key
from tests.factories import promotion, row_counts, usd

ADA = {"email": "ada@example.com", "name": "Ada Lovelace"}


async def refund(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> httpx.Response:
    body = {
        "return_id": "RET-1001",
        "order_id": "#1001",
        "customer": ADA,
        "amount": usd(8000),
        "method": "gift_card",
        "items": [{"sku": "DRESS-42", "quantity": 1}],
        "reason": "too small",
        **fields,
    }
    return await client.post("/v1/refunds", json=body, headers=headers)


async def test_a_return_refunded_as_a_gift_card_earns_10_percent_extra(app_client, admin):
    ten_percent = {"type": "percent", "percent": 10}
    await promotion(
        app_client, admin, "refund_taken", ten_percent, conditions={"methods": ["gift_card"]}
    )

    made = await refund(app_client, admin)

    assert made.status_code == 201, made.text
    answer = made.json()
    card = answer["gift_card"]
    assert card["code"] and card["balance"] == usd(8800)
    assert sorted(lot["kind"] for lot in card["lots"]) == ["promotional", "refund"]
    assert [b["amount"] for b in answer["bonuses"]] == [usd(800)]
    assert card["recipient"] == {"email": "ada@example.com", "name": "Ada Lovelace"}
    found = await app_client.get(
        "/v1/customers", params={"email": "ada@example.com"}, headers=admin
    )
    assert card["customer_id"] == answer["customer_id"] == found.json()["data"][0]["id"]
    spent = await app_client.post(
        "/v1/redemptions",
        json={"code": card["code"], "amount": usd(8800)},
        headers={**admin, "Idempotency-Key": "spend-it"},
    )
    assert spent.status_code == 201  # spendable at once


async def test_a_retried_return_gets_the_same_card_back_and_nothing_more(app_client, admin):
    first = await refund(app_client, admin)
    before = await row_counts(app_client)

    again = await refund(app_client, admin)

    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["gift_card"]["id"] == first.json()["gift_card"]["id"]
    assert again.json()["gift_card"]["code"] == first.json()["gift_card"]["code"]
    assert await row_counts(app_client) == before


async def test_the_same_return_with_another_amount_is_refused(app_client, admin):
    await refund(app_client, admin)
    before = await row_counts(app_client)

    other = await refund(app_client, admin, amount=usd(9000))

    assert other.status_code == 409 and other.json()["code"] == "return_id_reused"
    assert await row_counts(app_client) == before


async def test_a_return_refunded_as_store_credit_credits_the_customers_wallet(app_client, admin):
    made = await refund(app_client, admin, method="store_credit")

    assert made.status_code == 201, made.text
    answer = made.json()
    assert answer["gift_card"] is None
    wallet = answer["store_credit"]
    assert wallet["balance"] == usd(8000)
    assert [lot["kind"] for lot in wallet["lots"]] == ["refund"]
    listed = await app_client.get(
        f"/v1/customers/{answer['customer_id']}/store-credit", headers=admin
    )
    assert listed.json()["data"][0]["id"] == wallet["id"]


async def test_store_credit_needs_a_customer(app_client, admin):
    before = await row_counts(app_client)

    refused = await refund(app_client, admin, method="store_credit", customer=None)

    assert refused.status_code == 422
    assert await row_counts(app_client) == before


async def test_a_stored_refund_never_shows_the_code_again_outside_the_refund_call(
    app_client, admin
):
    made = (await refund(app_client, admin)).json()

    got = await app_client.get(f"/v1/refunds/{made['id']}", headers=admin)

    assert got.status_code == 200
    assert "code" not in got.json()["gift_card"]


async def test_refunds_need_the_returns_scope(app_client):
    redeemer = await make_key(app_client, "cards:redeem", "cards:write")
    returns = await make_key(app_client, "returns:write", channel="returns")

    assert (await refund(app_client, redeemer)).status_code == 403
    made = await refund(app_client, returns)
    assert made.status_code == 201
    activity = await app_client.get(
        f"/v1/gift-cards/{made.json()['gift_card']['id']}/activities",
        headers=await make_key(app_client, "cards:read"),
    )
    assert activity.json()["data"][0]["origin"]["channel"] == "returns"


async def test_another_callers_return_with_the_same_id_never_sees_the_card(app_client, admin):
    await refund(app_client, admin)
    other = await make_key(app_client, "returns:write")

    replayed = await refund(app_client, other)

    assert replayed.status_code == 409 and replayed.json()["code"] == "return_id_reused"
    assert "gift_card" not in replayed.json()
