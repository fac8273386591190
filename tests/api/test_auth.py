"""API keys and scopes: least privilege, and the origin a channel-bound key records."""

from __future__ import annotations

from tests.conftest import make_key
from tests.factories import act, issue, post


async def test_a_request_without_a_key_is_unauthorized(app_client):
    response = await app_client.get("/v1/gift-cards")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_an_unknown_key_is_unauthorized(app_client):
    response = await app_client.get("/v1/gift-cards", headers={"Authorization": "Bearer ogk_nope"})
    assert response.status_code == 401


async def test_a_redeem_key_cannot_issue_adjust_reveal_or_read_the_ledger(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    till = await make_key(app_client, "cards:redeem")
    refused = [
        await post(app_client, "/v1/gift-cards", till, {"currency": "USD"}),
        await act(app_client, till, issued["id"], "adjust_increment", 100, reason="x"),
        await act(app_client, till, issued["id"], "freeze"),
        await app_client.get(f"/v1/gift-cards/{issued['id']}?reveal=true", headers=till),
        await app_client.get("/v1/ledger/balances", headers=till),
        await app_client.get("/v1/api-keys", headers=till),
        await app_client.post(
            "/v1/api-keys", headers=till, json={"name": "x", "scopes": ["admin"]}
        ),
    ]
    assert [r.status_code for r in refused] == [403] * 7
    assert {r.json()["code"] for r in refused} == {"forbidden"}
    assert (await act(app_client, till, issued["id"], "redeem", 100)).status_code == 201


async def test_a_channel_bound_key_records_its_channel_and_location(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    till = await make_key(app_client, "cards:redeem", channel="pos", location="store-12")
    activity = (await act(app_client, till, issued["id"], "redeem", 100)).json()
    assert activity["origin"]["channel"] == "pos"
    assert activity["origin"]["location_id"] == "store-12"
    assert activity["origin"]["api_key_id"].startswith("key_")
    issued_in_store = await issue(
        app_client,
        await make_key(app_client, "cards:write", channel="pos", location="store-3"),
        500,
    )
    assert issued_in_store["issued_via"] == {
        "channel": "pos",
        "integration_id": None,
        "location_id": "store-3",
    }


async def test_a_revoked_key_stops_working(app_client, admin):
    from omnigift.clock import utcnow
    from omnigift.keys import list_keys, revoke_key

    reader = await make_key(app_client, "cards:read")
    assert (await app_client.get("/v1/gift-cards", headers=reader)).status_code == 200
    runtime = app_client.app.state.runtime
    async with runtime.db.transaction() as conn:
        keys = await list_keys(conn)
        await revoke_key(conn, keys[-1]["id"], utcnow())
    assert (await app_client.get("/v1/gift-cards", headers=reader)).status_code == 401


async def test_keys_are_stored_hashed(app_client, admin):
    from sqlalchemy import select

    from omnigift.db.tables import api_keys

    secret = admin["Authorization"].split()[1]
    runtime = app_client.app.state.runtime
    async with runtime.db.read() as conn:
        stored = [row.secret_hash for row in await conn.execute(select(api_keys))]
    assert secret not in stored and all(len(h) == 64 for h in stored)


async def test_staff_manage_keys_over_the_api_and_see_secrets_only_once(app_client, admin):
    created = await app_client.post(
        "/v1/api-keys",
        headers=admin,
        json={
            "name": "pos-store-9",
            "scopes": ["cards:redeem"],
            "channel": "pos",
            "location_id": "store-9",
        },
    )
    assert created.status_code == 201
    key = created.json()
    assert key["secret"].startswith("ogk_") and key["location_id"] == "store-9"
    listed = (await app_client.get("/v1/api-keys", headers=admin)).json()["data"]
    assert key["id"] in [k["id"] for k in listed]
    assert all("secret" not in k for k in listed)
    till = {"Authorization": f"Bearer {key['secret']}"}
    assert (await app_client.get("/v1/gift-cards", headers=till)).status_code == 403
    bad = await app_client.post(
        "/v1/api-keys", headers=admin, json={"name": "x", "scopes": ["cards:everything"]}
    )
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"
    assert (await app_client.delete(f"/v1/api-keys/{key['id']}", headers=admin)).status_code == 204
    assert (await app_client.get("/v1/gift-cards", headers=till)).status_code == 401
    assert (await app_client.delete(f"/v1/api-keys/{key['id']}", headers=admin)).status_code == 404
