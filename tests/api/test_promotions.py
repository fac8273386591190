"""Promotions over the API: the examples of issue 6, budgets, limits, windows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.factories import customer, issue, usd


async def promote(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"name": "promo", "trigger": "card_purchased", "currency": "USD", **fields}
    made = await client.post("/v1/promotions", json=body, headers=headers)
    assert made.status_code == 201, made.text
    return dict(made.json())


BONUS_CARD = {"type": "fixed", "amount": 2000, "target": "new_card", "expires_in_days": 60}


async def test_buy_a_100_card_get_a_20_bonus_card_valid_60_days(app_client, admin):
    promotion = await promote(
        app_client, admin, conditions={"min_amount": 10000}, reward=BONUS_CARD
    )

    bought = await issue(app_client, admin, 10000)
    small = await issue(app_client, admin, 5000)

    (bonus,) = bought["bonuses"]
    assert "bonuses" not in small
    assert bonus["amount"] == usd(2000) and bonus["new_card_code"]
    card = (await app_client.get(f"/v1/gift-cards/{bonus['account_id']}", headers=admin)).json()
    assert card["balance"] == usd(2000)
    (lot,) = card["lots"]
    assert lot["kind"] == "promotional"
    expires = datetime.fromisoformat(lot["expires_at"].replace("Z", "+00:00"))
    assert timedelta(days=59) < expires - datetime.now(UTC) <= timedelta(days=60)
    assert bought["balance"] == usd(10000)  # the bought card itself is untouched
    books = (await app_client.get("/v1/ledger/balances", headers=admin)).json()["data"][0]
    assert books["system_accounts"]["promotions"] == usd(-2000)  # what the promotion cost
    got = await app_client.get(f"/v1/promotions/{promotion['id']}", headers=admin)
    assert got.json()["granted"] == usd(2000)


async def test_a_bonus_on_the_same_card_is_a_promotional_lot_there(app_client, admin):
    await promote(app_client, admin, reward={"type": "percent", "percent": 10})

    bought = await issue(app_client, admin, 5000)

    assert bought["balance"] == usd(5500)
    assert sorted(lot["kind"] for lot in bought["lots"]) == ["paid", "promotional"]


async def test_a_promotion_stops_when_its_budget_cannot_cover_a_whole_reward(app_client, admin):
    promotion = await promote(
        app_client, admin, reward={"type": "fixed", "amount": 2000}, budget=3000
    )

    first = await issue(app_client, admin, 1000)
    second = await issue(app_client, admin, 1000)

    assert first["balance"] == usd(3000) and second["balance"] == usd(1000)
    got = await app_client.get(f"/v1/promotions/{promotion['id']}", headers=admin)
    assert got.json()["granted"] == usd(2000)


async def test_concurrent_purchases_never_spend_past_the_budget(app_client, admin):
    promotion = await promote(
        app_client, admin, reward={"type": "fixed", "amount": 1000}, budget=2000
    )

    bought = await asyncio.gather(*(issue(app_client, admin, 1000) for _ in range(6)))

    assert sorted(c["balance"]["amount"] for c in bought) == [1000] * 4 + [2000] * 2
    got = await app_client.get(f"/v1/promotions/{promotion['id']}", headers=admin)
    assert got.json()["granted"] == usd(2000)


async def test_a_customer_gets_a_promotion_only_as_often_as_its_limit(app_client, admin):
    await promote(
        app_client,
        admin,
        conditions={"per_customer_limit": 1},
        reward={"type": "fixed", "amount": 500},
    )
    ada = await customer(app_client, admin)

    first = await issue(app_client, admin, 1000, customer_id=ada["id"])
    again = await issue(app_client, admin, 1000, customer_id=ada["id"])
    someone_else = await issue(app_client, admin, 1000)

    assert [c["balance"]["amount"] for c in (first, again, someone_else)] == [1500, 1000, 1500]


async def test_a_seasonal_campaign_runs_only_between_its_dates(app_client, admin):
    now = datetime.now(UTC)
    await promote(
        app_client,
        admin,
        name="last year's holidays",
        conditions={
            "starts_at": (now - timedelta(days=400)).isoformat(),
            "ends_at": (now - timedelta(days=365)).isoformat(),
        },
        reward={"type": "fixed", "amount": 700},
    )
    await promote(
        app_client,
        admin,
        name="this season",
        conditions={
            "starts_at": (now - timedelta(days=1)).isoformat(),
            "ends_at": (now + timedelta(days=1)).isoformat(),
        },
        reward={"type": "fixed", "amount": 300},
    )

    bought = await issue(app_client, admin, 1000)

    assert [b["name"] for b in bought["bonuses"]] == ["this season"]
    assert bought["balance"] == usd(1300)


async def test_a_switched_off_promotion_grants_nothing(app_client, admin):
    promotion = await promote(app_client, admin, reward={"type": "fixed", "amount": 300})
    off = await app_client.patch(
        f"/v1/promotions/{promotion['id']}", json={"active": False}, headers=admin
    )
    assert off.status_code == 200 and off.json()["active"] is False

    bought = await issue(app_client, admin, 1000)

    assert bought["balance"] == usd(1000) and "bonuses" not in bought


async def test_a_malformed_promotion_is_refused_naming_the_field(app_client, admin):
    bad = await app_client.post(
        "/v1/promotions",
        json={
            "name": "x",
            "trigger": "card_purchased",
            "currency": "USD",
            "reward": {"type": "percent", "percent": 150},
        },
        headers=admin,
    )

    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "reward.percent"
    listed = await app_client.get("/v1/promotions", headers=admin)
    assert listed.json()["data"] == []


async def test_an_order_promotion_must_reward_a_new_card(app_client, admin):
    same = {"type": "fixed", "amount": 1000, "target": "same"}
    bad = await app_client.post(
        "/v1/promotions",
        json={"name": "x", "trigger": "order_completed", "currency": "USD", "reward": same},
        headers=admin,
    )

    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "reward.target"
