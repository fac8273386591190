"""Chaos: a scripted run of a few hundred activities across the ledger, Shopify and BigCommerce
while the platforms throttle, fail, duplicate and reorder notifications and go down for 30
seconds. At the end every mirror equals the ledger, no activity is duplicated, and
reconciliation reports zero drift."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from tests.factories import act, issue
from tests.support.stack import (
    Platform,
    Stack,
    eventually,
    platform_references,
    start_bigcommerce,
    start_shopify,
)

CARDS = 12
STEPS = 300
OUTAGE_SECONDS = 30


def cents(text: str | int | float) -> int:
    return int(Decimal(str(text)) * 100)


@pytest.fixture
async def platforms() -> AsyncIterator[tuple[Platform, Platform]]:
    # Generous limits: the faults below are injected on purpose, the rest is our own load.
    shopify = await asyncio.to_thread(start_shopify, rest_bucket=200, rest_leak_per_second=50.0)
    bigcommerce = await asyncio.to_thread(start_bigcommerce, quota=5000)
    yield shopify, bigcommerce
    for platform in (shopify, bigcommerce):
        await platform.http.aclose()
        await asyncio.to_thread(platform.server.stop)


async def test_every_mirror_converges_through_throttling_failures_and_an_outage(
    stack: Stack, platforms: tuple[Platform, Platform]
) -> None:
    shopify, bigcommerce = platforms
    shop = await stack.connect("shopify", shopify.server.base_url, poll_interval_seconds=2)
    store = await stack.connect(
        "bigcommerce", f"{bigcommerce.server.base_url}/stores/abc123", poll_interval_seconds=2
    )
    cards = [await issue(stack.api, stack.admin, 50000) for _ in range(CARDS)]
    codes = {c["id"]: c["code"].replace(" ", "") for c in cards}
    await _converged(stack, shopify, bigcommerce, codes, timeout=30)
    for platform in (shopify, bigcommerce):
        await platform.sim("POST", "webhooks/behaviour", {"duplicate": True, "reorder": True})

    rng = random.Random(20261202)
    spent_on: Counter[str] = Counter()
    outage: asyncio.Task[None] | None = None
    for step in range(STEPS):
        await _inject_faults(step, shopify, bigcommerce)
        if step == 200:
            outage = asyncio.create_task(_outage(shopify, bigcommerce))
        card_id = rng.choice(cards)["id"]
        roll = rng.random()
        amount = rng.randint(1, 12) * 100
        if roll < 0.35:
            await act(stack.api, stack.admin, card_id, "redeem", amount)  # may be refused: fine
        elif roll < 0.5:
            await act(stack.api, stack.admin, card_id, "load", amount)
        elif roll < 0.75:
            if await _checkout(shopify, codes[card_id], amount, "shopify"):
                spent_on["shopify"] += 1
        elif await _checkout(bigcommerce, codes[card_id], amount, "bigcommerce"):
            spent_on["bigcommerce"] += 1
        if step >= 200:
            await asyncio.sleep(0.1)  # the script spans the outage
    assert outage is not None
    await outage

    await _converged(stack, shopify, bigcommerce, codes, timeout=90)

    # Each platform spend became exactly one activity (or an overdraft exception).
    for integration, platform in ((shop, "shopify"), (store, "bigcommerce")):
        taken = await platform_references(stack, integration["id"], "online")
        assert len(taken) == len(set(taken)), f"{platform}: a platform spend applied twice"
        exceptions = await stack.api.get(
            "/v1/sync-exceptions",
            params={"integration_id": integration["id"], "limit": 200},
            headers=stack.admin,
        )
        refs = {e["reference"] for e in exceptions.json()["data"] if e["kind"] == "overdraft"}
        assert len(set(taken) | refs) >= spent_on[platform], platform
        path = f"/v1/integrations/{integration['id']}/reconciliation"
        report = (await stack.api.get(path, headers=stack.admin)).json()
        assert report["drift_count"] == 0, report["drift"]
        assert report["checked"] == CARDS
    # Money is conserved: the cards' liability is what the system accounts gave out.
    balances = (await stack.api.get("/v1/ledger/balances", headers=stack.admin)).json()
    usd = next(b for b in balances["data"] if b["currency"] == "USD")
    total = 0
    for card_id in codes:
        found = await stack.api.get(f"/v1/gift-cards/{card_id}", headers=stack.admin)
        total += found.json()["balance"]["amount"]
    assert usd["outstanding_liability"]["amount"] == total
    given_out = sum(
        amount["amount"] for name, amount in usd["system_accounts"].items() if name != "holds"
    )
    assert total + given_out == 0


async def _inject_faults(step: int, shopify: Platform, bigcommerce: Platform) -> None:
    if step == 40:
        await shopify.sim("POST", "faults", {"target": "graphql", "kind": "throttle", "count": 5})
        await bigcommerce.sim("POST", "faults", {"target": "v2", "kind": "quota", "count": 5})
    elif step == 90:
        await shopify.sim("POST", "faults", {"target": "all", "kind": "status", "count": 6})
        await bigcommerce.sim("POST", "faults", {"target": "all", "kind": "status", "count": 6})
    elif step == 140:
        await shopify.sim("POST", "faults", {"target": "graphql", "kind": "ambiguous", "count": 3})
        await bigcommerce.sim("POST", "faults", {"target": "v2", "kind": "ambiguous", "count": 3})
    elif step == 170:
        await shopify.sim(
            "POST", "faults", {"target": "rest", "kind": "latency", "count": 3, "seconds": 4}
        )


async def _outage(shopify: Platform, bigcommerce: Platform) -> None:
    down = {"target": "all", "kind": "down", "seconds": OUTAGE_SECONDS}
    await shopify.sim("POST", "faults", down)
    await bigcommerce.sim("POST", "faults", down)
    await asyncio.sleep(OUTAGE_SECONDS)


async def _checkout(platform: Platform, code: str, amount: int, kind: str) -> bool:
    price = f"{Decimal(amount) / 100:.2f}"
    body: dict[str, Any] = (
        {
            "email": "chaos@example.com",
            "line_items": [{"title": "Thing", "price": price, "quantity": 1}],
            "gift_card_codes": [code],
        }
        if kind == "shopify"
        else {
            "email": "chaos@example.com",
            "products": [{"name": "Thing", "price": price, "quantity": 1, "type": "physical"}],
            "gift_certificate_codes": [code],
        }
    )
    response = await platform.http.post("/__sim/checkout", json=body)
    return response.status_code < 300  # an emptied or disabled card is refused at checkout


async def _converged(
    stack: Stack,
    shopify: Platform,
    bigcommerce: Platform,
    codes: dict[str, str],
    timeout: float,
) -> None:
    mismatches: list[str] = []

    async def in_step() -> bool:
        shop = {
            c["code"].lower(): cents(c["balance"]) for c in (await shopify.state())["gift_cards"]
        }
        store = {
            c["code"]: cents(c["balance"]) for c in (await bigcommerce.state())["gift_certificates"]
        }
        mismatches.clear()
        for card_id, code in codes.items():
            ledger = (await stack.api.get(f"/v1/gift-cards/{card_id}", headers=stack.admin)).json()
            balance = ledger["balance"]["amount"]
            if shop.get(code.lower()) != balance or store.get(code) != balance:
                mismatches.append(
                    f"{card_id}: ledger {balance} shopify {shop.get(code.lower())} "
                    f"bigcommerce {store.get(code)}"
                )
        listed = (await stack.api.get("/v1/integrations", headers=stack.admin)).json()["data"]
        mismatches.extend(
            f"{i['platform']} health {i['health']}"
            for i in listed
            if i["health"]["pending_sync_jobs"]
        )
        return not mismatches

    try:
        await eventually(in_step, timeout=timeout, interval=0.5)
    except AssertionError:
        raise AssertionError("not converged:\n" + "\n".join(mismatches)) from None
