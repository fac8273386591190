"""Lightspeed under faults: a scripted run of ledger activities and till spends while Lightspeed
throttles, fails, loses the answers to sync sales and goes down. At the end every credit account
equals the ledger, each till payment became one activity, and reconciliation finds no drift."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

from tests.connectors.test_lightspeed import connect, spendable
from tests.factories import act, issue
from tests.support.stack import Platform, Stack, eventually, platform_references

CARDS = 6
STEPS = 90
FAULTS = {  # step -> faults injected then (integrations.md 3.3, 3.4)
    10: [{"target": "Sale", "kind": "throttle", "count": 4, "seconds": 1}],
    25: [{"target": "all", "kind": "status", "count": 5, "status": 503}],
    40: [{"target": "Sale", "method": "POST", "kind": "ambiguous", "count": 3, "status": 502}],
    55: [{"target": "Sale", "method": "GET", "kind": "latency", "count": 2, "seconds": 3}],
    70: [{"target": "all", "kind": "down", "seconds": 8}],
}


async def test_lightspeed_mirrors_converge_through_throttling_lost_answers_and_an_outage(
    stack: Stack, lightspeed: Platform
) -> None:
    integration = await connect(stack, lightspeed)
    cards = [await issue(stack.api, stack.admin, 20000) for _ in range(CARDS)]
    codes = {c["id"]: c["code"].replace(" ", "") for c in cards}
    await _converged(stack, lightspeed, codes, timeout=30)

    rng = random.Random(20261202)
    kinds: Counter[str] = Counter()
    for step in range(STEPS):
        for fault in FAULTS.get(step, []):
            await lightspeed.sim("POST", "faults", fault)
        card_id = rng.choice(cards)["id"]
        amount = rng.randint(1, 8) * 100
        roll = rng.random()
        if roll < 0.35:
            await act(stack.api, stack.admin, card_id, "redeem", amount)  # may be refused: fine
            kinds["ledger"] += 1
        elif roll < 0.5:
            await act(stack.api, stack.admin, card_id, "load", amount)
            kinds["ledger"] += 1
        elif await _till_spend(lightspeed, codes[card_id], amount):
            kinds["till"] += 1
        await asyncio.sleep(0.1)  # the script spans the faults and the outage
    assert kinds["till"] > 10 and kinds["ledger"] > 10  # the script exercised both ways

    await _converged(stack, lightspeed, codes, timeout=90)
    assert (await lightspeed.sim("GET", "faults"))["faults"] == []  # every fault was met
    taken = await platform_references(stack, integration["id"])
    assert len(taken) == len(set(taken)), "a till payment was applied twice"
    report_path = f"/v1/integrations/{integration['id']}/reconciliation"
    report = (await stack.api.get(report_path, headers=stack.admin)).json()
    assert report["drift_count"] == 0, report["drift"]


async def _till_spend(lightspeed: Platform, code: str, amount: int) -> bool:
    """Ring up goods paid with the card; refused when the till sees too little on it."""
    price = f"{amount / 100:.2f}"
    body = {
        "lines": [{"description": "Thing", "price": price, "quantity": 1}],
        "gift_card_code": code,
        "gift_card_amount": price,
    }
    response = await lightspeed.http.post("/__sim/sale", json=body)
    return response.status_code < 300


async def _converged(
    stack: Stack, lightspeed: Platform, codes: dict[str, str], timeout: float
) -> None:
    mismatches: list[str] = []

    async def in_step() -> bool:
        accounts = {a["code"]: spendable(a) for a in (await lightspeed.state())["credit_accounts"]}
        mismatches.clear()
        for card_id, code in codes.items():
            found = await stack.api.get(f"/v1/gift-cards/{card_id}", headers=stack.admin)
            balance = found.json()["balance"]["amount"]
            if accounts.get(code) != balance:
                mismatches.append(f"{card_id}: ledger {balance}, lightspeed {accounts.get(code)}")
        return not mismatches

    try:
        await eventually(in_step, timeout=timeout, interval=0.5)
    except AssertionError as exc:
        raise AssertionError(f"not converged: {mismatches}") from exc
