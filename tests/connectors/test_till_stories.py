"""Seed 000 through the tender API: a till (the POS simulator) and a web store, over real HTTP."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from omnigift_sandbox.pos.till import Till
from tests.factories import issue
from tests.support.stack import Platform, Stack, eventually


async def on_shopify(shopify: Platform, code: str) -> int | None:
    for found in (await shopify.state())["gift_cards"]:
        if found["code"].lower() == code.lower():
            return int(Decimal(found["balance"]) * 100)
    return None


async def a_till(stack: Stack, tmp_path: Path) -> Till:
    key = await stack.key(
        "cards:lookup", "cards:redeem", "cards:write", channel="pos", location="store-12"
    )
    secret = key["Authorization"].removeprefix("Bearer ")
    return Till(stack.service.base_url, secret, "connectpos-1", "cashier-7", tmp_path / "j.json")


async def test_seed_000_a_card_bought_online_is_redeemed_twice_at_the_till_and_a_reverse_restores(
    stack: Stack, shopify: Platform, tmp_path: Path
) -> None:
    await stack.connect("shopify", shopify.server.base_url)
    bought = await issue(stack.api, stack.admin, 10000)  # sold on the web store
    code = bought["code"].replace(" ", "")
    await eventually(lambda: _is(on_shopify(shopify, code), 10000))
    till = await a_till(stack, tmp_path)

    first = await asyncio.to_thread(till.redeem, code, 3000)
    await eventually(lambda: _is(on_shopify(shopify, code), 7000))
    second = await asyncio.to_thread(till.redeem, code, 2500)
    assert second["gift_card"]["balance"]["amount"] == 4500
    await eventually(lambda: _is(on_shopify(shopify, code), 4500))

    reversed_ = await asyncio.to_thread(till.reverse, second["transaction_id"])
    assert reversed_["gift_card"]["balance"]["amount"] == 7000
    again = await asyncio.to_thread(till.reverse, second["transaction_id"])
    assert again == reversed_
    await eventually(lambda: _is(on_shopify(shopify, code), 7000))
    assert first["transaction_id"] != second["transaction_id"]
    till.close()


async def test_a_till_goes_offline_redeems_and_catches_up_with_the_original_times(
    stack: Stack, tmp_path: Path
) -> None:
    small = await issue(stack.api, stack.admin, 1000)
    big = await issue(stack.api, stack.admin, 5000)
    till = await a_till(stack, tmp_path)
    till.offline = True

    queued = till.redeem(big["code"], 2000)
    overdraw = till.redeem(small["code"], 1500)
    assert queued["status"] == overdraw["status"] == "queued_offline"
    times = [q["occurred_at"] for q in till.queued]

    # The till restarts from its journal before catching up: nothing is lost.
    till.close()
    till = await a_till(stack, tmp_path)
    answers = await asyncio.to_thread(till.catch_up)

    assert [a["occurred_at"] for a in answers] == times
    assert answers[1]["uncovered"] == {"amount": 500, "currency": "USD"}
    history = await stack.api.get(f"/v1/gift-cards/{big['id']}/activities", headers=stack.admin)
    landed = history.json()["data"][-1]
    assert landed["type"] == "redeem" and landed["metadata"]["occurred_at"] == times[0]
    exceptions = await stack.api.get(
        "/v1/sync-exceptions", params={"gift_card_id": small["id"]}, headers=stack.admin
    )
    assert [e["kind"] for e in exceptions.json()["data"]] == ["offline_overdraft"]
    till.close()


async def _is(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_the_till_simulator_runs_from_the_command_line(stack: Stack, tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    issued = await issue(stack.api, stack.admin, 3000)
    key = await stack.key("cards:lookup", "cards:redeem", channel="pos", location="store-12")
    omnigift = str(Path(sys.executable).parent / "omnigift")
    common = [
        "--url",
        stack.service.base_url,
        "--key",
        key["Authorization"].removeprefix("Bearer "),
        "--terminal",
        "T12",
        "--journal",
        str(tmp_path / "till.json"),
    ]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [omnigift, "sandbox", "pos", *args, *common],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    redeemed = await asyncio.to_thread(run, "redeem", issued["code"].replace(" ", ""), "1200")
    assert redeemed.returncode == 0, redeemed.stderr
    assert json.loads(redeemed.stdout)["gift_card"]["balance"]["amount"] == 1800
    declined = await asyncio.to_thread(run, "redeem", issued["code"].replace(" ", ""), "9900")
    assert declined.returncode == 1
    assert json.loads(declined.stderr)["code"] == "insufficient_funds"
