"""Concurrent redeems never overspend and never deadlock: on PostgreSQL with real row locks, on
SQLite through its one writer and the group commit; the short way holds on both."""

from __future__ import annotations

import asyncio

from tests.factories import act, card, issue, usd


async def test_fifty_concurrent_redeemers_never_overspend_one_card(app_client, admin):
    issued = await issue(app_client, admin, 10_000)
    amounts = [300 + (i * 37) % 200 for i in range(50)]  # about 20,000 asked of 10,000
    responses = await asyncio.gather(
        *(act(app_client, admin, issued["id"], "redeem", amount) for amount in amounts)
    )
    taken = [a for a, r in zip(amounts, responses, strict=True) if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert all(r.status_code == 409 and r.json()["code"] == "insufficient_funds" for r in refused)
    assert sum(taken) <= 10_000
    final = await card(app_client, admin, issued["id"])
    assert final["balance"] == usd(10_000 - sum(taken))


async def test_concurrent_holds_and_redeems_never_exceed_the_balance(app_client, admin):
    from tests.factories import post

    issued = await issue(app_client, admin, 5_000)
    holds = [
        post(app_client, f"/v1/gift-cards/{issued['id']}/holds", admin, {"amount": usd(700)})
        for _ in range(10)
    ]
    redeems = [act(app_client, admin, issued["id"], "redeem", 700) for _ in range(10)]
    responses = await asyncio.gather(*holds, *redeems)
    ok = sum(1 for r in responses if r.status_code == 201)
    assert ok == 7  # 7 x 700 = 4,900 fits; an eighth would not
    final = await card(app_client, admin, issued["id"])
    assert final["available"]["amount"] == 5_000 - 7 * 700
    assert final["available"]["amount"] >= 0


def _redeems_by(way: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("omnigift_redeem_way_total", {"way": way}) or 0.0


async def test_a_busy_card_is_redeemed_the_short_way_as_its_requests_take_turns(app_client, admin):
    issued = await issue(app_client, admin, 10_000)
    short, locked = _redeems_by("short"), _redeems_by("locked")

    responses = await asyncio.gather(
        *(act(app_client, admin, issued["id"], "redeem", 100) for _ in range(20))
    )

    assert [r.status_code for r in responses] == [201] * 20
    assert _redeems_by("short") - short == 20  # none found the card moved under it
    assert _redeems_by("locked") == locked
    assert (await card(app_client, admin, issued["id"]))["balance"] == usd(8_000)


async def test_a_retry_in_a_busy_cards_queue_replays_and_the_redeems_behind_it_still_land(
    app_client, admin
):
    issued = await issue(app_client, admin, 10_000)
    path = f"/v1/gift-cards/{issued['id']}/activities"
    body = {"type": "redeem", "amount": usd(100)}
    retried = {**admin, "Idempotency-Key": "till-7-sale-1"}
    first = await app_client.post(path, json=body, headers=retried)
    assert first.status_code == 201

    retry, *others = await asyncio.gather(
        app_client.post(path, json=body, headers=retried),
        *(act(app_client, admin, issued["id"], "redeem", 100) for _ in range(10)),
    )

    assert retry.status_code == 201 and retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.json() == first.json()
    assert [r.status_code for r in others] == [201] * 10
    assert (await card(app_client, admin, issued["id"]))["balance"] == usd(10_000 - 1_100)


async def test_a_busy_cards_redeems_are_each_planned_once(app_client, admin, monkeypatch):
    from omnigift.api import idempotency

    planned = 0
    plan_redeem_unlocked = idempotency.plan_redeem_unlocked

    async def counted(*args, **kwargs):
        nonlocal planned
        planned += 1
        return await plan_redeem_unlocked(*args, **kwargs)

    issued = await issue(app_client, admin, 10_000)
    monkeypatch.setattr(idempotency, "plan_redeem_unlocked", counted)

    responses = await asyncio.gather(
        *(act(app_client, admin, issued["id"], "redeem", 100) for _ in range(20))
    )

    assert [r.status_code for r in responses] == [201] * 20
    assert planned == 20  # each planned on what the one before it left, never again
    assert (await card(app_client, admin, issued["id"]))["balance"] == usd(8_000)


def _writes_together() -> tuple[float, float]:
    """(writes sent, redeems in them) so far."""
    from prometheus_client import REGISTRY

    sent = REGISTRY.get_sample_value("omnigift_card_writes_together_count") or 0.0
    return sent, REGISTRY.get_sample_value("omnigift_card_writes_together_sum") or 0.0


async def test_a_busy_cards_redeems_are_written_together_a_commit_for_several(app_client, admin):
    issued = await issue(app_client, admin, 10_000)
    sent, redeems = _writes_together()

    responses = await asyncio.gather(
        *(act(app_client, admin, issued["id"], "redeem", 100) for _ in range(20))
    )

    assert [r.status_code for r in responses] == [201] * 20
    sent_now, redeems_now = _writes_together()
    assert redeems_now - redeems == 20
    assert sent_now - sent < 20  # some went out together
    history = await app_client.get(f"/v1/gift-cards/{issued['id']}/activities", headers=admin)
    redeems_seen = [a for a in history.json()["data"] if a["type"] == "redeem"]
    balances = [a["balance_after"]["amount"] for a in redeems_seen]
    assert sorted(balances, reverse=True) == [10_000 - 100 * n for n in range(1, 21)]


async def test_a_redeem_whose_card_moved_after_its_read_takes_the_locked_way_once(
    app_client, admin, monkeypatch
):
    from omnigift.api import idempotency
    from omnigift.clock import utcnow
    from omnigift.ledger.activities import ActivityRequest, apply_activity
    from omnigift.ledger.cards import ActivityType
    from omnigift.ledger.origin import Origin

    issued = await issue(app_client, admin, 10_000)
    runtime = app_client.app.state.runtime
    plan_redeem_unlocked = idempotency.plan_redeem_unlocked

    async def then_another_process_loads(*args, **kwargs):
        planned = await plan_redeem_unlocked(*args, **kwargs)
        load = ActivityRequest(type=ActivityType.LOAD, amount=500, currency="USD")
        async with runtime.db.transaction() as conn:
            await apply_activity(conn, issued["id"], load, runtime.policy, Origin(), utcnow())
        return planned

    monkeypatch.setattr(idempotency, "plan_redeem_unlocked", then_another_process_loads)
    short, locked = _redeems_by("short"), _redeems_by("locked")

    redeemed = await act(app_client, admin, issued["id"], "redeem", 2_000)

    assert redeemed.status_code == 201, redeemed.text
    assert (_redeems_by("short") - short, _redeems_by("locked") - locked) == (0, 1)
    assert redeemed.json()["balance_after"] == usd(10_000 + 500 - 2_000)
    history = await app_client.get(f"/v1/gift-cards/{issued['id']}/activities", headers=admin)
    kinds = [a["type"] for a in history.json()["data"]]
    assert kinds.count("redeem") == 1 and kinds.count("load") == 1
    assert (await card(app_client, admin, issued["id"]))["balance"] == usd(8_500)
