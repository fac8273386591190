"""Idempotency: every POST that moves value runs once per key (API.md, Conventions)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from tests.conftest import make_key
from tests.factories import card, issue, usd


def _redeem(card_id: str, amount: int = 100) -> tuple[str, dict]:
    return f"/v1/gift-cards/{card_id}/activities", {"type": "redeem", "amount": usd(amount)}


async def test_a_post_without_an_idempotency_key_is_refused(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    path, body = _redeem(issued["id"])
    response = await app_client.post(path, json=body, headers=admin)
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"


async def test_a_retry_replays_the_first_response_exactly(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    path, body = _redeem(issued["id"])
    headers = {**admin, "Idempotency-Key": "retry-1"}
    first = await app_client.post(path, json=body, headers=headers)
    second = await app_client.post(path, json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert (await card(app_client, admin, issued["id"]))["balance"] == usd(900)


async def test_a_retried_issue_replays_the_cards_code_which_is_kept_only_sealed(app_client, admin):
    headers = {**admin, "Idempotency-Key": "issue-1"}
    body = {"type": "digital", "currency": "USD", "initial_value": usd(2500)}
    first = await app_client.post("/v1/gift-cards", json=body, headers=headers)
    second = await app_client.post("/v1/gift-cards", json=body, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.content == first.content  # the code again, as the issuer saw it
    assert second.headers["idempotent-replayed"] == "true"
    runtime = app_client.app.state.runtime
    async with runtime.db.read() as conn:
        kept = (
            await conn.execute(text("SELECT response_body, response_sealed FROM idempotency_keys"))
        ).one()
    assert kept.response_sealed
    assert first.json()["code"] not in kept.response_body
    assert runtime.responses.unseal(kept.response_body).encode() == first.content


async def test_the_same_key_with_a_different_body_is_refused(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    path, body = _redeem(issued["id"])
    headers = {**admin, "Idempotency-Key": "reuse-1"}
    await app_client.post(path, json=body, headers=headers)
    _, other = _redeem(issued["id"], 200)
    response = await app_client.post(path, json=other, headers=headers)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"


async def test_keys_are_scoped_to_the_api_key_that_sent_them(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    other = await make_key(app_client, "cards:redeem")
    path, body = _redeem(issued["id"])
    await app_client.post(path, json=body, headers={**admin, "Idempotency-Key": "shared"})
    response = await app_client.post(
        path, json=body, headers={**other, "Idempotency-Key": "shared"}
    )
    assert response.status_code == 201
    assert "idempotent-replayed" not in response.headers
    assert (await card(app_client, admin, issued["id"]))["balance"] == usd(800)


async def test_a_refused_request_stores_nothing_so_its_retry_runs(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    headers = {**admin, "Idempotency-Key": "after-load"}
    path, body = _redeem(issued["id"], 1500)
    refused = await app_client.post(path, json=body, headers=headers)
    assert refused.json()["code"] == "insufficient_funds"
    await app_client.post(
        path,
        json={"type": "load", "amount": usd(1000)},
        headers={**admin, "Idempotency-Key": "load-1"},
    )
    retried = await app_client.post(path, json=body, headers=headers)
    assert retried.status_code == 201


async def test_twenty_simultaneous_requests_with_one_key_make_one_activity(app_client, admin):
    issued = await issue(app_client, admin, 10_000)
    path, body = _redeem(issued["id"], 100)
    headers = {**admin, "Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *(app_client.post(path, json=body, headers=headers) for _ in range(20))
    )
    assert {r.status_code for r in responses} <= {201, 409}
    created = [r for r in responses if r.status_code == 201]
    assert created, [r.text for r in responses]
    assert len({r.json()["id"] for r in created}) == 1
    for refused in (r for r in responses if r.status_code == 409):
        assert refused.json()["code"] == "idempotency_key_in_use"
    history = (
        await app_client.get(f"/v1/gift-cards/{issued['id']}/activities", headers=admin)
    ).json()["data"]
    assert [a["type"] for a in history] == ["issue", "redeem"]
    assert (await card(app_client, admin, issued["id"]))["balance"] == usd(9_900)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_duplicate_of_a_request_in_flight_is_refused_and_changes_nothing(
    app_client, admin, database_url
):
    """The first request is held on the card's row lock (a real PostgreSQL lock, seen waiting in
    pg_stat_activity); its duplicate meanwhile is answered 409 at once, without waiting for the
    lock, and writes nothing. Once the first has finished, a retry replays its response.

    The guard is per process and engine-independent; PostgreSQL is used because there a waiting
    request can be observed from outside the service. Without the guard the duplicate would queue
    on the same lock, and the ``wait_for`` below would time out."""
    issued = await issue(app_client, admin, 1000)
    path, body = _redeem(issued["id"])
    headers = {**admin, "Idempotency-Key": "in-flight-1"}
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as lock:
            await lock.execute(
                text("SELECT id FROM accounts WHERE id = :id FOR UPDATE"), {"id": issued["id"]}
            )
            first = asyncio.create_task(app_client.post(path, json=body, headers=headers))
            await _until_a_query_waits_on_a_lock(lock)

            duplicate = await asyncio.wait_for(
                app_client.post(path, json=body, headers=headers), timeout=5
            )
            assert duplicate.status_code == 409, duplicate.text
            assert duplicate.json()["code"] == "idempotency_key_in_use"
            assert duplicate.headers["retry-after"] == "1"
            assert not first.done()
            assert await _activity_types(app_client, admin, issued["id"]) == ["issue"]
            await lock.rollback()  # releases the row lock: the first request proceeds
        completed = await asyncio.wait_for(first, timeout=10)
    finally:
        await engine.dispose()
    assert completed.status_code == 201, completed.text
    assert "idempotent-replayed" not in completed.headers

    retried = await app_client.post(path, json=body, headers=headers)
    assert retried.status_code == completed.status_code
    assert retried.content == completed.content
    assert retried.headers["idempotent-replayed"] == "true"
    assert await _activity_types(app_client, admin, issued["id"]) == ["issue", "redeem"]
    assert (await card(app_client, admin, issued["id"]))["balance"] == usd(900)


async def _until_a_query_waits_on_a_lock(conn: AsyncConnection, timeout: float = 10) -> None:
    """Return once another backend in this database is blocked on a lock (the first request)."""
    waiting = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    )
    deadline = asyncio.get_running_loop().time() + timeout
    while (await conn.execute(waiting)).scalar_one() == 0:
        assert asyncio.get_running_loop().time() < deadline, "the first request never blocked"
        await asyncio.sleep(0.01)


async def _activity_types(client, headers: dict[str, str], card_id: str) -> list[str]:
    response = await client.get(f"/v1/gift-cards/{card_id}/activities", headers=headers)
    assert response.status_code == 200, response.text
    return [a["type"] for a in response.json()["data"]]
