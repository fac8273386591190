"""Webhooks: every change reaches every subscriber, signed, once, in order per card."""

from __future__ import annotations

import asyncio
import random

from omnigift.clock import utcnow
from omnigift.events.delivery import deliver_due
from omnigift.events.dispatch import dispatch
from omnigift.events.transport import delivery_client
from tests.factories import act, issue, post, usd
from tests.support.receiver import Receiver


async def subscribe(client, headers, receiver: Receiver, types=("*",)) -> dict:
    response = await client.post(
        "/v1/webhook-endpoints",
        headers=headers,
        json={"url": receiver.url, "event_types": list(types)},
    )
    assert response.status_code == 201, response.text
    endpoint = response.json()
    assert endpoint["secret"].startswith("whsec_")
    receiver.secrets.append(endpoint["secret"])
    return endpoint


async def drain(client, until, rounds: int = 400) -> None:
    """Run the dispatcher and the delivery loop until ``until()`` holds."""
    runtime = client.app.state.runtime
    async with delivery_client(max_idle=8) as http:  # the worker's client
        for _ in range(rounds):
            await dispatch(runtime.db, utcnow())
            await deliver_due(runtime.db, http, runtime.delivery)
            if until():
                return
            await asyncio.sleep(0.05)
    raise AssertionError("deliveries did not arrive in time")


async def scripted_scenario(client, headers, cards: int = 4, steps: int = 30) -> list[str]:
    """Issue cards and run a mix of activities and holds on them; the cards' ids."""
    rng = random.Random(7)
    ids = [(await issue(client, headers, 10_000))["id"] for _ in range(cards)]
    for _ in range(steps):
        card_id = rng.choice(ids)
        choice = rng.random()
        if choice < 0.5:
            await act(client, headers, card_id, "redeem", rng.randint(1, 200))
        elif choice < 0.7:
            await act(client, headers, card_id, "load", rng.randint(1, 200))
        else:
            hold = await post(
                client,
                f"/v1/gift-cards/{card_id}/holds",
                headers,
                {"amount": usd(rng.randint(1, 100))},
            )
            await post(client, f"/v1/holds/{hold.json()['id']}/capture", headers)
    return ids


async def all_event_ids(client, headers) -> list[str]:
    found, cursor = [], None
    while True:
        page = (
            await client.get(
                "/v1/events",
                headers=headers,
                params={"limit": 200, **({"cursor": cursor} if cursor else {})},
            )
        ).json()
        found += [event["id"] for event in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            return found


async def test_every_event_arrives_once_signed_and_in_order_per_card(app_client, admin, receiver):
    await subscribe(app_client, admin, receiver)
    await scripted_scenario(app_client, admin)
    expected = await all_event_ids(app_client, admin)
    await drain(app_client, lambda: len(receiver.ids()) >= len(expected))
    await asyncio.sleep(0.2)
    await drain(app_client, lambda: True)
    assert sorted(receiver.ids()) == sorted(expected)  # each exactly once
    assert receiver.rejected == 0
    for card, sequences in receiver.by_card().items():
        assert sequences == sorted(sequences), card
        assert sequences == list(range(1, len(sequences) + 1)), card  # no gaps


async def test_a_receiver_that_fails_for_a_while_gets_everything_when_it_recovers(
    app_client, admin, receiver
):
    endpoint = await subscribe(app_client, admin, receiver)
    receiver.fail_with = 500
    await scripted_scenario(app_client, admin, cards=3, steps=15)
    expected = await all_event_ids(app_client, admin)
    await drain(app_client, lambda: receiver.attempts >= 6)
    receiver.fail_with = None
    await drain(app_client, lambda: len(receiver.ids()) >= len(expected))
    assert sorted(receiver.ids()) == sorted(expected)
    for sequences in receiver.by_card().values():
        assert sequences == list(range(1, len(sequences) + 1))
    log = (
        await app_client.get(
            f"/v1/webhook-endpoints/{endpoint['id']}/deliveries",
            headers=admin,
            params={"limit": 200},
        )
    ).json()["data"]
    failed_attempts = [a for d in log for a in d["attempt_log"] if a["status_code"] == 500]
    assert failed_attempts and all(a["error"] == "HTTP 500" for a in failed_attempts)
    assert all(d["state"] == "succeeded" for d in log)


async def test_only_subscribed_types_are_delivered(app_client, admin, receiver):
    await subscribe(app_client, admin, receiver, types=["hold.created"])
    card = await issue(app_client, admin, 1000)
    await post(app_client, f"/v1/gift-cards/{card['id']}/holds", admin, {"amount": usd(100)})
    await act(app_client, admin, card["id"], "redeem", 10)
    await drain(app_client, lambda: len(receiver.ids()) >= 1)
    await drain(app_client, lambda: True)
    assert [e["type"] for e in receiver.arrivals] == ["hold.created"]


async def test_a_dead_receiver_is_retried_then_dead_lettered_and_can_be_retried_by_hand(
    app_client, admin, receiver
):
    endpoint = await subscribe(app_client, admin, receiver, types=["gift_card.created"])
    receiver.fail_with = 503
    await issue(app_client, admin, 1000)
    await drain(app_client, lambda: receiver.attempts >= 11)
    [delivery] = (
        await app_client.get(f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=admin)
    ).json()["data"]
    assert delivery["state"] == "failed" and delivery["attempts"] == 11
    assert len(delivery["attempt_log"]) == 11
    receiver.fail_with = None
    retried = await app_client.post(f"/v1/deliveries/{delivery['id']}/retry", headers=admin)
    assert retried.status_code == 200
    await drain(app_client, lambda: len(receiver.ids()) == 1)


async def test_replay_sends_a_window_of_events_again(app_client, admin, receiver):
    endpoint = await subscribe(app_client, admin, receiver)
    started = utcnow().isoformat()
    card = await issue(app_client, admin, 1000)
    await drain(app_client, lambda: len(receiver.ids()) == 2)
    response = await app_client.post(
        f"/v1/webhook-endpoints/{endpoint['id']}/replay", headers=admin, json={"since": started}
    )
    assert response.json() == {"queued": 2}
    await drain(app_client, lambda: len(receiver.ids()) == 4)
    assert receiver.ids()[:2] == receiver.ids()[2:]
    assert card["id"]


async def test_a_rotated_secret_signs_alongside_the_old_one(app_client, admin, receiver):
    endpoint = await subscribe(app_client, admin, receiver)
    rotated = (
        await app_client.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=admin
        )
    ).json()
    assert rotated["secret"] != endpoint["secret"] and rotated["secret_rotation_ends_at"]
    receiver.secrets[:] = [rotated["secret"]]  # a receiver already on the new secret
    await issue(app_client, admin, 1000)
    await drain(app_client, lambda: len(receiver.ids()) == 2)
    receiver.secrets[:] = [endpoint["secret"]]  # one still on the old secret
    await issue(app_client, admin, 1000)
    await drain(app_client, lambda: len(receiver.ids()) == 4)
    assert receiver.rejected == 0


async def test_an_endpoint_failing_too_long_is_disabled_with_an_event(app_client, admin, receiver):
    from datetime import timedelta

    runtime = app_client.app.state.runtime
    endpoint = await subscribe(app_client, admin, receiver)
    runtime.delivery = type(runtime.delivery)(
        **{**runtime.delivery.__dict__, "disable_after": timedelta(seconds=0.3)}
    )
    receiver.fail_with = 500
    await issue(app_client, admin, 1000)
    await drain(app_client, lambda: receiver.attempts >= 1)  # the failure clock starts
    await asyncio.sleep(0.4)
    await drain(app_client, lambda: receiver.attempts >= 2)  # still failing after 0.3 s
    got = (await app_client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=admin)).json()
    assert got["enabled"] is False and "failed" in got["disabled_reason"]
    disabled = (
        await app_client.get("/v1/events?type=webhook_endpoint.disabled", headers=admin)
    ).json()["data"]
    assert disabled[0]["data"]["webhook_endpoint_id"] == endpoint["id"]


async def test_webhook_urls_to_private_addresses_are_refused_unless_allowed(app_client, admin):
    runtime = app_client.app.state.runtime
    strict = type(runtime.endpoint_rules)(
        sealer=runtime.endpoint_rules.sealer,
        allow_private=False,
        overlap=runtime.endpoint_rules.overlap,
    )
    runtime.endpoint_rules = strict
    for url in (
        "http://127.0.0.1:9/x",
        "http://10.1.2.3/x",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "http://localhost/x",
    ):
        response = await app_client.post(
            "/v1/webhook-endpoints", headers=admin, json={"url": url, "event_types": ["*"]}
        )
        assert response.status_code == 422, url
        assert response.json()["errors"][0]["field"] == "url"
        assert "OMNIGIFT_WEBHOOKS_ALLOW_PRIVATE_URLS" in response.json()["detail"]
    bad_scheme = await app_client.post(
        "/v1/webhook-endpoints",
        headers=admin,
        json={"url": "ftp://example.com/x", "event_types": ["*"]},
    )
    assert bad_scheme.status_code == 422


async def test_endpoints_can_be_listed_changed_and_deleted(app_client, admin, receiver):
    endpoint = await subscribe(app_client, admin, receiver)
    listed = (await app_client.get("/v1/webhook-endpoints", headers=admin)).json()["data"]
    assert [e["id"] for e in listed] == [endpoint["id"]] and "secret" not in listed[0]
    patched = await app_client.patch(
        f"/v1/webhook-endpoints/{endpoint['id']}",
        headers=admin,
        json={"enabled": False, "event_types": ["hold.created"]},
    )
    assert patched.json()["enabled"] is False and patched.json()["event_types"] == ["hold.created"]
    unknown = await app_client.patch(
        f"/v1/webhook-endpoints/{endpoint['id']}",
        headers=admin,
        json={"event_types": ["nope.nothing"]},
    )
    assert unknown.status_code == 422
    assert (
        await app_client.delete(f"/v1/webhook-endpoints/{endpoint['id']}", headers=admin)
    ).status_code == 204
    assert (
        await app_client.get(f"/v1/webhook-endpoints/{endpoint['id']}", headers=admin)
    ).status_code == 404


async def test_managing_webhooks_needs_the_webhooks_scope(app_client, admin, receiver):
    from tests.conftest import make_key

    reader = await make_key(app_client, "cards:read", "events:read")
    response = await app_client.post(
        "/v1/webhook-endpoints", headers=reader, json={"url": receiver.url, "event_types": ["*"]}
    )
    assert response.status_code == 403
    manager = await make_key(app_client, "webhooks:write")
    assert (await subscribe(app_client, manager, receiver))["id"].startswith("we_")
