"""Fixtures for end-to-end connector tests: service, simulators, all over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from omnigift.config import Settings
from tests.support.smtp import Mailbox, mailbox, mailing
from tests.support.stack import (
    Platform,
    Stack,
    start_bigcommerce,
    start_lightspeed,
    start_shopify,
    start_stack,
)


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    running, stop = await start_stack(settings)
    yield running
    await stop()


@pytest.fixture
async def mailing_stack(settings: Settings, mailbox: Mailbox) -> AsyncIterator[Stack]:
    """The service and its worker, e-mailing through the test's SMTP server."""
    running, stop = await start_stack(mailing(settings, mailbox))
    yield running
    await stop()


@pytest.fixture
async def shopify() -> AsyncIterator[Platform]:
    platform = await asyncio.to_thread(start_shopify)
    yield platform
    await platform.http.aclose()
    await asyncio.to_thread(platform.server.stop)


@pytest.fixture
async def bigcommerce() -> AsyncIterator[Platform]:
    platform = await asyncio.to_thread(start_bigcommerce)
    yield platform
    await platform.http.aclose()
    await asyncio.to_thread(platform.server.stop)


@pytest.fixture
async def lightspeed() -> AsyncIterator[Platform]:
    platform = await asyncio.to_thread(start_lightspeed)
    yield platform
    await platform.http.aclose()
    await asyncio.to_thread(platform.server.stop)


__all__ = ["mailbox"]
