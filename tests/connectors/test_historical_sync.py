"""Seed 002: on first enable, history syncs both ways — every Lightspeed card into the ledger,
every ledger card out to Lightspeed — with a report of the codes the other side can't take."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from omnigift.ledger.imports import import_csv
from tests.support.stack import Platform, Stack, eventually, lightspeed_api

EACH_SIDE = 1000


async def test_history_syncs_both_ways_and_reports_codes_the_other_side_cant_take(
    stack: Stack, lightspeed: Platform
) -> None:
    # In Lightspeed before we connect: 1,000 cards, and 3 whose 24-character codes Lightspeed
    # takes (8-32) but the ledger can't (8-20).
    async def make(code: str, amount: str) -> None:
        await lightspeed.sim("POST", "credit_accounts", {"code": code, "amount": amount})

    for start in range(0, EACH_SIDE, 10):
        await asyncio.gather(*(make(f"77{n:011d}", "10.00") for n in range(start, start + 10)))
    too_long = [f"LS{n:022d}" for n in range(3)]
    for code in too_long:
        await make(code, "5.00")
    # In the ledger before we connect: 1,000 historical cards.
    csv = "code,balance,currency,expires_at,customer_email,note\n" + "".join(
        f"88{n:011d},20.00,USD,,,\n" for n in range(EACH_SIDE)
    )
    report = await import_csv(stack.runtime.db, stack.runtime.policy, io.StringIO(csv))
    assert report.imported == EACH_SIDE

    integration = await stack.connect(
        "lightspeed",
        lightspeed_api(lightspeed),
        pull_cards=True,
        historical_sync=True,
        poll_interval_seconds=5,
    )

    runs = await eventually(lambda: _finished(stack, integration["id"]), timeout=240, interval=1)
    by_kind = {r["kind"]: r for r in runs}
    imported = by_kind["import"]["report"]
    # Polling (which finds cards sold in Lightspeed) may take some of them in first: either way
    # each is in the ledger once.
    assert imported["imported"] + imported["already_in_ledger"] >= EACH_SIDE
    assert sorted(r["external_id"] for r in imported["refused"]) == sorted(
        await _ids_of(lightspeed, too_long)
    )
    assert all("8 to 20" in r["reason"] for r in imported["refused"])
    assert by_kind["export"]["report"]["refused"] == []

    async def all_mirrored() -> bool:
        accounts = (await lightspeed.state())["credit_accounts"]
        ours = [a for a in accounts if a["code"].startswith("88")]
        listed = (await stack.api.get("/v1/integrations", headers=stack.admin)).json()["data"]
        return (
            len(ours) == EACH_SIDE
            and all(a["spendable"] in ("20", "20.00") for a in ours)
            and listed[0]["health"]["pending_sync_jobs"] == 0
        )

    await eventually(all_mirrored, timeout=240, interval=1)
    balances = (await stack.api.get("/v1/ledger/balances", headers=stack.admin)).json()["data"]
    assert balances[0]["card_count"] == 2 * EACH_SIDE
    assert balances[0]["outstanding_liability"]["amount"] == EACH_SIDE * (2000 + 1000)


async def _finished(stack: Stack, integration_id: str) -> list[dict[str, Any]] | None:
    listed = await stack.api.get(f"/v1/integrations/{integration_id}/runs", headers=stack.admin)
    runs = list(listed.json()["data"])
    done = len(runs) == 2 and all(r["state"] in ("done", "failed") for r in runs)
    return runs if done else None


async def _ids_of(lightspeed: Platform, codes: list[str]) -> list[str]:
    accounts = (await lightspeed.state())["credit_accounts"]
    return [str(a["creditAccountID"]) for a in accounts if a["code"] in codes]
