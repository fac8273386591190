"""Lightspeed Retail (R-Series), end to end over real HTTP against its simulator."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from tests.factories import act, card, issue, promotion
from tests.support.stack import Platform, Stack, eventually, lightspeed_api


async def in_lightspeed(lightspeed: Platform, code: str) -> dict[str, Any] | None:
    state = await lightspeed.state()
    for account in state["credit_accounts"]:
        if account["code"] == code.replace(" ", ""):
            return dict(account)
    return None


def spendable(account: dict[str, Any]) -> int:
    return int(Decimal(str(account["spendable"])) * 100)


async def spendable_of(lightspeed: Platform, code: str) -> int | None:
    account = await in_lightspeed(lightspeed, code)
    return spendable(account) if account else None


async def connect(stack: Stack, lightspeed: Platform, **settings: Any) -> dict[str, Any]:
    return await stack.connect(
        "lightspeed", lightspeed_api(lightspeed), poll_interval_seconds=1, **settings
    )


async def test_a_ledger_card_appears_in_lightspeed_and_follows_every_activity(
    stack: Stack, lightspeed: Platform
) -> None:
    await connect(stack, lightspeed)
    issued = await issue(stack.api, stack.admin, 5000)
    code = issued["code"]

    await eventually(lambda: _is(spendable_of(lightspeed, code), 5000))
    assert (await act(stack.api, stack.admin, issued["id"], "redeem", 1250)).status_code == 201
    await eventually(lambda: _is(spendable_of(lightspeed, code), 3750))
    # Lightspeed keeps a funded card's balance negative (integrations.md 3.2).
    account = await in_lightspeed(lightspeed, code)
    assert account is not None and Decimal(str(account["balance"])) == Decimal("-37.50")


async def test_a_till_spend_in_lightspeed_becomes_a_redeem_keyed_by_the_payment(
    stack: Stack, lightspeed: Platform
) -> None:
    integration = await connect(stack, lightspeed)
    issued = await issue(stack.api, stack.admin, 5000)
    await eventually(lambda: _is(spendable_of(lightspeed, issued["code"]), 5000))

    sale = await lightspeed.sim(
        "POST",
        "sale",
        {
            "lines": [{"description": "Candle", "price": "18.00", "quantity": 1}],
            "gift_card_code": issued["code"].replace(" ", ""),
            "gift_card_amount": "18.00",
        },
    )

    async def redeemed() -> dict[str, Any] | None:
        history = await stack.api.get(
            f"/v1/gift-cards/{issued['id']}/activities", headers=stack.admin
        )
        found = [a for a in history.json()["data"] if a["type"] == "redeem"]
        return found[0] if found else None

    activity = await eventually(redeemed)
    assert activity["amount"]["amount"] == 1800
    assert activity["origin"]["integration_id"] == integration["id"]
    assert activity["origin"]["channel"] == "pos"  # a till, not a web store
    assert activity["reference"]["transaction_id"] == f"payment:{sale['gift_card_payment_ids'][0]}"
    assert (await card(stack.api, stack.admin, issued["id"]))["balance"]["amount"] == 3200
    await asyncio.sleep(1.5)  # a later poll changes nothing
    history = await stack.api.get(f"/v1/gift-cards/{issued['id']}/activities", headers=stack.admin)
    assert [a["type"] for a in history.json()["data"]] == ["issue", "redeem"]
    assert await spendable_of(lightspeed, issued["code"]) == 3200


async def test_a_gift_card_sold_in_lightspeed_becomes_a_card_in_the_ledger(
    stack: Stack, lightspeed: Platform
) -> None:
    integration = await connect(stack, lightspeed)
    sold = await lightspeed.sim(
        "POST",
        "sale",
        {"lines": [], "sell_gift_card": {"code": "7700123456789", "amount": "40.00"}},
    )
    assert sold["sold_gift_card"]

    async def in_ledger() -> dict[str, Any] | None:
        cards = (await stack.api.get("/v1/gift-cards", headers=stack.admin)).json()["data"]
        return cards[0] if cards else None

    found = await eventually(in_ledger)
    assert found["balance"]["amount"] == 4000
    assert found["issued_via"]["integration_id"] == integration["id"]
    till = await stack.key("cards:lookup", channel="pos")
    scanned = await stack.api.post(
        "/v1/gift-cards/lookup", json={"code": "7700123456789"}, headers=till
    )
    assert scanned.status_code == 200 and scanned.json()["id"] == found["id"]


async def test_a_gift_card_sold_in_lightspeed_earns_purchase_promotions_at_the_till(
    stack: Stack, lightspeed: Platform
) -> None:
    ten_percent = {"type": "percent", "percent": 10}
    await promotion(
        stack.api, stack.admin, "card_purchased", ten_percent, conditions={"channels": ["pos"]}
    )
    await connect(stack, lightspeed)
    await lightspeed.sim(
        "POST",
        "sale",
        {"lines": [], "sell_gift_card": {"code": "7700123456780", "amount": "40.00"}},
    )

    async def with_bonus() -> bool:
        cards = (await stack.api.get("/v1/gift-cards", headers=stack.admin)).json()["data"]
        return bool(cards and cards[0]["balance"]["amount"] == 4400)

    await eventually(with_bonus)
    # The bonus is mirrored to the card in Lightspeed, where it was sold.
    await eventually(lambda: _is(spendable_of(lightspeed, "7700123456780"), 4400))


async def test_a_lightspeed_spend_and_a_web_spend_at_once_are_both_recorded(
    stack: Stack, lightspeed: Platform, shopify: Platform
) -> None:
    await connect(stack, lightspeed)
    await stack.connect("shopify", shopify.server.base_url)
    issued = await issue(stack.api, stack.admin, 3000)
    code = issued["code"].replace(" ", "")
    await eventually(lambda: _is(spendable_of(lightspeed, code), 3000))

    async def on_shopify() -> bool:
        return any(c["code"] == code for c in (await shopify.state())["gift_cards"])

    await eventually(on_shopify)

    # The same $30 card spent $20 in the shop and $20 online at the same moment.
    await asyncio.gather(
        lightspeed.sim(
            "POST",
            "sale",
            {
                "lines": [{"description": "Mug", "price": "20.00", "quantity": 1}],
                "gift_card_code": code,
                "gift_card_amount": "20.00",
            },
        ),
        shopify.sim(
            "POST",
            "checkout",
            {
                "email": "a@example.com",
                "gift_card_codes": [code],
                "line_items": [{"title": "Hat", "price": "20.00", "quantity": 1}],
            },
        ),
    )

    async def both_taken() -> list[dict[str, Any]] | None:
        history = await stack.api.get(
            f"/v1/gift-cards/{issued['id']}/activities", headers=stack.admin
        )
        redeems = [a for a in history.json()["data"] if a["type"] == "redeem"]
        listed = await stack.api.get(
            "/v1/sync-exceptions", params={"gift_card_id": issued["id"]}, headers=stack.admin
        )
        exceptions = listed.json()["data"]
        return (redeems, exceptions) if len(redeems) == 2 and exceptions else None

    redeems, exceptions = await eventually(both_taken, timeout=15)
    assert sorted(a["amount"]["amount"] for a in redeems) == [1000, 2000]
    assert [(e["kind"], e["amount"]["amount"]) for e in exceptions] == [("overdraft", 1000)]
    assert (await card(stack.api, stack.admin, issued["id"]))["balance"]["amount"] == 0


async def _is(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_an_expired_token_is_refreshed_and_the_new_one_kept(
    stack: Stack, lightspeed: Platform
) -> None:
    from tests.support.stack import LIGHTSPEED_TOKEN

    integration = await stack.connect(
        "lightspeed",
        lightspeed_api(lightspeed),
        credentials={
            "access_token": LIGHTSPEED_TOKEN,
            "refresh_token": "ls_refresh_sandbox",
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
            "token_url": f"{lightspeed.server.base_url}/auth/oauth/token",
        },
        poll_interval_seconds=1,
    )
    issued = await issue(stack.api, stack.admin, 5000)
    await eventually(lambda: _is(spendable_of(lightspeed, issued["code"]), 5000))
    before = await _sealed_credentials(stack, integration["id"])

    await lightspeed.sim("POST", "tokens/expire")
    assert (await act(stack.api, stack.admin, issued["id"], "redeem", 500)).status_code == 201

    await eventually(lambda: _is(spendable_of(lightspeed, issued["code"]), 4500))
    assert await _sealed_credentials(stack, integration["id"]) != before


async def test_a_lost_create_is_found_by_its_code_not_made_twice(
    stack: Stack, lightspeed: Platform
) -> None:
    await connect(stack, lightspeed)
    await lightspeed.sim(
        "POST",
        "faults",
        {"target": "CreditAccount", "method": "POST", "kind": "ambiguous", "count": 1},
    )
    issued = await issue(stack.api, stack.admin, 2500)

    await eventually(lambda: _is(spendable_of(lightspeed, issued["code"]), 2500))
    code = issued["code"].replace(" ", "")
    accounts = [a for a in (await lightspeed.state())["credit_accounts"] if a["code"] == code]
    assert len(accounts) == 1


async def test_reconciliation_compares_lightspeed_cards_with_the_ledger(
    stack: Stack, lightspeed: Platform
) -> None:
    integration = await connect(stack, lightspeed)
    issued = await issue(stack.api, stack.admin, 2000)
    await eventually(lambda: _is(spendable_of(lightspeed, issued["code"]), 2000))

    async def report() -> dict[str, Any] | None:
        found = await stack.api.get(
            f"/v1/integrations/{integration['id']}/reconciliation", headers=stack.admin
        )
        body = dict(found.json())
        return body if body["checked"] == 1 else None

    clean = await eventually(report)
    assert clean["drift_count"] == 0


async def _sealed_credentials(stack: Stack, integration_id: str) -> str:
    from sqlalchemy import text

    async with stack.runtime.db.read() as conn:
        return str(
            (
                await conn.execute(
                    text("SELECT credentials_sealed FROM integrations WHERE id = :i"),
                    {"i": integration_id},
                )
            ).scalar()
        )
