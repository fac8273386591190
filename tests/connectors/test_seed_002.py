"""Seed 002's two selling workflows across Lightspeed (the POS) and Shopify (the web store)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.support.stack import Platform, Stack, eventually, lightspeed_api


def cents(value: Any) -> int:
    return int(Decimal(str(value)) * 100)


async def ledger_cards(stack: Stack) -> list[dict[str, Any]]:
    return list((await stack.api.get("/v1/gift-cards", headers=stack.admin)).json()["data"])


async def shopify_balance(shopify: Platform, code: str) -> int | None:
    for found in (await shopify.state())["gift_cards"]:
        if found["code"].lower() == code.lower():
            return cents(found["balance"])
    return None


async def lightspeed_accounts(lightspeed: Platform) -> list[dict[str, Any]]:
    return list((await lightspeed.state())["credit_accounts"])


async def test_an_online_card_is_downloaded_to_the_pos_with_a_prefixed_serial_and_the_last_4(
    stack: Stack, shopify: Platform, lightspeed: Platform
) -> None:
    await stack.connect(
        "shopify", shopify.server.base_url, sell_cards=True, gift_card_skus=["GC-50"]
    )
    await stack.connect(
        "lightspeed", lightspeed_api(lightspeed), serial_prefix="7001", poll_interval_seconds=1
    )

    await shopify.sim(
        "POST",
        "checkout",
        {
            "email": "grace@example.com",
            "shipping_address": {"name": "Grace Hopper"},
            "line_items": [{"title": "Gift card", "price": "50.00", "quantity": 1, "sku": "GC-50"}],
        },
    )
    sold = (await eventually(lambda: ledger_cards(stack)))[0]
    online_code = (
        (
            await stack.api.get(
                f"/v1/gift-cards/{sold['id']}", params={"reveal": "true"}, headers=stack.admin
            )
        )
        .json()["code"]
        .replace(" ", "")
    )
    assert await eventually(lambda: shopify_balance(shopify, online_code)) == 5000

    pos_card = (await eventually(lambda: lightspeed_accounts(lightspeed)))[0]
    assert pos_card["code"].startswith("7001") and pos_card["code"] != online_code
    assert pos_card["name"] == "Grace Hopper"  # the online order's shipping name
    assert online_code[-4:] in pos_card["description"]  # the last 4 of the online code
    await eventually(lambda: _is(_pos_spendable(lightspeed, pos_card["code"]), 5000))

    # Found in store, spent at the till: the web store follows.
    await lightspeed.sim(
        "POST",
        "sale",
        {
            "lines": [{"description": "Scarf", "price": "20.00", "quantity": 1}],
            "gift_card_code": pos_card["code"],
            "gift_card_amount": "20.00",
        },
    )
    await eventually(lambda: _is(shopify_balance(shopify, online_code), 3000))


async def test_a_card_sold_in_store_works_online_with_the_same_serial(
    stack: Stack, shopify: Platform, lightspeed: Platform
) -> None:
    await stack.connect("shopify", shopify.server.base_url)
    await stack.connect("lightspeed", lightspeed_api(lightspeed), poll_interval_seconds=1)
    serial = "7700112233445566"

    await lightspeed.sim(
        "POST", "sale", {"lines": [], "sell_gift_card": {"code": serial, "amount": "60.00"}}
    )

    assert await eventually(lambda: shopify_balance(shopify, serial)) == 6000
    await shopify.sim(
        "POST",
        "checkout",
        {
            "email": "ada@example.com",
            "gift_card_codes": [serial],
            "line_items": [{"title": "Lamp", "price": "25.00", "quantity": 1}],
        },
    )
    await eventually(lambda: _is(_pos_spendable(lightspeed, serial), 3500))
    cards = await ledger_cards(stack)
    assert [c["balance"]["amount"] for c in cards] == [3500]


@pytest.mark.parametrize("notify", [True, False], ids=["notifications-on", "notifications-off"])
async def test_the_customer_of_a_card_sold_in_store_is_emailed_online_only_when_switched_on(
    stack: Stack, shopify: Platform, lightspeed: Platform, notify: bool
) -> None:
    await stack.connect("shopify", shopify.server.base_url, send_notifications=notify)
    await stack.connect("lightspeed", lightspeed_api(lightspeed), poll_interval_seconds=1)
    serial = "7700998877665544"

    await lightspeed.sim(
        "POST",
        "sale",
        {
            "lines": [],
            "customer": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
            "sell_gift_card": {"code": serial, "amount": "40.00"},
        },
    )

    assert await eventually(lambda: shopify_balance(shopify, serial)) == 4000
    (card,) = await ledger_cards(stack)
    assert card["recipient"]["email"] == "ada@example.com"
    assert card["recipient"]["name"] == "Ada Lovelace"
    customers = (await shopify.state())["customers"]
    sent = await shopify.sim("GET", "notifications")
    if notify:  # the POS customer is uploaded, and Shopify e-mails them the card
        assert [(c["email"], c["first_name"], c["last_name"]) for c in customers] == [
            ("ada@example.com", "Ada", "Lovelace")
        ]
        assert [(n["kind"], n["to"], n["last_characters"]) for n in sent] == [
            ("gift_card", "ada@example.com", serial[-4:])
        ]
    else:
        assert customers == [] and sent == []


async def _pos_spendable(lightspeed: Platform, code: str) -> int | None:
    for account in await lightspeed_accounts(lightspeed):
        if account["code"] == code:
            return cents(account["spendable"])
    return None


async def _is(value: Any, expected: Any) -> bool:
    return bool(await value == expected)
