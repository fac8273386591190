"""``omnigift sandbox <platform>``: each simulator runs alone as a real server process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.stack import free_port

OMNIGIFT = str(Path(sys.executable).parent / "omnigift")


def _wait_for(url: str, headers: dict[str, str]) -> httpx.Response:
    deadline = time.monotonic() + 20
    while True:
        try:
            return httpx.get(url, headers=headers, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize(
    ("platform", "path", "headers", "key"),
    [
        ("shopify", "/admin/api/2025-07/shop.json", {"X-Shopify-Access-Token": "tok"}, "shop"),
        ("bigcommerce", "/stores/abc123/v2/store", {"X-Auth-Token": "tok"}, "domain"),
    ],
)
def test_a_simulator_runs_alone_and_answers_its_platform_api(
    platform: str, path: str, headers: dict[str, str], key: str
) -> None:
    port = free_port()
    process = subprocess.Popen(
        [OMNIGIFT, "sandbox", platform, "--port", str(port), "--access-token", "tok"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        answer = _wait_for(f"http://127.0.0.1:{port}{path}", headers)
        assert answer.status_code == 200, answer.text
        assert key in answer.json()
        refused = httpx.get(f"http://127.0.0.1:{port}{path}", headers={}, timeout=2)
        assert refused.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)
