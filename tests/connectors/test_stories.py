"""The source documents' stories, end to end: web stores, a POS terminal and the ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.factories import post, usd
from tests.support.stack import Platform, Stack, eventually


def cents(text: str | int | float) -> int:
    return int(Decimal(str(text)) * 100)


async def lookup(stack: Stack, pos: dict[str, str], code: str) -> dict[str, Any]:
    """What the till sees when it scans the card."""
    response = await stack.api.post("/v1/gift-cards/lookup", json={"code": code}, headers=pos)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def certificate(bigcommerce: Platform, code: str) -> dict[str, Any] | None:
    for found in (await bigcommerce.state())["gift_certificates"]:
        if found["code"] == code:
            return dict(found)
    return None


async def shopify_card(shopify: Platform, code: str) -> dict[str, Any] | None:
    for found in (await shopify.state())["gift_cards"]:
        if found["code"].lower() == code.lower():
            return dict(found)
    return None


async def test_seed_000_a_card_bought_on_bigcommerce_is_spent_at_the_till_and_again_online(
    stack: Stack, bigcommerce: Platform
) -> None:
    await stack.connect(
        "bigcommerce",
        f"{bigcommerce.server.base_url}/stores/abc123",
        sell_cards=True,
        gift_card_skus=["OMNI-GC-100"],
    )
    pos = await stack.key("cards:redeem", "cards:lookup", channel="pos", location="store-12")

    # Bought online: our gift card product, $100.
    await bigcommerce.sim(
        "POST",
        "checkout",
        {
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "products": [
                {
                    "name": "Gift card",
                    "price": "100.00",
                    "quantity": 1,
                    "type": "digital",
                    "sku": "OMNI-GC-100",
                }
            ],
        },
    )

    async def bought() -> dict[str, Any] | None:
        cards = (await stack.api.get("/v1/gift-cards", headers=stack.admin)).json()["data"]
        return cards[0] if cards else None

    sold = await eventually(bought)
    code = (
        (
            await stack.api.get(
                f"/v1/gift-cards/{sold['id']}", params={"reveal": "true"}, headers=stack.admin
            )
        )
        .json()["code"]
        .replace(" ", "")
    )
    await eventually(lambda: certificate(bigcommerce, code))

    # In the shop a minute later: $30 at the till.
    spent = await post(stack.api, "/v1/redemptions", pos, {"code": code, "amount": usd(3000)})
    assert spent.status_code == 201, spent.text
    assert spent.json()["origin"]["channel"] == "pos"

    async def web_sees(amount: int) -> bool:
        found = await certificate(bigcommerce, code)
        return found is not None and cents(found["balance"]) == amount

    await eventually(lambda: web_sees(7000))

    # And again on the web: $45 of a $45 basket.
    await bigcommerce.sim(
        "POST",
        "checkout",
        {
            "email": "ada@example.com",
            "products": [{"name": "Book", "price": "45.00", "quantity": 1, "type": "physical"}],
            "gift_certificate_codes": [code],
        },
    )

    async def till_sees(amount: int) -> bool:
        return bool((await lookup(stack, pos, code))["balance"]["amount"] == amount)

    await eventually(lambda: till_sees(2500))
    await eventually(lambda: web_sees(2500))
    ledger = (await stack.api.get(f"/v1/gift-cards/{sold['id']}", headers=stack.admin)).json()
    assert ledger["balance"]["amount"] == 2500
    channels = [
        a["origin"]["channel"]
        for a in (
            await stack.api.get(f"/v1/gift-cards/{sold['id']}/activities", headers=stack.admin)
        ).json()["data"]
    ]
    assert channels == ["online", "pos", "online"]


async def test_seed_002_a_card_issued_at_the_till_is_half_spent_in_the_shopify_checkout(
    stack: Stack, shopify: Platform
) -> None:
    await stack.connect("shopify", shopify.server.base_url)
    till = await stack.key(
        "cards:write", "cards:redeem", "cards:lookup", channel="pos", location="store-12"
    )
    issued = await post(
        stack.api,
        "/v1/gift-cards",
        till,
        {"type": "physical", "currency": "USD", "initial_value": usd(8000)},
    )
    assert issued.status_code == 201, issued.text
    code = issued.json()["code"].replace(" ", "")

    mirrored = await eventually(lambda: shopify_card(shopify, code))
    assert cents(mirrored["balance"]) == 8000  # the same code, on Shopify

    await shopify.sim(
        "POST",
        "checkout",
        {
            "email": "grace@example.com",
            "line_items": [{"title": "Coat", "price": "40.00", "quantity": 1}],
            "gift_card_codes": [code],
        },
    )

    async def till_sees(amount: int) -> bool:
        return bool((await lookup(stack, till, code))["balance"]["amount"] == amount)

    await eventually(lambda: till_sees(4000))
    found = await shopify_card(shopify, code)
    assert found is not None and cents(found["balance"]) == 4000
