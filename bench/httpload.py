"""A minimal HTTP/1.1 load client: asyncio streams on uvloop, one keep-alive connection per client.

Used where wrk cannot do the job: issuing the cards (it must read each response's card id), the
hot-card run (every request in flight at the deadline is *waited for*, so the number of 201s is
exact and the final balance can be checked against it), and as a cross-check of wrk's numbers.
It deliberately does not use httpx: a shared httpx client burns about a core at 32 connections
(ARCHITECTURE.md, "How to measure honestly on 2 cores").

As a program it runs one timed redeem load and prints one JSON line::

    python bench/httpload.py --port P --token T --cards-file F --clients 16 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import sys
import time
import uuid
from dataclasses import dataclass, field

REDEEM_BODY = b'{"type":"redeem","amount":{"amount":1,"currency":"USD"}}'


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        close = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lname = name.strip().lower()
            if lname == b"content-length":
                length = int(value)
            elif lname == b"connection" and value.strip().lower() == b"close":
                close = True
        payload = await self.reader.readexactly(length) if length else b""
        if close:
            await self.close()
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


@dataclass
class LoadResult:
    clients: int
    duration: float
    requests: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    latencies_us: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        lat = sorted(self.latencies_us)

        def pct(p: float) -> float | None:
            if not lat:
                return None
            return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] / 1000

        ok = self.statuses.get("201", 0)
        return {
            "clients": self.clients,
            "duration_s": round(self.duration, 3),
            "requests": self.requests,
            "ok_201": ok,
            "non_201": self.requests - ok + self.errors,
            "socket_errors": self.errors,
            "statuses": self.statuses,
            "rps": round(ok / self.duration, 1) if self.duration else 0.0,
            "p50_ms": pct(50),
            "p99_ms": pct(99),
            "max_ms": lat[-1] / 1000 if lat else None,
        }


async def redeem_load(
    host: str, port: int, token: str, cards: list[str], clients: int, duration: float
) -> LoadResult:
    """Each client redeems 1 cent from a random card, with a unique Idempotency-Key, until the
    deadline; a request in flight at the deadline is awaited and counted."""
    prefix = uuid.uuid4().hex[:12]
    result = LoadResult(clients, duration)
    statuses: dict[int, int] = {}
    rng = random.Random()
    headers_base = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def one(worker: int, deadline: float) -> None:
        conn = Connection(host, port)
        n = 0
        try:
            while time.perf_counter() < deadline:
                n += 1
                card = cards[rng.randrange(len(cards))]
                headers = {**headers_base, "Idempotency-Key": f"{prefix}-{worker}-{n}"}
                started = time.perf_counter_ns()
                try:
                    status, _ = await conn.request(
                        "POST", f"/v1/gift-cards/{card}/activities", headers, REDEEM_BODY
                    )
                except (OSError, asyncio.IncompleteReadError):
                    result.errors += 1
                    await conn.close()
                    continue
                result.latencies_us.append((time.perf_counter_ns() - started) // 1000)
                statuses[status] = statuses.get(status, 0) + 1
                result.requests += 1
        finally:
            await conn.close()

    started = time.perf_counter()
    deadline = started + duration
    await asyncio.gather(*(one(i, deadline) for i in range(clients)))
    result.duration = time.perf_counter() - started  # includes draining the last requests
    result.statuses = {str(k): v for k, v in sorted(statuses.items())}
    return result


async def issue_cards(
    host: str, port: int, token: str, count: int, amount: int, concurrency: int = 16
) -> list[str]:
    """Issue ``count`` active USD cards worth ``amount`` cents each through the API."""
    body = json.dumps(
        {"currency": "USD", "initial_value": {"amount": amount, "currency": "USD"}}
    ).encode()
    headers_base = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    ids: list[str] = []
    todo = iter(range(count))
    prefix = uuid.uuid4().hex[:12]

    async def one() -> None:
        conn = Connection(host, port)
        try:
            for i in todo:
                headers = {**headers_base, "Idempotency-Key": f"issue-{prefix}-{i}"}
                status, payload = await conn.request("POST", "/v1/gift-cards", headers, body)
                if status != 201:
                    raise RuntimeError(f"issuing a card answered {status}: {payload[:300]!r}")
                ids.append(json.loads(payload)["id"])
        finally:
            await conn.close()

    await asyncio.gather(*(one() for _ in range(concurrency)))
    return ids


async def get_json(host: str, port: int, token: str, path: str) -> tuple[int, object]:
    conn = Connection(host, port)
    try:
        status, payload = await conn.request("GET", path, {"Authorization": f"Bearer {token}"})
    finally:
        await conn.close()
    return status, json.loads(payload) if payload else None


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", default=os.environ.get("BENCH_TOKEN"))
    parser.add_argument("--cards-file", required=True)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit("this load client only targets loopback")
    with open(args.cards_file) as handle:
        cards = [line.strip() for line in handle if line.strip()]
    _install_uvloop()
    result = asyncio.run(
        redeem_load(args.host, args.port, args.token, cards, args.clients, args.duration)
    )
    out = result.summary()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["client_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
