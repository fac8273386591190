"""Worker CPU per webhook delivery, isolated from the API and from idle polling.

    .venv/bin/python bench/webhook_drain.py [--events 4000] [--engine postgres|sqlite]

Queues ``--events`` activity-like events over 500 cards in a fresh database (a throwaway durable
PostgreSQL from bench/pgserver.py, or a SQLite file), subscribes one endpoint to a loopback
receiver in this process, then runs the worker's own steps, ``dispatch`` until every event is
positioned and ``deliver_due`` (with the worker's HTTP client) until every event has arrived. It
prints the CPU time of this process per event for each phase; the delivery figure includes the
receiver (a minimal asyncio HTTP/1.1 server, a small share). CPU time, unlike wall time, hardly
depends on how busy the machine is. To measure another checkout's code, put its ``src`` first on
``PYTHONPATH``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx
import pgserver

from omnigift.clock import utcnow
from omnigift.config import Settings
from omnigift.db.engine import Database
from omnigift.db.migrate import upgrade
from omnigift.db.tables import events
from omnigift.events.delivery import deliver_due
from omnigift.events.dispatch import dispatch
from omnigift.events.endpoints import create_endpoint
from omnigift.ids import new_id
from omnigift.runtime import Runtime

CARDS = 500


class Receiver:
    """Answers 200 to every POST on keep-alive HTTP/1.1 and notes each ``webhook-id``."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.decode().split("\r\n")[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                await reader.readexactly(int(headers.get("content-length", 0)))
                self.seen.add(headers["webhook-id"])
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass


def event_rows(count: int) -> list[dict]:
    now, sequence, rows = utcnow(), {}, []
    for i in range(count):
        card = f"gc_{random.randrange(CARDS)}"
        sequence[card] = sequence.get(card, 0) + 1
        money = {"value": 9999 - i, "currency": "USD"}
        data = {
            "activity": {
                "id": new_id("act"),
                "type": "redeem",
                "amount": {"value": 1, "currency": "USD"},
                "balance_after": money,
                "metadata": {},
                "created_at": now.isoformat(),
                "gift_card_id": card,
                "origin": {"channel": "api", "location_id": None},
            },
            "gift_card": {"id": card, "state": "active", "balance": money, "metadata": {}},
        }
        rows.append(
            {
                "id": new_id("evt"),
                "type": "gift_card.activity.created",
                "account_id": card,
                "sequence": sequence[card],
                "data": data,
                "created_at": now,
            }
        )
    return rows


def worker_client(runtime: Runtime) -> httpx.AsyncClient:
    """The worker's delivery client (older checkouts: a plain httpx client)."""
    try:
        from omnigift.events.transport import delivery_client
    except ImportError:
        return httpx.AsyncClient(follow_redirects=False, trust_env=False)
    return delivery_client(max_idle=max(20, runtime.delivery.concurrency))


async def main(url: str, work: str, count: int) -> None:
    await upgrade(Database(url))
    settings = Settings(
        database_url=url, data_dir=work, secret_key="b" * 48, webhooks_allow_private_urls=True
    )
    runtime = Runtime.from_settings(settings)
    receiver = Receiver()
    server = await asyncio.start_server(receiver.connection, "127.0.0.1", 0)
    hook = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"
    rows = event_rows(count)
    async with runtime.db.transaction() as conn:
        await create_endpoint(conn, runtime.endpoint_rules, utcnow(), url=hook, event_types=["*"])
        await conn.execute(events.insert(), rows)
    wanted = {row["id"] for row in rows}
    async with worker_client(runtime) as client:
        cpu0 = time.process_time()
        while await dispatch(runtime.db, utcnow()):
            pass
        cpu1, wall1, rounds = time.process_time(), time.perf_counter(), 0
        while not wanted <= receiver.seen:
            rounds += 1
            if not await deliver_due(runtime.db, client, runtime.delivery):
                await asyncio.sleep(0.01)
        cpu2, wall2 = time.process_time(), time.perf_counter()
    print(
        f"{count} events: dispatch {1000 * (cpu1 - cpu0) / count:.3f} ms CPU/event; delivery "
        f"(with the receiver) {1000 * (cpu2 - cpu1) / count:.3f} ms CPU/event, "
        f"{count / (wall2 - wall1):.0f} events/s wall, {rounds} rounds"
    )
    server.close()
    await runtime.db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--engine", choices=["postgres", "sqlite"], default="postgres")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="omnigift-webhook-drain-")
    os.chmod(work, 0o755)  # the postgres user must reach its data directory inside
    pg = None
    if args.engine == "postgres":
        pg = pgserver.start(work)
        pg.psql("postgres", "CREATE DATABASE drain")
        url = pg.sqlalchemy_url("drain")
    else:
        url = f"sqlite+aiosqlite:///{work}/drain.sqlite"
    try:
        asyncio.run(main(url, work, args.events))
    finally:
        if pg is not None:
            pg.stop()
