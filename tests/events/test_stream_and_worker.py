"""The live stream over real HTTP, and a worker killed in the middle of deliveries."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import uvicorn

from omnigift.app import create_app
from tests.conftest import make_key
from tests.factories import act, issue
from tests.support.receiver import Receiver, wait_until

OMNIGIFT = str(Path(sys.executable).parent / "omnigift")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def live(settings):
    """The whole service with its worker, served by uvicorn on a loopback port."""
    app = create_app(settings, worker=True)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client
    server.should_exit = True
    await task


class Messages:
    """Reads SSE messages off one streaming response."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()

    async def next(self, count: int) -> list[dict]:
        """The next ``count`` events."""
        found: list[dict] = []
        while len(found) < count:
            line = await asyncio.wait_for(anext(self.lines), timeout=10)
            if line.startswith("data:"):
                found.append(json.loads(line[5:]))
        return found


async def test_a_connected_client_sees_a_redeem_and_a_reconnect_gets_what_it_missed(live):
    admin = await make_key(live, "admin")
    card = await issue(live, admin, 1000)
    await asyncio.sleep(0.3)  # the issue is dispatched: a new stream starts after it
    query = {"gift_card_id": card["id"], "types": "gift_card.activity.created"}
    async with live.stream("GET", "/v1/events/stream", params=query, headers=admin) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        messages = Messages(response)
        await asyncio.sleep(0.3)  # connected before the redeem
        redeem = (await act(live, admin, card["id"], "redeem", 300)).json()
        [seen] = await messages.next(1)
    assert seen["data"]["activity"]["id"] == redeem["id"]
    assert seen["data"]["gift_card"]["balance"]["amount"] == 700

    missed = [(await act(live, admin, card["id"], "redeem", 100)).json()["id"] for _ in range(3)]
    headers = {**admin, "Last-Event-ID": seen["id"]}
    async with live.stream("GET", "/v1/events/stream", params=query, headers=headers) as response:
        messages = Messages(response)
        caught_up = await messages.next(3)
        later = (await act(live, admin, card["id"], "load", 50)).json()["id"]
        [live_one] = await messages.next(1)
    assert [e["data"]["activity"]["id"] for e in caught_up] == missed
    assert live_one["data"]["activity"]["id"] == later


async def test_the_event_log_lists_filters_and_gets_events(live):
    admin = await make_key(live, "admin")
    card = await issue(live, admin, 1000)
    await act(live, admin, card["id"], "redeem", 10)
    events = (
        await live.get("/v1/events", params={"gift_card_id": card["id"]}, headers=admin)
    ).json()["data"]
    assert [e["type"] for e in events] == [
        "gift_card.created",
        "gift_card.activity.created",
        "gift_card.activity.created",
    ]
    assert [e["sequence"] for e in events] == [1, 2, 3]
    one = (await live.get(f"/v1/events/{events[0]['id']}", headers=admin)).json()
    assert one == events[0]
    assert "code" not in json.dumps(events).replace("code_last4", "").replace("masked_code", "")
    reader = await make_key(live, "cards:read")
    assert (await live.get("/v1/events", headers=reader)).status_code == 403


def _worker(settings, env_extra: dict[str, str]) -> subprocess.Popen:
    env = {
        **os.environ,
        "OMNIGIFT_DATABASE_URL": settings.resolved_database_url,
        "OMNIGIFT_SECRET_KEY": settings.secret_key,
        "OMNIGIFT_DATA_DIR": str(settings.data_dir),
        **env_extra,
    }
    return subprocess.Popen(
        [OMNIGIFT, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def test_a_worker_killed_mid_delivery_leaves_nothing_undelivered(app_client, admin, settings):
    receiver = Receiver(delay=0.15).start()
    try:
        endpoint = (
            await app_client.post(
                "/v1/webhook-endpoints",
                headers=admin,
                json={"url": receiver.url, "event_types": ["*"]},
            )
        ).json()
        receiver.secrets.append(endpoint["secret"])
        cards = [(await issue(app_client, admin, 5000))["id"] for _ in range(6)]
        for card_id in cards:
            for _ in range(3):
                await act(app_client, admin, card_id, "redeem", 10)
        expected = 6 * 5  # created + issue + three redeems per card
        env = {
            "OMNIGIFT_WEBHOOKS_ALLOW_PRIVATE_URLS": "true",
            "OMNIGIFT_WEBHOOK_TIMEOUT_SECONDS": "1",
            "OMNIGIFT_WEBHOOK_CLAIM_SECONDS": "1",
            "OMNIGIFT_DISPATCH_INTERVAL_SECONDS": "0.05",
            "OMNIGIFT_WEBHOOK_RETRY_SCHEDULE": "0.1,0.2,0.5,1,1,1,1,1",
        }
        first = _worker(settings, env)
        assert await asyncio.to_thread(wait_until, lambda: len(receiver.ids()) >= 4, 30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert len(set(receiver.ids())) < expected  # killed with work left to do
        second = _worker(settings, env)
        try:
            done = await asyncio.to_thread(
                wait_until, lambda: len(set(receiver.ids())) >= expected, 60
            )
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=20) == 0  # a graceful stop on SIGTERM
        assert done, f"{len(set(receiver.ids()))} of {expected} arrived"
        assert receiver.rejected == 0
    finally:
        receiver.stop()
