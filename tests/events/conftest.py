"""Event tests: webhooks may go to loopback, and retries come quickly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from omnigift.config import Settings
from tests.conftest import SECRET
from tests.support.receiver import Receiver


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path,
        secret_key=SECRET,
        auth_cache_seconds=0,
        webhooks_allow_private_urls=True,
        webhook_retry_schedule="0.05,0.1,0.2,0.3,0.5,0.5,0.5,0.5,0.5,0.5",
        webhook_timeout_seconds=2,
        dispatch_interval_seconds=0.05,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()
