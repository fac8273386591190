"""The whole product on loopback, over real HTTP: the service (API + worker) and the platform
simulators, wired the way a retailer would wire them."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from omnigift.app import create_app
from omnigift.clock import utcnow
from omnigift.config import Settings
from omnigift.keys import create_key
from omnigift.runtime import Runtime
from omnigift_sandbox.bigcommerce.app import create_app as bigcommerce_app
from omnigift_sandbox.bigcommerce.config import BigCommerceConfig
from omnigift_sandbox.lightspeed.app import create_app as lightspeed_app
from omnigift_sandbox.lightspeed.config import LightspeedConfig
from omnigift_sandbox.loopback import LoopbackServer
from omnigift_sandbox.shopify.app import create_app as shopify_app
from omnigift_sandbox.shopify.config import ShopifyConfig

SHOPIFY_TOKEN = "shpat_test_token"
SHOPIFY_SECRET = "shopify-app-secret"
BC_TOKEN = "bc-test-token"
BC_SECRET = "bc-client-secret"
LIGHTSPEED_TOKEN = "ls-test-token"
LIGHTSPEED_ACCOUNT = 12345


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stack_settings(base: Settings, port: int) -> Settings:
    """The test's settings, tuned so the worker reacts in tens of milliseconds."""
    return base.model_copy(
        update={
            "public_url": f"http://127.0.0.1:{port}",
            "webhooks_allow_private_urls": True,
            "dispatch_interval_seconds": 0.05,
            "sync_interval_seconds": 0.05,
            "sync_max_backoff_seconds": 2.0,
            "connector_timeout_seconds": 3.0,
            "integration_failing_after_seconds": 1.0,
        }
    )


@dataclass
class Platform:
    server: LoopbackServer
    http: httpx.AsyncClient

    async def sim(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, f"/__sim/{path}", json=body)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    async def state(self) -> dict[str, Any]:
        return dict(await self.sim("GET", "state"))


@dataclass
class Stack:
    service: LoopbackServer
    api: httpx.AsyncClient
    admin: dict[str, str]
    runtime: Runtime  # on the test's own event loop, for keys and direct reads

    async def key(
        self, *scopes: str, channel: str = "api", location: str | None = None
    ) -> dict[str, str]:
        async with self.runtime.db.transaction() as conn:
            _, secret = await create_key(
                conn, "test", list(scopes), utcnow(), channel=channel, location_id=location
            )
        return {"Authorization": f"Bearer {secret}"}

    async def connect(
        self,
        platform: str,
        base_url: str,
        credentials: dict[str, str] | None = None,
        **settings: Any,
    ) -> dict[str, Any]:
        credentials = (
            credentials
            or {
                "shopify": {"access_token": SHOPIFY_TOKEN, "client_secret": SHOPIFY_SECRET},
                "bigcommerce": {"access_token": BC_TOKEN, "client_secret": BC_SECRET},
                "lightspeed": {"access_token": LIGHTSPEED_TOKEN},
            }[platform]
        )
        response = await self.api.post(
            "/v1/integrations",
            json={
                "platform": platform,
                "name": f"{platform} test",
                "base_url": base_url,
                "credentials": credentials,
                # The first historical runs only where a test asks for them (they race with
                # what a test does right after connecting).
                "settings": {"poll_interval_seconds": 2, "historical_sync": False, **settings},
            },
            headers=self.admin,
        )
        assert response.status_code == 201, response.text
        return dict(response.json())


async def start_stack(settings: Settings) -> tuple[Stack, Callable[[], Awaitable[None]]]:
    port = free_port()
    tuned = stack_settings(settings, port)
    service = LoopbackServer(create_app(tuned, worker=True), port=port).start()
    runtime = Runtime.from_settings(tuned)
    api = httpx.AsyncClient(base_url=service.base_url, timeout=30)
    stack = Stack(service, api, {}, runtime)
    stack.admin = await stack.key("admin")

    async def stop() -> None:
        await api.aclose()
        await runtime.db.dispose()
        await asyncio.to_thread(service.stop)

    return stack, stop


def start_shopify(**overrides: Any) -> Platform:
    config = ShopifyConfig(
        access_token=SHOPIFY_TOKEN,
        client_secret=SHOPIFY_SECRET,
        webhook_retry_delays=[0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0],
        **overrides,
    )
    server = LoopbackServer(shopify_app(config)).start()
    return Platform(server, httpx.AsyncClient(base_url=server.base_url, timeout=30))


def start_lightspeed(**overrides: Any) -> Platform:
    """A Lightspeed account whose leaky bucket is roomy unless a test asks otherwise."""
    settings = {"bucket_size": 100000.0, "drip_rate": 1000.0, "burst_limit": 100000, **overrides}
    config = LightspeedConfig(
        access_token=LIGHTSPEED_TOKEN, account_id=LIGHTSPEED_ACCOUNT, **settings
    )
    server = LoopbackServer(lightspeed_app(config)).start()
    return Platform(server, httpx.AsyncClient(base_url=server.base_url, timeout=30))


def lightspeed_api(platform: Platform) -> str:
    return f"{platform.server.base_url}/API/V3/Account/{LIGHTSPEED_ACCOUNT}"


def start_bigcommerce(**overrides: Any) -> Platform:
    config = BigCommerceConfig(
        access_token=BC_TOKEN,
        client_secret=BC_SECRET,
        webhook_retry_delays=[0.2, 0.5, 1.0, 2.0, 4.0, 8.0],
        **overrides,
    )
    server = LoopbackServer(bigcommerce_app(config)).start()
    return Platform(server, httpx.AsyncClient(base_url=server.base_url, timeout=30))


async def eventually(
    check: Callable[[], Awaitable[Any]], timeout: float = 10.0, interval: float = 0.05
) -> Any:
    """Wait until ``check`` returns something truthy (or raises nothing); return it."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = await check()
            if last:
                return last
        except AssertionError:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s; last: {last!r}")
        await asyncio.sleep(interval)


async def platform_references(
    stack: Stack, integration_id: str, channel: str | None = None
) -> list[str]:
    """The platform transaction ids of every activity an integration recorded (of ``channel``):
    each must appear once, however often the platform told us."""
    found: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if channel:
            params["channel"] = channel
        if cursor:
            params["cursor"] = cursor
        page = (await stack.api.get("/v1/activities", params=params, headers=stack.admin)).json()
        found += [
            a["reference"]["transaction_id"]
            for a in page["data"]
            if a["origin"]["integration_id"] == integration_id and a.get("reference")
        ]
        cursor = page["next_cursor"]
        if not cursor:
            return found
