"""Lightspeed's rate limits are kept before it refuses: reads paced by the levels it reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from omnigift.connectors.lightspeed.client import LightspeedClient
from omnigift.connectors.lightspeed.pacing import Pacer
from tests.support.stack import LIGHTSPEED_TOKEN, Platform, lightspeed_api, start_lightspeed


@pytest.fixture
async def tight() -> AsyncIterator[Callable[..., Any]]:
    """A Lightspeed account with the limits a test names, and a client for it."""
    opened: list[tuple[Platform, httpx.AsyncClient]] = []

    async def account(**limits: Any) -> LightspeedClient:
        platform = await asyncio.to_thread(start_lightspeed, **limits)
        http = httpx.AsyncClient(timeout=30)
        opened.append((platform, http))
        return LightspeedClient(lightspeed_api(platform), LIGHTSPEED_TOKEN, http)

    yield account
    for platform, http in opened:
        await http.aclose()
        await platform.http.aclose()
        await asyncio.to_thread(platform.server.stop)


async def _reads(client: LightspeedClient, count: int) -> None:
    for _ in range(count):  # a 429 would raise PlatformUnavailable
        await client.call("GET", "CreditAccount.json", params={"giftCard": "true"})


async def test_a_run_of_reads_waits_for_the_leaky_bucket_instead_of_being_refused(
    tight: Callable[..., Any],
) -> None:
    client = await tight(bucket_size=5.0, drip_rate=10.0, burst_limit=100000)
    await _reads(client, 20)


async def test_a_run_of_reads_keeps_under_the_burst_limiter(tight: Callable[..., Any]) -> None:
    client = await tight(bucket_size=100000.0, drip_rate=1000.0, burst_limit=6)
    await _reads(client, 14)


def test_a_full_bucket_means_waiting_until_the_call_fits() -> None:
    pacer = Pacer()
    pacer.observe({"x-ls-api-bucket-level": "90/90", "x-ls-api-drip-rate": "2"})

    assert pacer.delay(10) == pytest.approx(5.0, abs=0.05)  # 10 drips at 2 a second


def test_an_answer_without_levels_changes_nothing() -> None:
    pacer = Pacer()
    pacer.observe({"x-ls-api-bucket-level": "not a level"})

    assert pacer.delay(10) == 0.0
