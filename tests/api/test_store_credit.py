"""Store credit: a wallet per customer and currency, on the same ledger as cards (issue 6)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.factories import customer, issue, post, row_counts, usd


async def credit(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    customer_id: str,
    kind: str,
    amount: int,
    **fields: Any,
) -> httpx.Response:
    body = {"type": kind, "amount": usd(amount), **fields}
    return await post(client, f"/v1/customers/{customer_id}/store-credit/activities", headers, body)


async def wallet(
    client: httpx.AsyncClient, headers: dict[str, str], customer_id: str
) -> dict[str, Any]:
    found = await client.get(f"/v1/customers/{customer_id}/store-credit", headers=headers)
    assert found.status_code == 200, found.text
    (usd_wallet,) = found.json()["data"]
    return dict(usd_wallet)


async def test_a_first_credit_opens_the_wallet_and_says_so_in_an_event(app_client, admin):
    ada = await customer(app_client, admin)

    loaded = await credit(app_client, admin, ada["id"], "load", 2500)

    assert loaded.status_code == 201, loaded.text
    activity = loaded.json()
    assert activity["store_credit_id"].startswith("sc_") and "gift_card_id" not in activity
    held = await wallet(app_client, admin, ada["id"])
    assert held["balance"] == usd(2500) and held["customer_id"] == ada["id"]
    assert [lot["kind"] for lot in held["lots"]] == ["paid"]
    events = await app_client.get(
        "/v1/events", params={"type": "store_credit.activity.created"}, headers=admin
    )
    (event,) = events.json()["data"]
    assert event["data"]["store_credit"]["balance"] == usd(2500) and event["sequence"] == 1


async def test_spending_more_than_the_wallet_holds_is_refused_and_writes_nothing(app_client, admin):
    ada = await customer(app_client, admin)
    await credit(app_client, admin, ada["id"], "load", 1000)
    before = await row_counts(app_client)

    over = await credit(app_client, admin, ada["id"], "redeem", 1001)

    assert over.status_code == 409 and over.json()["code"] == "insufficient_funds"
    assert await row_counts(app_client) == before


async def test_spending_store_credit_a_customer_never_had_is_not_found(app_client, admin):
    ada = await customer(app_client, admin)

    spent = await credit(app_client, admin, ada["id"], "redeem", 100)

    assert spent.status_code == 404
    assert (await app_client.get(f"/v1/customers/{ada['id']}/store-credit", headers=admin)).json()[
        "data"
    ] == []


async def test_a_retried_credit_is_applied_once(app_client, admin):
    ada = await customer(app_client, admin)
    headers = {**admin, "Idempotency-Key": "refund-ret-42"}
    path = f"/v1/customers/{ada['id']}/store-credit/activities"
    body = {"type": "refund", "amount": usd(4000)}

    first = await app_client.post(path, json=body, headers=headers)
    again = await app_client.post(path, json=body, headers=headers)

    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert (await wallet(app_client, admin, ada["id"]))["balance"] == usd(4000)


async def test_lots_burn_in_the_ledgers_order_promotional_before_refund_before_paid(
    app_client, admin
):
    ada = await customer(app_client, admin)
    soon = (datetime.now(UTC) + timedelta(days=60)).isoformat()
    await credit(app_client, admin, ada["id"], "load", 1000)
    await credit(app_client, admin, ada["id"], "refund", 1000)
    await credit(
        app_client,
        admin,
        ada["id"],
        "adjust_increment",
        500,
        reason="bonus",
        lot={"kind": "promotional", "expires_at": soon},
    )

    spent = await credit(app_client, admin, ada["id"], "redeem", 1200)

    assert spent.status_code == 201, spent.text
    remaining = {
        lot["kind"]: lot["remaining"]["amount"]
        for lot in (await wallet(app_client, admin, ada["id"]))["lots"]
    }
    assert remaining == {"refund": 300, "paid": 1000}


async def test_store_credit_can_be_held_and_captured_like_a_card(app_client, admin):
    ada = await customer(app_client, admin)
    await credit(app_client, admin, ada["id"], "load", 3000)

    placed = await post(
        app_client,
        f"/v1/customers/{ada['id']}/store-credit/holds",
        admin,
        {"amount": usd(2000)},
    )
    assert placed.status_code == 201, placed.text
    hold = placed.json()
    assert hold["store_credit_id"].startswith("sc_")
    assert (await wallet(app_client, admin, ada["id"]))["available"] == usd(1000)
    captured = await post(
        app_client, f"/v1/holds/{hold['id']}/capture", admin, {"amount": usd(1500)}
    )

    assert captured.status_code == 200, captured.text
    after = await wallet(app_client, admin, ada["id"])
    assert after["balance"] == usd(1500) and after["available"] == usd(1500)


async def test_store_credit_has_no_state_to_change(app_client, admin):
    ada = await customer(app_client, admin)
    await credit(app_client, admin, ada["id"], "load", 100)

    frozen = await post(
        app_client, f"/v1/customers/{ada['id']}/store-credit/activities", admin, {"type": "freeze"}
    )

    assert frozen.status_code == 422


async def test_card_routes_do_not_reach_a_wallet(app_client, admin):
    ada = await customer(app_client, admin)
    wallet_id = (await credit(app_client, admin, ada["id"], "load", 100)).json()["store_credit_id"]

    got = await app_client.get(f"/v1/gift-cards/{wallet_id}", headers=admin)
    spent = await post(
        app_client,
        f"/v1/gift-cards/{wallet_id}/activities",
        admin,
        {"type": "redeem", "amount": usd(100)},
    )

    assert got.status_code == 404 and spent.status_code == 404
    assert (await wallet(app_client, admin, ada["id"]))["balance"] == usd(100)


async def test_the_books_show_store_credit_beside_cards_and_still_balance(app_client, admin):
    ada = await customer(app_client, admin)
    await issue(app_client, admin, 5000)
    await credit(app_client, admin, ada["id"], "load", 700)
    await credit(app_client, admin, ada["id"], "redeem", 200)

    books = (await app_client.get("/v1/ledger/balances", headers=admin)).json()["data"]

    (usd_books,) = books
    assert usd_books["outstanding_liability"] == usd(5000) and usd_books["card_count"] == 1
    assert usd_books["store_credit_liability"] == usd(500)
    assert usd_books["store_credit_count"] == 1
    system = sum(a["amount"] for name, a in usd_books["system_accounts"].items() if name != "holds")
    assert 5000 + 500 + system == 0


async def test_merging_moves_store_credit_keeping_each_lots_kind(app_client, admin):
    survivor = await customer(app_client, admin, email="a@example.com")
    duplicate = await customer(app_client, admin, phone="+15550100199")
    only_there = await customer(app_client, admin, email="c@example.com")
    await credit(app_client, admin, survivor["id"], "load", 1000)
    await credit(app_client, admin, duplicate["id"], "refund", 800)
    await credit(app_client, admin, duplicate["id"], "load", 200)
    await credit(app_client, admin, only_there["id"], "load", 300)

    merged = await post(
        app_client,
        f"/v1/customers/{survivor['id']}/merge",
        admin,
        {"duplicate_id": duplicate["id"]},
    )
    moved_whole = await post(
        app_client,
        f"/v1/customers/{survivor['id']}/merge",
        admin,
        {"duplicate_id": only_there["id"]},
    )

    assert merged.status_code == 200 and moved_whole.status_code == 200
    (held,) = (
        await app_client.get(f"/v1/customers/{survivor['id']}/store-credit", headers=admin)
    ).json()["data"]
    assert held["balance"] == usd(2300)
    kinds = sorted((lot["kind"], lot["remaining"]["amount"]) for lot in held["lots"])
    assert kinds == [("paid", 200), ("paid", 300), ("paid", 1000), ("refund", 800)]
    books = (await app_client.get("/v1/ledger/balances", headers=admin)).json()["data"][0]
    assert books["store_credit_liability"] == usd(2300)


async def test_concurrent_first_credits_open_one_wallet(app_client, admin):
    ada = await customer(app_client, admin)

    answers = await asyncio.gather(
        *(credit(app_client, admin, ada["id"], "load", 100) for _ in range(6))
    )

    assert [a.status_code for a in answers] == [201] * 6
    assert (await wallet(app_client, admin, ada["id"]))["balance"] == usd(600)


async def test_a_survivor_without_store_credit_takes_over_the_duplicates_wallet(app_client, admin):
    survivor = await customer(app_client, admin, email="a@example.com")
    duplicate = await customer(app_client, admin, phone="+15550100199")
    loaded = await credit(app_client, admin, duplicate["id"], "load", 900)

    await post(
        app_client,
        f"/v1/customers/{survivor['id']}/merge",
        admin,
        {"duplicate_id": duplicate["id"]},
    )

    held = await wallet(app_client, admin, survivor["id"])
    assert held["id"] == loaded.json()["store_credit_id"] and held["balance"] == usd(900)
    left = await app_client.get(f"/v1/customers/{duplicate['id']}/store-credit", headers=admin)
    assert left.json()["data"] == []
