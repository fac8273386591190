"""Activities: every change of a card's balance or state, and every refusal (API.md, Activities)."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.factories import act, card, issue, post, row_counts, usd


async def test_load_adds_value_as_a_new_lot(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    response = await act(app_client, admin, issued["id"], "load", 500)
    assert response.status_code == 201
    activity = response.json()
    assert activity["type"] == "load" and activity["amount"] == usd(500)
    assert activity["balance_after"] == usd(1500) and activity["state_after"] == "active"
    assert activity["id"].startswith("act_") and activity["gift_card_id"] == issued["id"]
    assert len((await card(app_client, admin, issued["id"]))["lots"]) == 2


async def test_activate_a_pending_card_with_its_first_load(app_client, admin):
    issued = await issue(app_client, admin, None, type="physical")
    activity = (await act(app_client, admin, issued["id"], "activate", 2000)).json()
    assert activity["state_after"] == "active" and activity["balance_after"] == usd(2000)


async def test_activating_an_active_card_is_an_invalid_state(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    response = await act(app_client, admin, issued["id"], "activate")
    assert response.status_code == 409 and response.json()["code"] == "invalid_state"


async def test_redeem_more_than_balance_is_refused_and_writes_nothing(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    before = await row_counts(app_client)
    response = await act(app_client, admin, issued["id"], "redeem", 1001)
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_funds"
    assert await row_counts(app_client) == before
    assert (await card(app_client, admin, issued["id"]))["balance"] == usd(1000)


async def test_redeem_in_another_currency_is_a_currency_mismatch(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    response = await post(
        app_client,
        f"/v1/gift-cards/{issued['id']}/activities",
        admin,
        {"type": "redeem", "amount": {"amount": 10, "currency": "EUR"}},
    )
    assert response.status_code == 409 and response.json()["code"] == "currency_mismatch"


async def test_a_frozen_card_cannot_be_redeemed_or_loaded_until_unfrozen(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    assert (await act(app_client, admin, issued["id"], "freeze")).json()["state_after"] == "frozen"
    redeem = await act(app_client, admin, issued["id"], "redeem", 10)
    assert redeem.status_code == 409 and redeem.json()["code"] == "card_not_active"
    load = await act(app_client, admin, issued["id"], "load", 10)
    assert load.status_code == 409 and load.json()["code"] == "invalid_state"
    assert (await act(app_client, admin, issued["id"], "unfreeze")).status_code == 201
    assert (await act(app_client, admin, issued["id"], "redeem", 10)).status_code == 201


async def test_deactivation_is_permanent(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    assert (await act(app_client, admin, issued["id"], "deactivate")).status_code == 201
    assert (await act(app_client, admin, issued["id"], "redeem", 1)).json()["code"] == (
        "card_not_active"
    )
    again = await act(app_client, admin, issued["id"], "deactivate")
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    assert (await act(app_client, admin, issued["id"], "unfreeze")).json()["code"] == (
        "invalid_state"
    )


async def test_adjustments_need_a_reason_and_cannot_overdraw(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    no_reason = await act(app_client, admin, issued["id"], "adjust_increment", 100)
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    up = await act(app_client, admin, issued["id"], "adjust_increment", 100, reason="till error")
    assert up.json()["balance_after"] == usd(1100) and up.json()["reason"] == "till error"
    over = await act(app_client, admin, issued["id"], "adjust_decrement", 2000, reason="x")
    assert over.status_code == 409 and over.json()["code"] == "insufficient_funds"
    down = await act(app_client, admin, issued["id"], "adjust_decrement", 1100, reason="fraud")
    assert down.json()["balance_after"] == usd(0)


async def test_clear_balance_empties_the_card_and_releases_its_holds(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    hold = (
        await post(app_client, f"/v1/gift-cards/{issued['id']}/holds", admin, {"amount": usd(300)})
    ).json()
    cleared = (await act(app_client, admin, issued["id"], "clear_balance")).json()
    assert cleared["amount"] == usd(1000) and cleared["balance_after"] == usd(0)
    after = await app_client.get(f"/v1/holds/{hold['id']}", headers=admin)
    assert after.json()["state"] == "voided"
    assert (await card(app_client, admin, issued["id"]))["available"] == usd(0)


async def test_refund_of_a_redemption_restores_the_lots_it_spent(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    await act(
        app_client,
        admin,
        issued["id"],
        "adjust_increment",
        500,
        reason="goodwill",
        lot={"kind": "promotional"},
    )
    redeem = (await act(app_client, admin, issued["id"], "redeem", 1200)).json()
    lots = {
        lot["kind"]: lot["remaining"]["amount"]
        for lot in (await card(app_client, admin, issued["id"]))["lots"]
    }
    assert lots == {"paid": 300}  # the promotional bonus was spent first
    refund = await act(
        app_client, admin, issued["id"], "refund", 1000, redeem_activity_id=redeem["id"]
    )
    assert refund.status_code == 201 and refund.json()["balance_after"] == usd(1300)
    restored = {
        lot["kind"]: lot["remaining"]["amount"]
        for lot in (await card(app_client, admin, issued["id"]))["lots"]
    }
    assert restored == {"paid": 1000, "promotional": 300}
    over = await act(
        app_client, admin, issued["id"], "refund", 201, redeem_activity_id=redeem["id"]
    )
    assert over.status_code == 409 and over.json()["code"] == "refund_exceeds_redemption"
    rest = await act(
        app_client, admin, issued["id"], "refund", 200, redeem_activity_id=redeem["id"]
    )
    assert rest.json()["balance_after"] == usd(1500)


async def test_refund_without_a_redemption_adds_a_refund_lot(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    await act(app_client, admin, issued["id"], "refund", 250, reference={"order_id": "o-1"})
    kinds = sorted(lot["kind"] for lot in (await card(app_client, admin, issued["id"]))["lots"])
    assert kinds == ["paid", "refund"]


@pytest.mark.parametrize("kind", ["load", "redeem", "refund"])
async def test_amount_is_required_for_value_activities(app_client, admin, kind):
    issued = await issue(app_client, admin, 1000)
    response = await act(app_client, admin, issued["id"], kind)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "amount"


async def test_system_activities_cannot_be_requested(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    response = await act(app_client, admin, issued["id"], "expire")
    assert response.status_code == 422


async def test_an_activity_on_an_unknown_card_is_not_found(app_client, admin):
    response = await act(app_client, admin, "gc_missing", "redeem", 1)
    assert response.status_code == 404 and response.json()["code"] == "not_found"


async def test_history_lists_every_activity_oldest_first(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    await act(app_client, admin, issued["id"], "redeem", 100)
    await act(app_client, admin, issued["id"], "load", 50)
    history = (
        await app_client.get(f"/v1/gift-cards/{issued['id']}/activities", headers=admin)
    ).json()
    assert [a["type"] for a in history["data"]] == ["issue", "redeem", "load"]
    assert [a["balance_after"]["amount"] for a in history["data"]] == [1000, 900, 950]


async def test_the_activity_feed_filters_by_type_and_channel(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    await act(app_client, admin, issued["id"], "redeem", 100)
    feed = (await app_client.get("/v1/activities?type=redeem", headers=admin)).json()
    assert [a["type"] for a in feed["data"]] == ["redeem"]
    pos = (await app_client.get("/v1/activities?channel=pos", headers=admin)).json()
    assert pos["data"] == []


async def test_redeem_by_code_takes_the_amount(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    response = await post(
        app_client,
        "/v1/redemptions",
        admin,
        {"code": issued["code"], "amount": usd(400), "reference": {"sale_id": "s-9"}},
    )
    assert response.status_code == 201
    assert response.json()["amount"] == usd(400)
    assert response.json()["reference"] == {"sale_id": "s-9"}


async def test_partial_redeem_by_code_takes_what_is_there(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    response = await post(
        app_client,
        "/v1/redemptions",
        admin,
        {"code": issued["code"], "amount": usd(2500), "allow_partial": True},
    )
    assert response.status_code == 201
    assert response.json()["amount"] == usd(1000)
    assert response.json()["balance_after"] == usd(0)
    empty = await post(
        app_client,
        "/v1/redemptions",
        admin,
        {"code": issued["code"], "amount": usd(1), "allow_partial": True},
    )
    assert empty.status_code == 409 and empty.json()["code"] == "insufficient_funds"


async def test_redeem_by_code_without_partial_refuses_more_than_the_balance(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    response = await post(
        app_client, "/v1/redemptions", admin, {"code": issued["code"], "amount": usd(2500)}
    )
    assert response.status_code == 409 and response.json()["code"] == "insufficient_funds"


async def test_a_card_past_its_expiry_is_refused_before_the_expiry_job_runs(app_client, admin):
    from datetime import timedelta

    from sqlalchemy import update

    from omnigift.clock import utcnow
    from omnigift.db.tables import gift_cards

    issued = await issue(app_client, admin, 1000)
    runtime = app_client.app.state.runtime
    async with runtime.db.transaction() as conn:  # as if the expiry date had just passed
        await conn.execute(
            update(gift_cards)
            .where(gift_cards.c.id == issued["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    before = await row_counts(app_client)
    response = await act(app_client, admin, issued["id"], "redeem", 10)
    assert response.status_code == 409 and response.json()["code"] == "card_expired"
    assert (await act(app_client, admin, issued["id"], "load", 10)).json()["code"] == (
        "card_expired"
    )
    assert await row_counts(app_client) == before
    assert (await card(app_client, admin, issued["id"]))["state"] == "active"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_redeem_on_sqlite_is_one_trip_to_the_drivers_thread(app_client, admin, trips):
    issued = await issue(app_client, admin, 5_000)
    app_client.app.state.key_cache.ttl = 60  # as in service: the key is not read every time
    await act(app_client, admin, issued["id"], "redeem", 100)  # the key is read and cached
    db = app_client.app.state.runtime.db
    checked_out: list[str] = []
    for name, engine in (("read", db._read_engine), ("write", db.engine)):
        event.listen(engine.sync_engine, "checkout", lambda *_, n=name: checked_out.append(n))
    trips.clear()

    redeemed = await act(app_client, admin, issued["id"], "redeem", 700)

    assert redeemed.status_code == 201, redeemed.text
    # The card and its lots are read in the loop's thread, on no pooled connection; the write
    # is one trip on the write connection; nothing goes through SQLAlchemy, and no connection
    # is reset as it returns to its pool.
    assert trips == ["_write_groups"]
    assert checked_out == ["write"]
    assert (await card(app_client, admin, issued["id"]))["balance"]["amount"] == 4_200
