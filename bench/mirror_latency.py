"""Mirror latency benchmark: how long a redeem takes to reach the card's mirror on a web store.

    .venv/bin/python bench/mirror_latency.py [--platform shopify|bigcommerce] [--rate 200]
                                             [--duration 20] [--cards 200] [--json results.json]

The target (ARCHITECTURE.md, Performance budget; issue 4): a change reaches an external mirror
within a second at the 99th percentile at 200 redeems per second.

One run: a throwaway durable PostgreSQL (bench/pgserver.py); `omnigift serve` WITH its worker as
its own process (bench/redeem.py's Service), reachable by the simulator at OMNIGIFT_PUBLIC_URL;
the platform simulator (omnigift_sandbox) as its own process by default, with its rate limits
raised out of the way and wrapped in a small ASGI middleware (MirrorTap, below) that timestamps
every successful gift card write and the card's balance right after it; an integration created
through `POST /v1/integrations`; --cards cards issued through the API and awaited on the
platform; then 1-cent redeems at a steady open-loop rate (bench/webhook_latency.py's drive).

For every redeem answered 201, the latency is the time from the client receiving the 201 to the
first platform write after which that card's platform balance is at or below the redeem's
`balance_after`. Mirrors coalesce: one platform write may carry several redeems of one card.
Timestamps of this process and the simulator process share CLOCK_MONOTONIC (perf_counter_ns).

Everything listens on 127.0.0.1 (or a Unix socket) and every process started here is stopped at
the end, also on error or Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import httpload  # noqa: E402
import pgserver  # noqa: E402
import redeem as bench  # noqa: E402
import webhook_latency as wl  # noqa: E402

TARGET_P99_MS = 1000.0
CONTAMINATED = bench.CONTAMINATED
CARD_VALUE = 100_000  # cents: $1,000, under Shopify's default issue limit of $2,000
TOKEN, SECRET = "bench-platform-token", "bench-platform-secret"
WRITES_PATH = "/__bench/mirror-writes"
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# ---------------------------------------------------------------------------------------------
# the simulator, wrapped: every successful gift card write is timestamped (no simulator change)


def normal_code(code: str) -> str:
    """Codes compared as Shopify does: letters and digits only, lower case."""
    return re.sub(r"[^0-9a-z]", "", code.lower())


def cents(amount: Decimal) -> int:
    return int(amount * 100)


@dataclass
class Write:
    """What a platform write is about: the card found from the request, and how to tell success."""

    code: str
    balance: int
    succeeded: Callable[[int, bytes], bool]


def _http_ok(status: int, _body: bytes) -> bool:
    return 200 <= status < 300


def _graphql_ok(field_name: str) -> Callable[[int, bytes], bool]:
    def ok(status: int, body: bytes) -> bool:
        if status != 200:
            return False
        data = (json.loads(body).get("data") or {}).get(field_name) or {}
        return bool(data) and not data.get("userErrors")

    return ok


SHOPIFY_WRITES = ("giftCardCreate", "giftCardCredit", "giftCardDebit", "giftCardDeactivate")
BC_CERTIFICATE = re.compile(r"^/stores/[^/]+/v2/gift_certificates(?:/(\d+))?$")


def shopify_write(app: Any, scope: Scope, body: bytes) -> Write | None:
    """A gift card mutation sent to the GraphQL endpoint, and that card's balance now."""
    if scope["method"] != "POST" or not scope["path"].endswith("/graphql.json"):
        return None
    request = json.loads(body or b"{}")
    query, variables = request.get("query") or "", request.get("variables") or {}
    name = next((n for n in SHOPIFY_WRITES if n in query), None)
    if name is None:
        return None
    store = app.state.simulator.store
    if name == "giftCardCreate":
        card = store.card_by_code(normal_code((variables.get("input") or {}).get("code", "")))
    else:
        card = store.cards.get(int(str(variables.get("id", "0")).rsplit("/", 1)[-1] or 0))
    if card is None:
        return None
    return Write(normal_code(card.code), cents(card.balance), _graphql_ok(name))


def bigcommerce_write(app: Any, scope: Scope, body: bytes) -> Write | None:
    """A v2 gift certificate POST or PUT, and that certificate's balance now."""
    match = BC_CERTIFICATE.match(scope["path"])
    if match is None or scope["method"] not in ("POST", "PUT"):
        return None
    store = app.state.sim.store
    if match.group(1):
        certificate = store.certificates.get(int(match.group(1)))
    else:
        certificate = store.certificate_by_code(json.loads(body or b"{}").get("code", ""))
    if certificate is None:
        return None
    return Write(normal_code(certificate.code), cents(certificate.balance), _http_ok)


class MirrorTap:
    """ASGI middleware around a simulator app: records (time, code, balance) of every successful
    gift card write, taken when the simulator starts its answer (the write is done by then), and
    serves them at GET /__bench/mirror-writes?after=N."""

    def __init__(self, app: Any, platform: str) -> None:
        self.app = app
        self.find = shopify_write if platform == "shopify" else bigcommerce_write
        self.writes: list[tuple[int, str, int]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
        elif scope["path"] == WRITES_PATH:
            await self._serve(scope, send)
        elif scope["method"] in ("POST", "PUT"):
            await self._tapped(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _tapped(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status, answer, seen = 0, b"", None

        async def tap(message: Message) -> None:
            nonlocal status, answer, seen
            if message["type"] == "http.response.start":
                status, when = message["status"], time.perf_counter_ns()
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    found = self.find(self.app, scope, body)
                    seen = (when, found) if found else None
            elif message["type"] == "http.response.body":
                answer += message.get("body", b"")
                if not message.get("more_body") and seen:
                    with contextlib.suppress(ValueError):
                        if seen[1].succeeded(status, answer):
                            self.writes.append((seen[0], seen[1].code, seen[1].balance))
            await send(message)

        await self.app(scope, replay, tap)

    async def _serve(self, scope: Scope, send: Send) -> None:
        query = dict(
            part.split("=", 1) for part in scope["query_string"].decode().split("&") if "=" in part
        )
        after = int(query.get("after", "0"))
        payload = json.dumps({"writes": self.writes[after:], "next": len(self.writes)}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(payload)),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def simulator_app(platform: str) -> MirrorTap:
    """The simulator with its rate limits raised far out of reach, so the run measures us."""
    if platform == "shopify":
        from omnigift_sandbox.shopify.app import create_app
        from omnigift_sandbox.shopify.config import ShopifyConfig

        config: Any = ShopifyConfig(
            access_token=TOKEN,
            client_secret=SECRET,
            graphql_max_cost=1e9,
            graphql_restore_rate=1e9,
            rest_bucket=10**9,
            rest_leak_per_second=1e9,
        )
    else:
        from omnigift_sandbox.bigcommerce.app import create_app  # type: ignore[assignment]
        from omnigift_sandbox.bigcommerce.config import BigCommerceConfig

        config = BigCommerceConfig(access_token=TOKEN, client_secret=SECRET, quota=10**9)
    return MirrorTap(create_app(config), platform)


def serve_simulator(platform: str, port: int) -> None:
    """The child process's body: the wrapped simulator under uvicorn until SIGTERM."""
    import uvicorn

    app = simulator_app(platform)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@dataclass
class Simulator:
    """The running simulator: where it listens, its process (None when in this process)."""

    platform: str
    port: int
    pid: int | None = None
    server: Any = None

    @property
    def base_url(self) -> str:
        root = f"http://127.0.0.1:{self.port}"
        return f"{root}/stores/abc123" if self.platform == "bigcommerce" else root

    async def writes(self, after: int) -> tuple[list[tuple[int, str, int]], int]:
        status, page = await wl.call(self.port, "", "GET", f"{WRITES_PATH}?after={after}")
        if status != 200:
            raise RuntimeError(f"{WRITES_PATH} answered {status}")
        return [(int(t), str(c), int(b)) for t, c, b in page["writes"]], int(page["next"])


def start_simulator(platform: str, where: str, work: Path) -> Simulator:
    port = pgserver.free_port()
    if where == "thread":
        from omnigift_sandbox.loopback import LoopbackServer

        server = LoopbackServer(simulator_app(platform), port=port).start()
        return Simulator(platform, port, server=server)
    with open(work / "simulator.log", "ab") as out:
        proc = bench.PROCS.spawn(
            [bench.PYTHON, __file__, "--serve-simulator", str(port), "--platform", platform],
            stdout=out,
            stderr=out,
        )
    sim = Simulator(platform, port, pid=proc.pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the simulator exited at start; see {work / 'simulator.log'}")
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            asyncio.run(sim.writes(0))
            return sim
        time.sleep(0.1)
    raise RuntimeError("the simulator did not answer")


# ---------------------------------------------------------------------------------------------
# the service, the integration and the cards

WHO = ("service", "worker", "postgres", "simulator", "client")  # CPU accounted


@dataclass
class Stack:
    service: bench.Service
    simulator: Simulator
    postmaster: int | None
    worker_pid: int | None = None  # `omnigift worker` when it runs apart


def start_service(
    args: argparse.Namespace, work: Path
) -> tuple[bench.Service, int | None, int | None]:
    """PostgreSQL and `omnigift serve` (with its worker, or with `omnigift worker` apart),
    reachable at its public URL."""
    pg = pgserver.start(str(work))
    bench.PROCS.postgres.append(pg)
    pg.psql("postgres", "CREATE DATABASE omnigift_bench")
    bench.say(f"  {pg.version}, durable settings, Unix socket")
    data_dir = Path(tempfile.mkdtemp(prefix="service-", dir=work))
    env = bench.service_env(pg.sqlalchemy_url("omnigift_bench"), data_dir)
    port = pgserver.free_port()
    env["OMNIGIFT_WEBHOOKS_ALLOW_PRIVATE_URLS"] = "true"
    env["OMNIGIFT_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    if args.sync_interval is not None:
        env["OMNIGIFT_SYNC_INTERVAL_SECONDS"] = f"{args.sync_interval:g}"
    if args.dispatch_interval is not None:
        env["OMNIGIFT_DISPATCH_INTERVAL_SECONDS"] = f"{args.dispatch_interval:g}"
    in_process = args.worker == "in-process"
    service = bench.Service(env, port, work / "service.log", worker=in_process)
    service.create_key()
    service.start()
    bench.say(f"  service on 127.0.0.1:{port} (pid {service.pid}), worker {args.worker}")
    worker_pid = None
    if not in_process:
        with open(work / "worker.log", "ab") as out:
            worker = bench.PROCS.spawn(
                [bench.OMNIGIFT, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        worker_pid = worker.pid
    return service, pg.postmaster_pid(), worker_pid


async def connect(service: bench.Service, sim: Simulator) -> dict[str, Any]:
    """`POST /v1/integrations` for the simulator, pushing our cards (the default settings)."""
    body = {
        "platform": sim.platform,
        "name": f"{sim.platform} mirror latency benchmark",
        "base_url": sim.base_url,
        "credentials": {"access_token": TOKEN, "client_secret": SECRET},
        "settings": {"push_cards": True},
    }
    status, integration = await wl.call(
        service.port, service.token, "POST", "/v1/integrations", body
    )
    if status != 201:
        raise RuntimeError(f"POST /v1/integrations answered {status}: {integration}")
    return dict(integration)


async def issue(service: bench.Service, count: int, value: int) -> dict[str, str]:
    """Issue ``count`` cards through the API, 16 at a time; returns card id -> normal code."""
    cards: dict[str, str] = {}
    todo, prefix = iter(range(count)), uuid.uuid4().hex[:12]
    body = json.dumps({"currency": "USD", "initial_value": {"amount": value, "currency": "USD"}})
    headers = {"Authorization": f"Bearer {service.token}", "Content-Type": "application/json"}

    async def one() -> None:
        conn = httpload.Connection("127.0.0.1", service.port)
        try:
            for i in todo:
                key = {"Idempotency-Key": f"mirror-issue-{prefix}-{i}"}
                status, raw = await conn.request(
                    "POST", "/v1/gift-cards", {**headers, **key}, body.encode()
                )
                if status != 201:
                    raise RuntimeError(f"issuing a card answered {status}: {raw[:300]!r}")
                card = json.loads(raw)
                cards[card["id"]] = normal_code(card["code"])
        finally:
            await conn.close()

    await asyncio.gather(*(one() for _ in range(16)))
    return cards


# ---------------------------------------------------------------------------------------------
# following the platform's writes


@dataclass
class Mirror:
    """Every platform write seen so far, per card code, in time order."""

    sim: Simulator
    seen: int = 0
    by_code: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    total: int = 0

    async def refresh(self) -> None:
        writes, self.seen = await self.sim.writes(self.seen)
        for when, code, balance in writes:
            self.by_code.setdefault(code, []).append((when, balance))
        self.total += len(writes)

    def lowest(self, code: str) -> int | None:
        writes = self.by_code.get(code)
        return min(b for _, b in writes) if writes else None

    def reached(self, code: str, balance: int) -> int | None:
        """When the platform balance of ``code`` first was at or below ``balance``."""
        return next((t for t, b in self.by_code.get(code, []) if b <= balance), None)

    async def wait(self, wanted: dict[str, int], patience: float) -> float:
        """Until every code's platform balance is at or below the wanted one; seconds waited."""
        started = time.perf_counter()
        while time.perf_counter() - started < patience:
            await self.refresh()
            if all((self.lowest(c) or math.inf) <= b for c, b in wanted.items()):
                break
            await asyncio.sleep(0.05)
        return time.perf_counter() - started


@dataclass
class Redeem(wl.Redeem):
    """webhook_latency.py's Redeem plus the card's ledger balance after it (from the 201)."""

    balance_after: int | None = None


async def send_redeem(pool: wl.Pool, token: str, key: str, redeem: Redeem) -> None:
    """POST a 1-cent redeem, record its timing and balance_after; status 0 when no answer."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/json",
        "Idempotency-Key": key,
    }
    conn = pool.take()
    redeem.sent = time.perf_counter_ns()
    try:
        status, payload = await conn.request(
            "POST", f"/v1/gift-cards/{redeem.card}/activities", headers, httpload.REDEEM_BODY
        )
    except (OSError, asyncio.IncompleteReadError):
        await conn.close()
        return
    except asyncio.CancelledError:  # given up: the connection is mid-request, never reused
        await conn.close()
        raise
    redeem.answered, redeem.status = time.perf_counter_ns(), status
    if status == 201:
        activity = json.loads(payload)
        redeem.activity = activity["id"]
        redeem.balance_after = int(activity["balance_after"]["amount"])
    pool.give(conn)


def lowest_wanted(redeems: list[Redeem], cards: dict[str, str]) -> dict[str, int]:
    """Per card code: the lowest balance_after among the answered redeems."""
    wanted: dict[str, int] = {}
    for r in redeems:
        if r.balance_after is not None:
            code, balance = cards[r.card], r.balance_after
            wanted[code] = min(wanted[code], balance) if code in wanted else balance
    return wanted


# ---------------------------------------------------------------------------------------------
# measuring


@contextlib.contextmanager
def cpu_meter(stack: Stack) -> Iterator[dict[str, float]]:
    """CPU seconds over the block of the service (API, and the worker when in process), the
    worker when apart, PostgreSQL, the simulator process, this process (client; plus the
    simulator when it runs in a thread here), and the rest of the machine."""
    out: dict[str, float] = {}
    sim_pid, worker_pid = stack.simulator.pid or 0, stack.worker_pid or 0
    s0, m0 = bench.process_cpu(stack.service.pid or 0), bench.process_cpu(sim_pid)
    w0 = bench.process_cpu(worker_pid)
    p0, c0, b0 = bench.postgres_cpu(stack.postmaster), wl.own_cpu(), bench.machine_busy()
    t0 = time.perf_counter()
    yield out
    out["wall_s"] = time.perf_counter() - t0
    out["service_cpu_s"] = bench.process_cpu(stack.service.pid or 0) - s0
    out["simulator_cpu_s"] = bench.process_cpu(sim_pid) - m0
    out["worker_cpu_s"] = bench.process_cpu(worker_pid) - w0
    out["postgres_cpu_s"] = bench.postgres_cpu(stack.postmaster) - p0
    out["client_cpu_s"] = wl.own_cpu() - c0
    ours = sum(out[f"{who}_cpu_s"] for who in WHO)
    out["other_cpu_s"] = max(0.0, bench.machine_busy() - b0 - ours)
    out["other_cores"] = out["other_cpu_s"] / out["wall_s"]


def summarize(redeems: list[Redeem], cards: dict[str, str], mirror: Mirror) -> dict[str, Any]:
    ok = [r for r in redeems if r.status == 201]
    from_201: list[float] = []
    from_send: list[float] = []
    for r in ok:
        balance = r.balance_after
        when = mirror.reached(cards[r.card], balance) if balance is not None else None
        from_201.append(math.inf if when is None else when - r.answered)
        from_send.append(math.inf if when is None else when - r.sent)
    statuses: dict[str, int] = {}
    for r in redeems:
        statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
    sends = [r.sent for r in redeems if r.sent]
    span = (max(sends) - min(sends)) / 1e9 if len(sends) > 1 else 0.0
    answered = (max(r.answered for r in ok) - min(sends)) / 1e9 if ok else 0.0
    never = sum(1 for v in from_201 if math.isinf(v))
    return {
        "redeems_sent": len(redeems),
        "redeems_201": len(ok),
        "unanswered": sum(1 for r in redeems if not r.answered),
        "statuses": statuses,
        "achieved_rate": round((len(redeems) - 1) / span, 1) if span else None,
        "completed_rate": round(len(ok) / answered, 1) if answered else None,
        "mirrored": len(ok) - never,
        "never_mirrored": never,
        "before_201": sum(1 for v in from_201 if v < 0),
        "from_201": wl.percentiles(from_201),
        "from_send": wl.percentiles(from_send),
        "redeem_response": wl.percentiles([r.answered - r.sent for r in ok]),
        "send_lateness": wl.percentiles([r.sent - r.scheduled for r in redeems if r.sent]),
    }


async def drive(
    port: int, token: str, cards: list[str], rate: float, duration: float, patience: float
) -> list[Redeem]:
    """webhook_latency.py's open-loop schedule (request i at start + i/rate, random card), but
    redeems still unanswered ``patience`` seconds after the last was sent are given up (status 0,
    counted as unanswered), so a saturated service cannot stretch the run without bound."""
    pool, rng, prefix = wl.Pool(port), random.Random(), uuid.uuid4().hex[:12]
    start = time.perf_counter_ns() + 10_000_000
    redeems: list[Redeem] = []
    tasks: list[asyncio.Task[None]] = []
    for i in range(round(rate * duration)):
        due = start + round(i * 1e9 / rate)
        delay = (due - time.perf_counter_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        redeem = Redeem(cards[rng.randrange(len(cards))], due)
        redeems.append(redeem)
        tasks.append(asyncio.create_task(send_redeem(pool, token, f"{prefix}-{i}", redeem)))
    _, late = await asyncio.wait(tasks, timeout=patience)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    await pool.close()
    return redeems


async def load(
    args: argparse.Namespace, stack: Stack, cards: dict[str, str], mirror: Mirror, seconds: float
) -> tuple[list[Redeem], float]:
    """Open-loop redeems for ``seconds``, then the wait for their mirrors."""
    service = stack.service
    redeems = await drive(
        service.port, service.token, list(cards), args.rate, seconds, args.answer_patience
    )
    waited = await mirror.wait(lowest_wanted(redeems, cards), args.drain)
    return redeems, waited


async def measure(args: argparse.Namespace, stack: Stack) -> dict[str, Any]:
    service, sim = stack.service, stack.simulator
    integration = await connect(service, sim)
    bench.say(f"  integration {integration['id']} -> {sim.platform} at {sim.base_url}")
    started = time.perf_counter()
    cards = await issue(service, args.cards, CARD_VALUE)
    mirror = Mirror(sim)
    full = {code: CARD_VALUE for code in cards.values()}
    waited = await mirror.wait(full, args.setup_patience)
    missing = [c for c in cards.values() if mirror.lowest(c) is None]
    bench.say(
        f"  issued {len(cards)} cards; all on the platform {time.perf_counter() - started:.1f} s "
        f"after the first issue ({waited:.1f} s after the last); missing {len(missing)}"
    )
    if missing:
        raise RuntimeError(f"{len(missing)} cards never appeared on the platform")
    if args.warmup:
        bench.say(f"  warm-up: {args.warmup:g} s at {args.rate:g}/s (not recorded)")
        await load(args, stack, cards, mirror, args.warmup)
    bench.say(f"  measured: {args.duration:g} s at {args.rate:g} redeems/s, open loop")
    writes_before = mirror.total
    with cpu_meter(stack) as cpu:
        redeems, waited = await load(args, stack, cards, mirror, args.duration)
    result = summarize(redeems, cards, mirror)
    result["drain_s"] = round(waited, 2)
    result["platform_writes"] = mirror.total - writes_before
    result["cpu"] = {k: round(v, 3) for k, v in cpu.items()}
    ok = result["redeems_201"] or 1
    result["cpu_ms_per_redeem"] = {who: round(cpu[f"{who}_cpu_s"] * 1000 / ok, 3) for who in WHO}
    return result


# ---------------------------------------------------------------------------------------------
# the run


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    results: dict[str, Any] = {
        "command": " ".join(["mirror_latency.py", *sys.argv[1:]]),
        "platform": args.platform,
        "simulator": args.simulator,
        "rate": args.rate,
        "duration_s": args.duration,
        "cards": args.cards,
        "sync_interval_s": args.sync_interval,
        "dispatch_interval_s": args.dispatch_interval,
        "machine": bench.machine(),
        "source": bench.source_state(),
    }
    load = bench.wait_for_quiet(args.quiet_wait, CONTAMINATED) if args.quiet_wait else None
    results["foreign_load_at_start"] = round(load or bench.foreign_load(), 2)
    bench.say(f"other processes' load at start: {results['foreign_load_at_start']:.2f} cores")
    bench.say(f"{args.platform}: starting PostgreSQL, the service and the simulator ...")
    simulator = start_simulator(args.platform, args.simulator, work)
    bench.say(f"  simulator ({args.simulator}) on 127.0.0.1:{simulator.port}, limits raised")
    try:
        service, postmaster, worker_pid = start_service(args, work)
        httpload._install_uvloop()
        stack = Stack(service, simulator, postmaster, worker_pid)
        results.update(asyncio.run(measure(args, stack)))
    finally:
        if simulator.server is not None:
            simulator.server.stop()
    return results


def report(r: dict[str, Any]) -> str:
    cpu, per = r["cpu"], r["cpu_ms_per_redeem"]
    rows = [
        ("201 -> mirror updated", r["from_201"]),
        ("request sent -> mirror updated", r["from_send"]),
        ("redeem response (sent -> 201)", r["redeem_response"]),
        ("send lateness (scheduled -> sent)", r["send_lateness"]),
    ]
    out = [
        "",
        f"{r['platform']} (simulator {r['simulator']}): {r['redeems_sent']} redeems offered at "
        f"{r['rate']:g}/s over {r['duration_s']:g} s on {r['cards']} cards; sent at "
        f"{r['achieved_rate']}/s, 201s answered at {r['completed_rate']}/s; statuses "
        f"{r['statuses']} ({r['unanswered']} without an answer: connection error or given up)",
        "",
        f"| {'ms':<34}| p50      | p90      | p99      | max      |",
        "|" + "-" * 35 + "|----------" * 4 + "|",
    ]
    for name, p in rows:
        cells = "".join(f"| {wl._ms(p[k]):<9}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))
        out.append(f"| {name:<34}{cells}|")
    flag = " (*)" if cpu["other_cores"] > CONTAMINATED else ""
    out += [
        "",
        f"mirrored {r['mirrored']} of {r['redeems_201']} (never: {r['never_mirrored']}, after a "
        f"{r['drain_s']} s drain) by {r['platform_writes']} platform writes; "
        f"{r['before_201']} mirrored before the client had the 201",
        f"CPU over {cpu['wall_s']:.1f} s: service {cpu['service_cpu_s']:.1f} s, worker apart "
        f"{cpu['worker_cpu_s']:.1f} s, PostgreSQL {cpu['postgres_cpu_s']:.1f} s, simulator "
        f"{cpu['simulator_cpu_s']:.1f} s, client {cpu['client_cpu_s']:.1f} s, other processes "
        f"{cpu['other_cores']:.2f} cores{flag}",
        "CPU per redeem, ms: " + " / ".join(f"{who} {per[who]}" for who in WHO),
    ]
    if flag:
        out.append(f"(*) other processes used more than {CONTAMINATED} cores: a disturbed run")
    p99 = r["from_201"]["p99_ms"]
    met = p99 is not None and p99 <= TARGET_P99_MS and not r["unanswered"]
    out.append(
        f"Target p99 <= {TARGET_P99_MS:,.0f} ms from the 201 at {r['rate']:g}/s: "
        f"{'MET' if met else 'MISSED'} (p99 {wl._ms(p99)} ms, never mirrored {r['never_mirrored']})"
    )
    return "\n".join(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", choices=["shopify", "bigcommerce"], default="shopify")
    parser.add_argument("--rate", type=float, default=200.0, help="redeems per second (open loop)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of measured load")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of unrecorded load")
    parser.add_argument("--cards", type=int, default=200, help="cards the redeems spread over")
    parser.add_argument(
        "--simulator",
        choices=["process", "thread"],
        default="process",
        help="the simulator as its own process (default) or in a thread of this one",
    )
    parser.add_argument(
        "--worker",
        choices=["in-process", "separate"],
        default="in-process",
        help="the worker inside `omnigift serve` (default) or as `omnigift worker` apart",
    )
    parser.add_argument(
        "--sync-interval", type=float, help="OMNIGIFT_SYNC_INTERVAL_SECONDS (default: unset)"
    )
    parser.add_argument(
        "--dispatch-interval",
        type=float,
        help="OMNIGIFT_DISPATCH_INTERVAL_SECONDS (default: unset)",
    )
    parser.add_argument(
        "--answer-patience",
        type=float,
        default=15.0,
        help="seconds after the last send to wait for answers; later ones are given up",
    )
    parser.add_argument("--drain", type=float, default=10.0, help="seconds to wait for mirrors")
    parser.add_argument(
        "--setup-patience", type=float, default=60.0, help="seconds to wait for the first mirrors"
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=0, help="first wait up to this long for a quiet machine"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument("--serve-simulator", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_simulator:
        serve_simulator(args.platform, args.serve_simulator)
        return 0
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, bench._on_signal)
    work = Path(tempfile.mkdtemp(prefix="omnigift-mirror-bench-"))
    work.chmod(0o755)  # the postgres user must reach its data directory inside
    started = time.perf_counter()
    try:
        results = run(args, work)
    except BaseException:
        bench.say(f"benchmark failed; work directory {work} (service logs) is kept")
        raise
    finally:
        bench.PROCS.stop_all()
    results["total_runtime_s"] = round(time.perf_counter() - started, 1)
    bench.say(report(results))
    bench.say(f"\ntotal runtime {results['total_runtime_s']} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
