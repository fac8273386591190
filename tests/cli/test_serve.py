"""The first README command: a real server process on the embedded SQLite default."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

OMNIGIFT = str(Path(sys.executable).parent / "omnigift")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_starts_on_sqlite_migrates_and_answers_over_http(tmp_path):
    env = {**os.environ, "OMNIGIFT_DATA_DIR": str(tmp_path), "COLUMNS": "250"}
    env.pop("OMNIGIFT_DATABASE_URL", None)
    created = subprocess.run(
        [
            OMNIGIFT,
            "keys",
            "create",
            "--name",
            "pos-store-12",
            "--scope",
            "cards:redeem",
            "--scope",
            "cards:lookup",
            "--channel",
            "pos",
            "--location",
            "store-12",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    till_secret = created.stdout.strip().splitlines()[-1]
    assert till_secret.startswith("ogk_")
    admin = subprocess.run(
        [OMNIGIFT, "keys", "create", "--name", "admin", "--scope", "admin"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    admin_secret = admin.stdout.strip().splitlines()[-1]
    listed = subprocess.run(
        [OMNIGIFT, "keys", "list"], env=env, capture_output=True, text=True, check=True
    )
    assert "pos-store-12" in listed.stdout and till_secret not in listed.stdout

    port = _free_port()
    server = subprocess.Popen(
        [OMNIGIFT, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(f"{base}/docs").status_code == 200
        headers = {"Authorization": f"Bearer {admin_secret}", "Idempotency-Key": "first-card"}
        issued = httpx.post(
            f"{base}/v1/gift-cards",
            headers=headers,
            json={
                "type": "digital",
                "currency": "USD",
                "initial_value": {"amount": 2500, "currency": "USD"},
            },
        )
        assert issued.status_code == 201
        till = {"Authorization": f"Bearer {till_secret}", "Idempotency-Key": "sale-1"}
        redeemed = httpx.post(
            f"{base}/v1/redemptions",
            headers=till,
            json={"code": issued.json()["code"], "amount": {"amount": 1000, "currency": "USD"}},
        )
        assert redeemed.status_code == 201
        assert redeemed.json()["origin"]["location_id"] == "store-12"
        assert redeemed.json()["balance_after"]["amount"] == 1500
    finally:
        server.terminate()
        output = server.communicate(timeout=20)[0].decode()
    assert (tmp_path / "omnigift.sqlite").exists()
    assert issued.json()["code"].replace(" ", "") not in output
