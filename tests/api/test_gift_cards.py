"""Issuing, reading, listing and revealing gift cards (API.md, Gift cards)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from omnigift.codes import luhn_valid, normalize
from tests.conftest import make_key
from tests.factories import card, issue, post, usd


async def test_issue_with_a_value_makes_an_active_card_and_shows_its_code_once(app_client, admin):
    issued = await issue(app_client, admin, 2500)
    assert issued["state"] == "active"
    assert issued["balance"] == usd(2500) and issued["available"] == usd(2500)
    assert issued["initial_value"] == usd(2500)
    code = normalize(issued["code"])
    assert len(code) == 20 and code.isdigit() and luhn_valid(code)
    assert issued["code_last4"] == code[-4:]
    assert issued["masked_code"].endswith(code[-4:])
    assert issued["id"].startswith("gc_")
    assert [lot["kind"] for lot in issued["lots"]] == ["paid"]
    again = await card(app_client, admin, issued["id"])
    assert "code" not in again


async def test_issue_without_a_value_makes_a_pending_card_with_no_balance(app_client, admin):
    issued = await issue(app_client, admin, None, type="physical")
    assert issued["state"] == "pending"
    assert issued["balance"] == usd(0)


async def test_issue_with_a_known_serial_keeps_it_and_refuses_it_twice(app_client, admin):
    issued = await issue(app_client, admin, 1000, code="ab12-cd34-ef56")
    assert issued["code"].replace(" ", "") == "AB12CD34EF56"
    again = await post(
        app_client,
        "/v1/gift-cards",
        admin,
        {"type": "physical", "currency": "USD", "code": "AB12CD34EF56"},
    )
    assert again.status_code == 409
    assert again.json()["code"] == "code_taken"


async def test_issue_with_a_too_short_code_is_refused(app_client, admin):
    response = await post(
        app_client,
        "/v1/gift-cards",
        admin,
        {"type": "physical", "currency": "USD", "code": "12345"},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_code"


async def test_reveal_needs_the_reveal_scope(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    reader = await make_key(app_client, "cards:read")
    refused = await app_client.get(f"/v1/gift-cards/{issued['id']}?reveal=true", headers=reader)
    assert refused.status_code == 403
    revealer = await make_key(app_client, "cards:read", "cards:reveal")
    shown = await app_client.get(f"/v1/gift-cards/{issued['id']}?reveal=true", headers=revealer)
    assert shown.json()["code"] == issued["code"]


async def test_unknown_card_is_not_found(app_client, admin):
    response = await app_client.get("/v1/gift-cards/gc_nope", headers=admin)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "not_found" and problem["status"] == 404
    assert problem["request_id"] == response.headers["x-request-id"]


async def test_paid_value_expiring_within_five_years_is_refused(app_client, admin):
    soon = (datetime.now(UTC) + timedelta(days=365)).isoformat()
    response = await post(
        app_client,
        "/v1/gift-cards",
        admin,
        {"currency": "USD", "initial_value": usd(1000), "expires_at": soon},
    )
    assert response.status_code == 422
    assert response.json()["code"] == "expiry_too_soon"


async def test_a_promotional_card_may_expire_soon(app_client, admin):
    soon = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    issued = await issue(
        app_client,
        admin,
        1000,
        expires_at=soon,
        initial_lot={"kind": "promotional", "expires_at": soon},
    )
    assert issued["lots"][0]["kind"] == "promotional"
    assert issued["expires_at"].startswith(soon[:10])


async def test_amounts_that_are_not_positive_integers_are_refused_with_the_field(app_client, admin):
    for bad in (0, -5, 10.5, "100", 10**15):
        response = await post(
            app_client,
            "/v1/gift-cards",
            admin,
            {"currency": "USD", "initial_value": {"amount": bad, "currency": "USD"}},
        )
        assert response.status_code == 422, bad
        body = response.json()
        assert body["code"] == "validation_error"
        assert body["errors"][0]["field"] == "initial_value.amount"


async def test_unknown_currency_is_refused(app_client, admin):
    response = await post(app_client, "/v1/gift-cards", admin, {"currency": "XYZ"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "currency"


async def test_list_filters_by_state_and_last4_and_pages_with_a_cursor(app_client, admin):
    first = await issue(app_client, admin, 100)
    await issue(app_client, admin, None)
    third = await issue(app_client, admin, 300)
    active = (await app_client.get("/v1/gift-cards?state=active", headers=admin)).json()
    assert [c["id"] for c in active["data"]] == [first["id"], third["id"]]
    by_last4 = await app_client.get(f"/v1/gift-cards?last4={third['code_last4']}", headers=admin)
    assert third["id"] in [c["id"] for c in by_last4.json()["data"]]
    page = (await app_client.get("/v1/gift-cards?limit=2", headers=admin)).json()
    assert len(page["data"]) == 2 and page["next_cursor"]
    rest = await app_client.get(
        f"/v1/gift-cards?limit=2&cursor={page['next_cursor']}", headers=admin
    )
    assert [c["id"] for c in rest.json()["data"]] == [third["id"]]
    assert rest.json()["next_cursor"] is None
    assert all("code" not in c for c in page["data"])


async def test_list_limit_outside_1_to_200_is_refused(app_client, admin):
    response = await app_client.get("/v1/gift-cards?limit=500", headers=admin)
    assert response.status_code == 422
