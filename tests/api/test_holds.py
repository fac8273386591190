"""Holds: authorize now, capture later (API.md, Holds)."""

from __future__ import annotations

from tests.factories import act, card, issue, post, row_counts, usd


async def place(client, headers, card_id, amount, **fields):
    return await post(
        client, f"/v1/gift-cards/{card_id}/holds", headers, {"amount": usd(amount), **fields}
    )


async def test_a_hold_lowers_available_but_not_balance(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    response = await place(app_client, admin, issued["id"], 400, reference={"order_id": "o-1"})
    assert response.status_code == 201
    hold = response.json()
    assert hold["state"] == "open" and hold["amount"] == usd(400)
    assert hold["captured_amount"] is None and hold["id"].startswith("hold_")
    now = await card(app_client, admin, issued["id"])
    assert now["balance"] == usd(1000) and now["available"] == usd(600)
    over = await act(app_client, admin, issued["id"], "redeem", 700)
    assert over.status_code == 409 and over.json()["code"] == "insufficient_funds"


async def test_a_hold_larger_than_available_is_refused(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    await place(app_client, admin, issued["id"], 800)
    response = await place(app_client, admin, issued["id"], 300)
    assert response.status_code == 409 and response.json()["code"] == "insufficient_funds"


async def test_partial_capture_redeems_part_and_releases_the_rest(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    hold = (await place(app_client, admin, issued["id"], 400)).json()
    captured = await post(
        app_client, f"/v1/holds/{hold['id']}/capture", admin, {"amount": usd(250)}
    )
    assert captured.status_code == 200
    assert captured.json()["state"] == "captured"
    assert captured.json()["captured_amount"] == usd(250)
    now = await card(app_client, admin, issued["id"])
    assert now["balance"] == usd(750) and now["available"] == usd(750)
    history = (
        await app_client.get(f"/v1/gift-cards/{issued['id']}/activities", headers=admin)
    ).json()["data"]
    assert history[-1]["type"] == "redeem" and history[-1]["hold_id"] == hold["id"]
    assert history[-1]["id"] == captured.json()["capture_activity_id"]


async def test_full_capture_without_an_amount(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    hold = (await place(app_client, admin, issued["id"], 400)).json()
    captured = await post(app_client, f"/v1/holds/{hold['id']}/capture", admin)
    assert captured.json()["captured_amount"] == usd(400)
    assert (await card(app_client, admin, issued["id"]))["balance"] == usd(600)


async def test_capturing_more_than_held_is_refused(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    hold = (await place(app_client, admin, issued["id"], 400)).json()
    response = await post(
        app_client, f"/v1/holds/{hold['id']}/capture", admin, {"amount": usd(401)}
    )
    assert response.status_code == 422


async def test_void_releases_the_hold_and_a_voided_hold_cannot_be_captured(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    hold = (await place(app_client, admin, issued["id"], 400)).json()
    voided = await post(app_client, f"/v1/holds/{hold['id']}/void", admin)
    assert voided.json()["state"] == "voided"
    assert (await card(app_client, admin, issued["id"]))["available"] == usd(1000)
    before = await row_counts(app_client)
    capture = await post(app_client, f"/v1/holds/{hold['id']}/capture", admin)
    assert capture.status_code == 409 and capture.json()["code"] == "invalid_state"
    assert await row_counts(app_client) == before


async def test_a_captured_hold_cannot_be_captured_again(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    hold = (await place(app_client, admin, issued["id"], 400)).json()
    await post(app_client, f"/v1/holds/{hold['id']}/capture", admin)
    again = await post(app_client, f"/v1/holds/{hold['id']}/capture", admin)
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"


async def test_a_hold_on_a_frozen_card_is_refused(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    await act(app_client, admin, issued["id"], "freeze")
    response = await place(app_client, admin, issued["id"], 100)
    assert response.status_code == 409 and response.json()["code"] == "card_not_active"


async def test_unknown_hold_is_not_found(app_client, admin):
    response = await post(app_client, "/v1/holds/hold_missing/void", admin)
    assert response.status_code == 404


async def test_a_hold_past_its_expiry_is_released_by_the_worker(app_client, admin):
    from datetime import timedelta

    from omnigift.clock import utcnow
    from omnigift.ledger.expiry import run_expiry

    issued = await issue(app_client, admin, 1000)
    hold = (await place(app_client, admin, issued["id"], 400, expires_in=60)).json()
    runtime = app_client.app.state.runtime
    report = await run_expiry(runtime.db, utcnow() + timedelta(seconds=61))
    assert report.holds == 1
    after = (await app_client.get(f"/v1/holds/{hold['id']}", headers=admin)).json()
    assert after["state"] == "expired"
    assert (await card(app_client, admin, issued["id"]))["available"] == usd(1000)
