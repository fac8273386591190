"""Seed 000: "spend $100 online, get a $10 gift card" — a web store order paid earns its
``order_completed`` promotion once, e-mailed to the buyer; refunded in full, it is withdrawn."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.factories import promotion
from tests.support.smtp import Mailbox
from tests.support.stack import Platform, Stack, eventually

SPEND_120 = {"line_items": [{"title": "Coat", "price": "120.00", "quantity": 1}]}
BONUS_CARD = {"type": "fixed", "amount": 1000, "target": "new_card", "expires_in_days": 30}


async def _promotion(stack: Stack) -> dict[str, Any]:
    """Spend $100 online, get a $10 card valid 30 days."""
    conditions = {"min_amount": 10000, "channels": ["online"]}
    return await promotion(
        stack.api, stack.admin, "order_completed", BONUS_CARD, conditions=conditions
    )


async def _cards(stack: Stack) -> list[dict[str, Any]]:
    listed = await stack.api.get("/v1/gift-cards", headers=stack.admin)
    return list(listed.json()["data"])


async def _bonus_cards(stack: Stack) -> list[dict[str, Any]] | None:
    found = [c for c in await _cards(stack) if c["metadata"].get("bonus")]
    return found or None


async def _shopify_order(shopify: Platform, price: str, **extra: Any) -> dict[str, Any]:
    bought = await shopify.sim(
        "POST",
        "checkout",
        {
            "email": "grace@example.com",
            "customer": {"first_name": "Grace", "last_name": "Hopper"},
            "line_items": [{"title": "Coat", "price": price, "quantity": 1}],
            **extra,
        },
    )
    return dict(bought["order"])


async def test_a_shopify_order_over_the_minimum_earns_a_bonus_card_once_emailed_to_the_buyer(
    mailing_stack: Stack, shopify: Platform, mailbox: Mailbox
) -> None:
    stack = mailing_stack
    promotion = await _promotion(stack)
    await stack.connect("shopify", shopify.server.base_url)

    await _shopify_order(shopify, "60.00")  # under the minimum: nothing
    order = await _shopify_order(shopify, "120.00")

    (bonus,) = await eventually(lambda: _bonus_cards(stack), timeout=20)
    assert bonus["balance"]["amount"] == 1000
    assert bonus["metadata"]["bonus"]["promotion_id"] == promotion["id"]
    assert bonus["metadata"]["bonus"]["occasion"].endswith(f":{order['id']}")
    customer = await stack.api.get(f"/v1/customers/{bonus['customer_id']}", headers=stack.admin)
    assert customer.json()["email"] == "grace@example.com"

    async def emailed() -> list[Any] | None:
        return list(mailbox.received) or None

    (message,) = await eventually(emailed, timeout=20)
    assert message["To"] == "grace@example.com"
    # The order announced again (its webhook redelivered, the poll): no second bonus.
    await shopify.sim("POST", f"orders/{order['id']}/refund", {"amount": "1.00"})
    await asyncio.sleep(1)
    assert len(await _bonus_cards(stack) or []) == 1
    granted = await stack.api.get(f"/v1/promotions/{promotion['id']}", headers=stack.admin)
    assert granted.json()["granted"]["amount"] == 1000


async def test_refunding_a_shopify_order_in_full_withdraws_the_unused_bonus_card_it_earned(
    stack: Stack, shopify: Platform
) -> None:
    await _promotion(stack)
    await stack.connect("shopify", shopify.server.base_url)
    order = await _shopify_order(shopify, "150.00")
    (bonus,) = await eventually(lambda: _bonus_cards(stack), timeout=20)

    await shopify.sim("POST", f"orders/{order['id']}/refund", {"amount": "150.00"})

    async def withdrawn() -> bool:
        found = await stack.api.get(f"/v1/gift-cards/{bonus['id']}", headers=stack.admin)
        now = found.json()
        return bool(now["state"] == "deactivated" and now["balance"]["amount"] == 0)

    await eventually(withdrawn, timeout=20)


async def test_a_shopify_gift_card_bought_in_an_order_does_not_count_towards_its_bonus(
    stack: Stack, shopify: Platform
) -> None:
    await _promotion(stack)
    await stack.connect("shopify", shopify.server.base_url)
    order = await shopify.sim(
        "POST",
        "checkout",
        {
            "email": "grace@example.com",
            "line_items": [
                {"title": "Shopify gift card", "price": "100.00", "gift_card": True},
                {"title": "Scarf", "price": "30.00"},
            ],
        },
    )
    await shopify.sim("POST", "checkout", {**SPEND_120, "email": "ada@example.com"})

    (bonus,) = await eventually(lambda: _bonus_cards(stack), timeout=20)
    assert bonus["metadata"]["bonus"]["occasion"].endswith(f":{order['order']['id']}") is False


async def test_a_bigcommerce_order_earns_the_bonus_on_what_was_paid_for_goods_not_gift_cards(
    stack: Stack, bigcommerce: Platform
) -> None:
    await _promotion(stack)
    await stack.connect(
        "bigcommerce",
        f"{bigcommerce.server.base_url}/stores/abc123",
        sell_cards=True,
        gift_card_skus=["OMNI-GC"],
    )
    card = {"name": "Omnigift card", "type": "digital", "sku": "OMNI-GC", "quantity": 1}
    shirt = {"name": "Shirt", "type": "physical", "sku": "S-1", "quantity": 1}
    # $150 in all, but $100 of it is a gift card: $50 of goods earns nothing.
    await bigcommerce.sim(
        "POST",
        "checkout",
        {
            "email": "ada@example.com",
            "products": [{**card, "price": "100"}, {**shirt, "price": "50"}],
        },
    )
    await eventually(lambda: _sold(stack, 1), timeout=20)
    await bigcommerce.sim(
        "POST",
        "checkout",
        {"email": "ada@example.com", "first_name": "Ada", "products": [{**shirt, "price": "110"}]},
    )

    (bonus,) = await eventually(lambda: _bonus_cards(stack), timeout=20)
    assert bonus["balance"]["amount"] == 1000
    await asyncio.sleep(0.5)
    assert len(await _cards(stack)) == 2  # the card bought, and one bonus


async def _sold(stack: Stack, count: int) -> bool:
    return len(await _cards(stack)) == count


async def test_a_bigcommerce_certificate_bought_in_an_order_does_not_count_towards_its_bonus(
    stack: Stack, bigcommerce: Platform
) -> None:
    await _promotion(stack)
    await stack.connect(
        "bigcommerce", f"{bigcommerce.server.base_url}/stores/abc123", pull_cards=True
    )
    certificate = {
        "name": "Gift certificate",
        "price": "100.00",
        "quantity": 1,
        "type": "giftcertificate",
        "recipient": {"name": "Bo", "email": "bo@example.com"},
    }
    shirt = {"name": "Shirt", "type": "physical", "sku": "S-1", "quantity": 1}
    # $130 in all, but $100 of it is a certificate: $30 of goods earns nothing.
    await bigcommerce.sim(
        "POST",
        "checkout",
        {"email": "ada@example.com", "products": [certificate, {**shirt, "price": "30"}]},
    )
    await eventually(lambda: _sold(stack, 1), timeout=20)  # the certificate, pulled in
    await bigcommerce.sim(
        "POST", "checkout", {"email": "bo@example.com", "products": [{**shirt, "price": "120"}]}
    )

    (bonus,) = await eventually(lambda: _bonus_cards(stack), timeout=20)
    customer = await stack.api.get(f"/v1/customers/{bonus['customer_id']}", headers=stack.admin)
    assert customer.json()["email"] == "bo@example.com"
    await asyncio.sleep(0.5)
    assert len(await _bonus_cards(stack) or []) == 1
