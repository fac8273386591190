"""Shopify, end to end over real HTTP: the service with its worker, the Shopify simulator."""

from __future__ import annotations

from typing import Any

from tests.factories import act, card, issue
from tests.support.stack import Platform, Stack, eventually


async def on_shopify(shopify: Platform, code: str) -> dict[str, Any] | None:
    wanted = code.replace(" ", "").lower()
    for gift_card in (await shopify.state())["gift_cards"]:
        if gift_card["code"].lower() == wanted:
            return dict(gift_card)
    return None


def cents(text: str) -> int:
    from decimal import Decimal

    return int(Decimal(text) * 100)


async def balance_on_shopify(shopify: Platform, code: str) -> int | None:
    mirrored = await on_shopify(shopify, code)
    return cents(mirrored["balance"]) if mirrored else None


async def test_a_card_issued_in_the_ledger_appears_on_shopify_with_the_same_code(
    stack: Stack, shopify: Platform
) -> None:
    await stack.connect("shopify", shopify.server.base_url)
    issued = await issue(stack.api, stack.admin, 5000)

    mirrored = await eventually(lambda: on_shopify(shopify, issued["code"]))

    assert cents(mirrored["balance"]) == 5000
    assert mirrored["enabled"] is True


async def test_every_ledger_activity_moves_the_mirror(stack: Stack, shopify: Platform) -> None:
    await stack.connect("shopify", shopify.server.base_url)
    issued = await issue(stack.api, stack.admin, 5000)
    code = issued["code"]
    await eventually(lambda: on_shopify(shopify, code))

    assert (await act(stack.api, stack.admin, issued["id"], "redeem", 1200)).status_code == 201
    await eventually(lambda: _equals(balance_on_shopify(shopify, code), 3800))
    assert (await act(stack.api, stack.admin, issued["id"], "load", 700)).status_code == 201
    await eventually(lambda: _equals(balance_on_shopify(shopify, code), 4500))

    assert (await act(stack.api, stack.admin, issued["id"], "deactivate")).status_code == 201
    gone = await eventually(lambda: _disabled(shopify, code))
    assert cents(gone["balance"]) == 0


async def test_a_shopify_checkout_spend_is_a_redeem_in_the_ledger(
    stack: Stack, shopify: Platform
) -> None:
    integration = await stack.connect("shopify", shopify.server.base_url)
    issued = await issue(stack.api, stack.admin, 5000)
    await eventually(lambda: on_shopify(shopify, issued["code"]))

    await shopify.sim(
        "POST",
        "checkout",
        {
            "email": "ada@example.com",
            "line_items": [{"title": "Scarf", "price": "20.00", "quantity": 1}],
            "gift_card_codes": [issued["code"]],
        },
    )

    async def redeemed() -> dict[str, Any] | None:
        history = await stack.api.get(
            f"/v1/gift-cards/{issued['id']}/activities", headers=stack.admin
        )
        found = [a for a in history.json()["data"] if a["type"] == "redeem"]
        return found[0] if found else None

    activity = await eventually(redeemed)
    assert activity["amount"]["amount"] == 2000
    assert activity["origin"]["channel"] == "online"
    assert activity["origin"]["integration_id"] == integration["id"]
    assert activity["reference"]["platform"] == "shopify"
    assert (await card(stack.api, stack.admin, issued["id"]))["balance"]["amount"] == 3000
    # The mirror is left alone: Shopify already spent it.
    assert await balance_on_shopify(shopify, issued["code"]) == 3000


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def _disabled(shopify: Platform, code: str) -> dict[str, Any] | None:
    mirrored = await on_shopify(shopify, code)
    return mirrored if mirrored and not mirrored["enabled"] else None
