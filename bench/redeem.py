"""Redeem benchmark: the service's HTTP redeem against the same work done straight through the
Python driver and as one SQL statement under pgbench, measured in ONE run on the same machine.

    .venv/bin/python bench/redeem.py [--duration 10] [--clients 1,16,64] [--cards 10000]
                                     [--engine postgres|sqlite|both] [--json results.json]

PostgreSQL part (a throwaway durable server: fsync and synchronous_commit on, shared_buffers=1GB):
  (a) API      `omnigift serve --no-worker` as its own process; N cards issued through the API;
               wrk (-t1, Lua: random card, unique Idempotency-Key) POSTs 1-cent redeems at each
               concurrency for --duration seconds. Without wrk, bench/httpload.py does it.
               Also: the same at 16 clients with bench/httpload.py (a client cross-check), and
               the hot card (every client on ONE card) with an exact balance check.
  (b) driver   bench/driver.py: the same statements the service sends (variant "full"), a
               "minimal" debit + one posting, and the one-statement CTE, through asyncpg.
  (c) pgbench  the one-statement CTE (bench/sql.py) under `pgbench -M prepared`.
SQLite part: the service on a SQLite file, redeems through the API at 1 and 16 clients.

Everything listens on and talks to 127.0.0.1 (or a Unix socket); every process started here is
stopped at the end, also on error or Ctrl-C. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import httpload  # noqa: E402
import pgserver  # noqa: E402
import sql  # noqa: E402

VENV_BIN = Path(sys.executable).parent
OMNIGIFT = str(VENV_BIN / "omnigift")
PYTHON = sys.executable
CARD_VALUE = 10**9  # cents per spread card: far more than a run can redeem
HOT_CARD_VALUE = 10**11
TICKS = os.sysconf("SC_CLK_TCK")

# ---------------------------------------------------------------------------------------------
# process bookkeeping: everything started here is stopped at the end


class Processes:
    def __init__(self) -> None:
        self.children: list[subprocess.Popen[Any]] = []
        self.postgres: list[pgserver.PostgresServer] = []
        self.temp_dirs: list[str] = []

    def spawn(self, cmd: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        proc = subprocess.Popen(cmd, start_new_session=True, **kwargs)
        self.children.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[Any], timeout: float = 15) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if proc in self.children:
            self.children.remove(proc)

    def stop_all(self) -> None:
        for proc in list(reversed(self.children)):
            self.stop(proc)
        for pg in list(self.postgres):
            pg.stop()
            self.postgres.remove(pg)
        for directory in self.temp_dirs:
            shutil.rmtree(directory, ignore_errors=True)
        self.temp_dirs.clear()


PROCS = Processes()


def _on_signal(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# ---------------------------------------------------------------------------------------------
# CPU accounting from /proc (clock ticks -> seconds)


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()  # fields from "state" (field 3) on


def process_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads) and of its live child processes (the server
    processes of ``omnigift serve --workers N``)."""
    f = _stat(pid)
    if not f:
        return 0.0
    total = int(f[11]) + int(f[12])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            g = _stat(int(entry.name))
            if g and int(g[1]) == pid:
                total += int(g[11]) + int(g[12])
    return total / TICKS


def postgres_cpu(postmaster: int | None) -> float:
    """CPU of the whole PostgreSQL server: the postmaster, its live children, and (through the
    postmaster's cutime/cstime) the backends that have already exited."""
    if postmaster is None:
        return 0.0
    f = _stat(postmaster)
    if not f:
        return 0.0
    total = sum(int(x) for x in f[11:15])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            g = _stat(int(entry.name))
            if g and int(g[1]) == postmaster:
                total += int(g[11]) + int(g[12])
    return total / TICKS


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine (all cores) from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / TICKS


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def cpu_meter(service_pid: int | None, postmaster: int | None) -> Iterator[dict[str, float]]:
    """Measures, over the block: the service's CPU, PostgreSQL's CPU, and the CPU of the
    children of this process that were waited for inside the block (the load client)."""
    out: dict[str, float] = {}
    s0 = process_cpu(service_pid) if service_pid else 0.0
    p0, c0, m0 = postgres_cpu(postmaster), children_cpu(), machine_busy()
    t0 = time.perf_counter()
    yield out
    out["wall_s"] = time.perf_counter() - t0
    out["machine_busy_s"] = machine_busy() - m0
    out["service_cpu_s"] = (process_cpu(service_pid) - s0) if service_pid else 0.0
    out["postgres_cpu_s"] = postgres_cpu(postmaster) - p0
    out["client_cpu_s"] = children_cpu() - c0
    # what the rest of the machine (other users of these 2 cores, the kernel's own threads) took
    out["other_cpu_s"] = max(
        0.0,
        out["machine_busy_s"] - out["service_cpu_s"] - out["postgres_cpu_s"] - out["client_cpu_s"],
    )
    out["other_cores"] = out["other_cpu_s"] / out["wall_s"] if out["wall_s"] else 0.0


def foreign_load(seconds: float = 3.0) -> float:
    """Cores kept busy by processes this benchmark did not start (sampled while it is idle)."""
    m0 = machine_busy()
    time.sleep(seconds)
    return (machine_busy() - m0) / seconds


def wait_for_quiet(max_wait: float, threshold: float) -> float:
    """Wait (up to ``max_wait`` s) until the machine is nearly idle; returns the last reading."""
    deadline = time.monotonic() + max_wait
    load = foreign_load()
    while load > threshold and time.monotonic() < deadline:
        say(
            f"  the machine is busy with other work ({load:.2f} cores); waiting for it to calm "
            f"down (at most {max(0, deadline - time.monotonic()):.0f} s more) ..."
        )
        time.sleep(5)
        load = foreign_load()
    return load


# ---------------------------------------------------------------------------------------------
# the service


class Service:
    def __init__(
        self,
        env: dict[str, str],
        port: int,
        log_path: Path,
        *,
        worker: bool = False,
        processes: int = 1,
    ) -> None:
        """``worker``: run the background worker in the same process (plain ``omnigift serve``);
        by default the API only (``--no-worker``). ``processes``: ``serve --workers``."""
        self.env, self.port, self.log_path = env, port, log_path
        self.worker = worker
        self.processes = processes
        self.proc: subprocess.Popen[Any] | None = None
        self.token = ""

    def create_key(self) -> str:
        done = subprocess.run(
            [OMNIGIFT, "keys", "create", "--name", "bench", "--scope", "admin"],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines or not lines[-1].startswith("ogk_"):
            raise RuntimeError(f"omnigift keys create failed: {done.stdout}\n{done.stderr}")
        self.token = lines[-1].strip()
        return self.token

    def start(self) -> None:
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = PROCS.spawn(
            [
                OMNIGIFT,
                "serve",
                *([] if self.worker else ["--no-worker"]),
                *(["--workers", str(self.processes)] if self.processes > 1 else []),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.env["OMNIGIFT_DATA_DIR"],
        )
        log.close()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited at start:\n{self.log_tail()}")
            try:
                status, _ = asyncio.run(
                    httpload.get_json("127.0.0.1", self.port, self.token, "/healthz")
                )
                if status == 200:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"the service did not answer /healthz:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None:
            PROCS.stop(self.proc)
            self.proc = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def balance(self, card: str) -> int:
        status, body = asyncio.run(
            httpload.get_json("127.0.0.1", self.port, self.token, f"/v1/gift-cards/{card}")
        )
        if status != 200:
            raise RuntimeError(f"GET card answered {status}: {body}")
        return int(body["balance"]["amount"])  # type: ignore[index]


def service_env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIGIFT_")}
    env.update(
        OMNIGIFT_DATABASE_URL=database_url,
        OMNIGIFT_SECRET_KEY=secrets.token_urlsafe(48),
        OMNIGIFT_DATA_DIR=str(data_dir),
    )
    return env


# ---------------------------------------------------------------------------------------------
# load generators


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(
    service: Service, cards_file: Path, clients: int, duration: float, postmaster: int | None
) -> dict[str, Any]:
    env = {
        **os.environ,
        "BENCH_TOKEN": service.token,
        "BENCH_CARDS": str(cards_file),
        "BENCH_PREFIX": uuid.uuid4().hex[:12],
    }
    cmd = [
        wrk_path() or "wrk",
        "-t1",
        f"-c{clients}",
        f"-d{duration:g}s",
        "--timeout",
        "10s",
        "-s",
        str(HERE / "redeem.lua"),
        f"http://127.0.0.1:{service.port}",
    ]
    with cpu_meter(service.pid, postmaster) as cpu:
        proc = PROCS.spawn(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate(timeout=duration + 60)
        PROCS.children.remove(proc)
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}\n{err}")
    raw = json.loads(line[len("BENCH_JSON ") :])
    ok = int(raw["statuses"].get("201", 0))
    socket_errors = sum(v for k, v in raw["errors"].items() if k != "status")
    seconds = raw["duration_us"] / 1e6
    return {
        "client": "wrk",
        "clients": clients,
        "duration_s": round(seconds, 3),
        "requests": raw["requests"],
        "ok_201": ok,
        "non_201": raw["requests"] - ok + socket_errors,
        "socket_errors": socket_errors,
        "statuses": raw["statuses"],
        "rps": round(ok / seconds, 1),
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "max_ms": raw["max_us"] / 1000,
        **_cpu_fields(cpu, ok),
    }


def run_python_client(
    service: Service, cards_file: Path, clients: int, duration: float, postmaster: int | None
) -> dict[str, Any]:
    cmd = [
        PYTHON,
        str(HERE / "httpload.py"),
        "--port",
        str(service.port),
        "--token",
        service.token,
        "--cards-file",
        str(cards_file),
        "--clients",
        str(clients),
        "--duration",
        f"{duration:g}",
    ]
    with cpu_meter(service.pid, postmaster) as cpu:
        proc = PROCS.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate(timeout=duration + 120)
        PROCS.children.remove(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"httpload failed ({proc.returncode}):\n{out}\n{err}")
    result = json.loads(out.strip().splitlines()[-1])
    result["client"] = "httpload.py"
    result.update(_cpu_fields(cpu, result["ok_201"]))
    return result


POOL_SIZE = 30  # the service's default OMNIGIFT_POOL_SIZE


def sessions_opened(pg: pgserver.PostgresServer, db: str) -> int:
    """Sessions ever opened on the database: a pool that keeps its connections adds none."""
    return int(pg.psql(db, f"SELECT sessions FROM pg_stat_database WHERE datname = '{db}'"))


def run_api(
    service: Service,
    cards_file: Path,
    clients: int,
    duration: float,
    postmaster: int | None,
    use_wrk: bool,
) -> dict[str, Any]:
    if use_wrk:
        return run_wrk(service, cards_file, clients, duration, postmaster)
    return run_python_client(service, cards_file, clients, duration, postmaster)


def run_driver(
    pg: pgserver.PostgresServer,
    db: str,
    cards_file: Path,
    variant: str,
    clients: int,
    duration: float,
) -> dict[str, Any]:
    cmd = [
        PYTHON,
        str(HERE / "driver.py"),
        "--dsn",
        pg.dsn(db),
        "--cards-file",
        str(cards_file),
        "--variant",
        variant,
        "--clients",
        str(clients),
        "--duration",
        f"{duration:g}",
    ]
    with cpu_meter(None, pg.postmaster_pid()) as cpu:
        proc = PROCS.spawn(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(HERE)
        )
        out, err = proc.communicate(timeout=duration + 120)
        PROCS.children.remove(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"driver.py {variant} failed ({proc.returncode}):\n{out}\n{err}")
    result = json.loads(out.strip().splitlines()[-1])
    result["non_201"] = sum(result["errors"].values())
    result.update(_cpu_fields(cpu, result["ok"]))
    return result


def run_pgbench(
    pg: pgserver.PostgresServer,
    db: str,
    script: Path,
    clients: int,
    duration: float,
    work_dir: Path,
    api_key_id: str,
) -> dict[str, Any]:
    pgbench = pgserver.find_binary("pgbench")
    if not pgbench:
        raise RuntimeError("pgbench not found")
    log_dir = Path(tempfile.mkdtemp(prefix="pgbench-", dir=work_dir))
    env = {**os.environ, **pg.libpq_env(db)}
    count_sql = f"SELECT count(*) FROM idempotency_keys WHERE api_key_id = '{api_key_id}'"
    before = int(pg.psql(db, count_sql))
    cmd = [
        pgbench,
        "-n",
        "-M",
        "prepared",
        "-T",
        str(round(duration)),
        "-c",
        str(clients),
        "-j",
        str(min(clients, 2)),
        "-f",
        str(script),
        "-l",
        "--log-prefix",
        str(log_dir / "tx"),
    ]
    with cpu_meter(None, pg.postmaster_pid()) as cpu:
        proc = PROCS.spawn(
            cmd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(log_dir),
        )
        out, err = proc.communicate(timeout=duration + 120)
        PROCS.children.remove(proc)
    if proc.returncode != 0:
        raise RuntimeError(f"pgbench failed ({proc.returncode}):\n{out}\n{err}")
    redeemed = int(pg.psql(db, count_sql)) - before
    latencies: list[int] = []
    for log in log_dir.glob("tx*"):
        for line in log.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3:
                latencies.append(int(parts[2]))
    shutil.rmtree(log_dir, ignore_errors=True)
    latencies.sort()
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    done = re.search(r"number of transactions actually processed: (\d+)", out)

    def pct(p: float) -> float | None:
        return (
            latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] / 1000
            if latencies
            else None
        )

    transactions = int(done.group(1)) if done else len(latencies)
    return {
        "clients": clients,
        "duration_s": duration,
        "transactions": transactions,
        "ok": redeemed,
        "non_201": (int(failed.group(1)) if failed else 0) + (transactions - redeemed),
        "rps": float(tps.group(1)) * redeemed / transactions if tps and transactions else 0.0,
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "max_ms": latencies[-1] / 1000 if latencies else None,
        **_cpu_fields(cpu, redeemed),
    }


def _cpu_fields(cpu: dict[str, float], ok: int) -> dict[str, Any]:
    def per(seconds: float) -> float | None:
        return round(seconds * 1000 / ok, 3) if ok else None

    return {
        "cpu": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_ms_per_redeem": {
            "service": per(cpu["service_cpu_s"]),
            "postgres": per(cpu["postgres_cpu_s"]),
            "client": per(cpu["client_cpu_s"]),
        },
    }


# ---------------------------------------------------------------------------------------------
# setup helpers


def issue_cards(service: Service, count: int, value: int) -> list[str]:
    started = time.perf_counter()
    ids = asyncio.run(httpload.issue_cards("127.0.0.1", service.port, service.token, count, value))
    say(f"  issued {len(ids)} cards through the API in {time.perf_counter() - started:.1f} s")
    return ids


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def checkpoint(pg: pgserver.PostgresServer, db: str) -> None:
    """Start every measured PostgreSQL run from a fresh checkpoint, so no run pays for the
    previous run's dirty pages at a random moment."""
    pg.psql(db, "CHECKPOINT")


SERVICE_STATEMENTS = [sql.SERVICE_READ_CARD, sql.SERVICE_WRITE_ACTIVITY]
_LOG_ENTRY = re.compile(r"^\S+ \S+ \S+ \[(\d+)\] (\w+):  (.*)$")


def capture_redeem_statements(
    pg: pgserver.PostgresServer, db: str, service: Service, card: str
) -> dict[str, Any]:
    """Log every statement PostgreSQL receives while the service handles ONE redeem, and
    compare them with the statements bench/driver.py's "full" variant replays."""
    log_path = pg.directory / "log"
    pg.psql(db, "ALTER SYSTEM SET log_statement = 'all'")
    pg.psql(db, "SELECT pg_reload_conf()")
    time.sleep(0.5)
    offset = log_path.stat().st_size

    async def one() -> int:
        conn = httpload.Connection("127.0.0.1", service.port)
        try:
            status, _ = await conn.request(
                "POST",
                f"/v1/gift-cards/{card}/activities",
                {
                    "Authorization": f"Bearer {service.token}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"capture-{uuid.uuid4().hex}",
                },
                httpload.REDEEM_BODY,
            )
        finally:
            await conn.close()
        return status

    status = asyncio.run(one())
    time.sleep(0.3)
    pg.psql(db, "ALTER SYSTEM RESET log_statement")
    pg.psql(db, "SELECT pg_reload_conf()")
    with open(log_path, errors="replace") as handle:
        handle.seek(offset)
        text = handle.read()
    entries: list[list[str]] = []
    collecting = False
    for raw in text.splitlines():
        match = _LOG_ENTRY.match(raw)
        if match:
            message = match.group(3)
            collecting = match.group(2) == "LOG" and message.startswith(("statement: ", "execute "))
            if collecting:
                entries.append([message.split(": ", 1)[1]])
        elif collecting and raw.startswith("\t"):
            entries[-1].append(raw[1:])
    joined = ["\n".join(lines) for lines in entries]
    ours = ("pg_reload_conf", "ALTER SYSTEM")
    statements = [e for e in joined if not any(o in e for o in ours)]
    # The API key is looked up at most every auth_cache_seconds (2 s): one read, not the redeem.
    auth_lookup = any("FROM api_keys" in s for s in statements)
    statements = [s for s in statements if "FROM api_keys" not in s]

    def norm(text: str) -> str:
        return " ".join(text.split())

    matches = [norm(a) for a in statements] == [norm(b) for b in SERVICE_STATEMENTS]
    return {
        "status": status,
        "statements": len(statements),
        "matches_driver_full": matches,
        "api_key_lookup_seen": auth_lookup,
        "sent": [norm(x) for x in statements],
    }


def measured(args: argparse.Namespace, label: str, run: Any, prepare: Any = None) -> dict[str, Any]:
    """One measured run. With --retries, a run during which other processes took more than
    CONTAMINATED cores is repeated (after waiting up to --quiet-wait-run s for quiet), and the
    attempt that other processes disturbed least is kept — chosen by that, never by its result."""
    best: dict[str, Any] | None = None
    attempts = 0
    for attempts in range(1, args.retries + 2):
        if args.quiet_wait_run:
            wait_for_quiet(args.quiet_wait_run, CONTAMINATED)
        if prepare:
            prepare()
        result = run()
        other = result["cpu"]["other_cores"]
        if best is None or other < best["cpu"]["other_cores"]:
            best = result
        if other <= CONTAMINATED or attempts > args.retries:
            break
        say(f"    {label}: other processes took {other:.2f} cores during the run; again")
    assert best is not None
    best["attempts"] = attempts
    return best


def deadlocks(pg: pgserver.PostgresServer, db: str) -> int:
    return int(pg.psql(db, f"SELECT deadlocks FROM pg_stat_database WHERE datname = '{db}'"))


def say(message: str) -> None:
    print(message, flush=True)


def versions() -> dict[str, str]:
    out: dict[str, str] = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for dist in (
        "fastapi",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "sqlalchemy",
        "asyncpg",
        "aiosqlite",
        "pydantic",
    ):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[dist] = importlib.metadata.version(dist)
    for tool in ("wrk", "pgbench"):
        path = shutil.which(tool) if tool == "wrk" else pgserver.find_binary(tool)
        if path:
            done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
            text = (done.stdout or done.stderr).strip().splitlines()
            out[tool] = text[0] if text else "?"
        else:
            out[tool] = "missing"
    return out


def source_state() -> dict[str, Any]:
    """Which code was measured: the commit, and whether src/ had uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    dirty = [line for line in git("status", "--porcelain", "--", "src").splitlines() if line]
    return {"commit": git("rev-parse", "--short", "HEAD"), "src_uncommitted_files": len(dirty)}


def machine() -> dict[str, Any]:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.1f} GiB"
    return {"nproc": os.cpu_count(), "cpu": model, "memory": mem, "kernel": platform.release()}


def fsync_rate(directory: Path) -> str | None:
    tool = pgserver.find_binary("pg_test_fsync")
    if not tool:
        return None
    done = subprocess.run(
        [tool, "-s", "1", "-f", str(directory / "fsync.test")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    match = re.search(r"fdatasync\s+([0-9,.]+) ops/sec\s+(\d+) usecs/op", done.stdout)
    return f"fdatasync {match.group(1)} ops/s ({match.group(2)} us/op)" if match else None


# ---------------------------------------------------------------------------------------------
# the two engines


def bench_postgres(args: argparse.Namespace, work: Path, results: dict[str, Any]) -> None:
    say("PostgreSQL: starting a throwaway durable server ...")
    pg = pgserver.start(str(work))
    PROCS.postgres.append(pg)
    results["postgres_version"] = pg.version
    results["postgres_settings"] = pgserver.DURABLE_SETTINGS
    if args.fsync_test:
        results["pg_test_fsync"] = fsync_rate(pg.directory)
        say(f"  pg_test_fsync: {results['pg_test_fsync']}")
    db = "omnigift_bench"
    pg.psql("postgres", f"CREATE DATABASE {db}")
    data_dir = Path(tempfile.mkdtemp(prefix="service-", dir=work))
    service = Service(
        service_env(pg.sqlalchemy_url(db), data_dir),
        pgserver.free_port(),
        work / "service-postgres.log",
        processes=args.service_processes,
    )
    service.create_key()  # also migrates the database
    service.start()
    say(f"  service up on 127.0.0.1:{service.port} (pid {service.pid})")
    cards = issue_cards(service, args.cards, CARD_VALUE)
    hot = issue_cards(service, 1, HOT_CARD_VALUE)[0]
    cards_file = write_lines(work / "cards.txt", cards)
    hot_file = write_lines(work / "hot.txt", [hot])
    rows = "\n".join(f"{i}\t{c}" for i, c in enumerate([hot, *cards]))
    pg.psql(db, "CREATE TABLE bench_cards (n int PRIMARY KEY, card_id varchar(40) NOT NULL)")
    (work / "bench_cards.tsv").write_text(rows + "\n")
    pg.psql(db, f"\\copy bench_cards FROM '{work / 'bench_cards.tsv'}'")
    pg.psql(db, "VACUUM ANALYZE")
    postmaster = pg.postmaster_pid()
    use_wrk = args.client == "wrk" or (args.client == "auto" and wrk_path() is not None)
    if not use_wrk:
        say(
            "  NOTE: wrk is not installed (apt-get install -y wrk); the API load comes from "
            "bench/httpload.py instead, whose CPU competes harder with the server"
        )
    results["api_client"] = "wrk -t1" if use_wrk else "bench/httpload.py"
    results["service_processes"] = args.service_processes

    load = wait_for_quiet(args.quiet_wait, CONTAMINATED)
    say(f"  other processes' load before the measured runs: {load:.2f} cores")
    say(f"  warm-up: {args.warmup:g} s at 16 clients (not recorded)")
    run_api(service, cards_file, 16, args.warmup, postmaster, use_wrk)
    captured = capture_redeem_statements(pg, db, service, cards[0])
    results["service_redeem_statements"] = captured
    say(
        f"  one redeem through the service (HTTP {captured['status']}) sent "
        f"{captured['statements']} statements to PostgreSQL; same as driver 'full' replays: "
        f"{'yes' if captured['matches_driver_full'] else 'NO'}"
    )
    if not captured["matches_driver_full"]:
        say(
            "  WARNING: the service's redeem path changed; bench/sql.py SERVICE_* is out of date."
            " What the service sent:\n    " + "\n    ".join(captured["sent"])
        )

    api: dict[str, Any] = {}
    fresh = lambda: checkpoint(pg, db)  # noqa: E731
    for clients in args.clients:
        opened = sessions_opened(pg, db)
        api[str(clients)] = measured(
            args,
            f"API {clients}",
            lambda c=clients: run_api(service, cards_file, c, args.duration, postmaster, use_wrk),
            fresh,
        )
        api[str(clients)]["new_sessions"] = sessions_opened(pg, db) - opened
        say(f"  (a) API        {clients:>3} clients: {line(api[str(clients)])}")
        if api[str(clients)]["new_sessions"] > POOL_SIZE:
            say(
                f"  WARNING: the service opened {api[str(clients)]['new_sessions']} PostgreSQL "
                "sessions during the run: its pool is not keeping its connections"
            )
    results["api"] = api

    if use_wrk:
        cross = measured(
            args,
            "API httpload 16",
            lambda: run_python_client(service, cards_file, 16, args.duration, postmaster),
            fresh,
        )
        results["api_httpload_16"] = cross
        say(f"  (a) API via httpload.py  16 clients: {line(cross)}")

    # the hot card: every client on one card, an exact balance check afterwards
    count_sql = f"SELECT count(*) FROM activities WHERE account_id = '{hot}' AND type = 'redeem'"

    def hot_card() -> dict[str, Any]:
        before_balance = service.balance(hot)
        before_deadlocks = deadlocks(pg, db)
        before_count = int(pg.psql(db, count_sql))
        run = run_python_client(service, hot_file, args.hot_clients, args.duration, postmaster)
        after_balance = service.balance(hot)
        run.update(
            card=hot,
            balance_before=before_balance,
            balance_after=after_balance,
            balance_expected=before_balance - run["ok_201"],
            balance_exact=after_balance == before_balance - run["ok_201"],
            redeem_activities=int(pg.psql(db, count_sql)) - before_count,
            deadlocks=deadlocks(pg, db) - before_deadlocks,
        )
        return run

    hot_run = measured(args, "hot card", hot_card, fresh)
    before_balance, after_balance = hot_run["balance_before"], hot_run["balance_after"]
    results["api_hot"] = hot_run
    say(
        f"  (a) API hot card {args.hot_clients} clients: {line(hot_run)}; balance "
        f"{before_balance} -> {after_balance}, expected {hot_run['balance_expected']}: "
        f"{'EXACT' if hot_run['balance_exact'] else 'MISMATCH'}; deadlocks "
        f"{hot_run['deadlocks']}"
    )
    service.stop()

    driver: dict[str, dict[str, Any]] = {}
    for variant, concurrencies in (
        ("full", args.clients),
        ("minimal", args.clients),
        ("cte", args.cte_clients),
    ):
        driver[variant] = {}
        for clients in concurrencies:
            driver[variant][str(clients)] = measured(
                args,
                f"driver {variant} {clients}",
                lambda v=variant, c=clients: run_driver(pg, db, cards_file, v, c, args.duration),
                fresh,
            )
            say(
                f"  (b) driver {variant:<7} {clients:>3} clients: "
                f"{line(driver[variant][str(clients)])}"
            )
    results["driver"] = driver

    spread = work / "redeem.pgbench"
    spread.write_text(sql.pgbench_script(len(cards), hot=False))
    hot_script = work / "redeem-hot.pgbench"
    hot_script.write_text(sql.pgbench_script(len(cards), hot=True))
    pgb: dict[str, Any] = {}
    for clients in args.clients:
        pgb[str(clients)] = measured(
            args,
            f"pgbench {clients}",
            lambda c=clients: run_pgbench(
                pg, db, spread, c, args.duration, work, "key_bench_pgbench"
            ),
            fresh,
        )
        say(f"  (c) pgbench     {clients:>3} clients: {line(pgb[str(clients)])}")
    results["pgbench"] = pgb
    results["pgbench_hot"] = measured(
        args,
        "pgbench hot",
        lambda: run_pgbench(
            pg, db, hot_script, args.hot_clients, args.duration, work, "key_bench_pgbench"
        ),
        fresh,
    )
    say(f"  (c) pgbench hot  {args.hot_clients} clients: {line(results['pgbench_hot'])}")
    pg.stop()
    PROCS.postgres.remove(pg)


def bench_sqlite(args: argparse.Namespace, work: Path, results: dict[str, Any]) -> None:
    say("SQLite: the service on a SQLite file ...")
    data_dir = Path(tempfile.mkdtemp(prefix="service-sqlite-", dir=work))
    url = f"sqlite+aiosqlite:///{data_dir / 'omnigift.sqlite'}"
    service = Service(service_env(url, data_dir), pgserver.free_port(), work / "service-sqlite.log")
    service.create_key()
    service.start()
    count = min(args.cards, args.sqlite_cards)
    cards = issue_cards(service, count, CARD_VALUE)
    cards_file = write_lines(work / "cards-sqlite.txt", cards)
    use_wrk = args.client == "wrk" or (args.client == "auto" and wrk_path() is not None)
    wait_for_quiet(args.quiet_wait, CONTAMINATED)
    run_api(service, cards_file, 16, args.warmup, None, use_wrk)
    out: dict[str, Any] = {}
    for clients in args.sqlite_clients:
        out[str(clients)] = measured(
            args,
            f"SQLite API {clients}",
            lambda c=clients: run_api(service, cards_file, c, args.duration, None, use_wrk),
        )
        say(f"  SQLite API     {clients:>3} clients: {line(out[str(clients)])}")
    service.stop()
    results["sqlite_api"] = out
    results["sqlite_cards"] = count


# ---------------------------------------------------------------------------------------------
# reporting


def line(r: dict[str, Any]) -> str:
    other = r.get("cpu", {}).get("other_cores")
    return (
        f"{r['rps']:>8.0f} redeems/s  p50 {fmt_ms(r['p50_ms'])}  p99 {fmt_ms(r['p99_ms'])}"
        f"  non-201/errors {r['non_201']}"
        + (f"  new sessions {r['new_sessions']}" if "new_sessions" in r else "")
        + (f"  [other processes: {other:.2f} cores]" if other is not None else "")
    )


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:6.1f} ms"


CONTAMINATED = 0.2  # cores used by other processes during a run above which it is flagged


def cell(r: dict[str, Any] | None) -> str:
    if not r:
        return "-"
    flag = "*" if r.get("cpu", {}).get("other_cores", 0) > CONTAMINATED else ""
    return f"{r['rps']:,.0f}/s {r['p50_ms']:.1f}/{r['p99_ms']:.1f} ms e={r['non_201']}{flag}"


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    out: list[str] = []
    cs = [str(c) for c in args.clients]
    if "api" in results:
        width = 36
        out.append("")
        out.append(
            "PostgreSQL, spread load over "
            f"{args.cards:,} cards — redeems/s, p50/p99, non-201 or errors (e=)"
        )
        out.append("| run".ljust(36) + "".join(f"| {c + ' clients':<{width}}" for c in cs) + "|")
        out.append("|" + "-" * 35 + ("|" + "-" * (width + 1)) * len(cs) + "|")
        rows = [
            (f"(a) API ({results['api_client']})", results["api"]),
            ("(b) driver, service's statements", results["driver"]["full"]),
            ("(b) driver, minimal (2 stmts)", results["driver"]["minimal"]),
            ("(b) driver, one-statement CTE", results["driver"]["cte"]),
            ("(c) pgbench, one-statement CTE", results["pgbench"]),
        ]
        for name, data in rows:
            out.append(
                f"| {name:<34}" + "".join(f"| {cell(data.get(c)):<{width}}" for c in cs) + "|"
            )
        out.append("")
        out.append("Ratios (redeems/s):")
        for label, denominator in (
            ("a/b  API / driver (same statements)", results["driver"]["full"]),
            ("a/b' API / driver minimal", results["driver"]["minimal"]),
            ("a/c  API / pgbench one statement", results["pgbench"]),
        ):
            parts = []
            for c in cs:
                a, b = results["api"].get(c), denominator.get(c)
                parts.append(
                    f"{c}: {a['rps'] / b['rps']:.2f}" if a and b and b["rps"] else f"{c}: -"
                )
            out.append(f"  {label:<38} " + "   ".join(parts))
        out.append("")
        out.append("CPU per redeem, ms (service / postgres / load client); 2 cores = 2,000 ms/s:")
        for c in cs:
            r = results["api"].get(c)
            if r:
                m = r["cpu_ms_per_redeem"]
                out.append(
                    f"  API {c:>3} clients: {m['service']} / {m['postgres']} / {m['client']}"
                )
        for variant in ("full", "minimal", "cte"):
            r = results["driver"][variant].get("16")
            if r:
                m = r["cpu_ms_per_redeem"]
                out.append(f"  driver {variant:<7} 16: - / {m['postgres']} / {m['client']}")
        r = results["pgbench"].get("16")
        if r:
            m = r["cpu_ms_per_redeem"]
            out.append(f"  pgbench 16: - / {m['postgres']} / {m['client']}")
        if "api_httpload_16" in results:
            out.append("")
            out.append(
                f"Client cross-check, API at 16 clients with bench/httpload.py: "
                f"{cell(results['api_httpload_16'])}, client CPU "
                f"{results['api_httpload_16']['cpu']['client_cpu_s']} s"
            )
        h = results["api_hot"]
        out.append("")
        out.append(
            f"Hot card, API, {h['clients']} clients (bench/httpload.py): {cell(h)}, "
            f"max {h['max_ms']:.1f} ms; balance {h['balance_before']} -> "
            f"{h['balance_after']} (expected {h['balance_expected']}: "
            f"{'exact' if h['balance_exact'] else 'MISMATCH'}); redeem activities "
            f"{h['redeem_activities']} vs 201s {h['ok_201']}; deadlocks {h['deadlocks']}"
        )
        out.append(
            f"Hot card, pgbench one statement, {args.hot_clients} clients: "
            f"{cell(results['pgbench_hot'])}"
        )
    if "sqlite_api" in results:
        out.append("")
        out.append(
            f"SQLite through the API ({results['sqlite_cards']:,} cards): "
            + "; ".join(f"{c} clients {cell(r)}" for c, r in results["sqlite_api"].items())
        )
    flagged = [
        name
        for name, r in all_runs(results)
        if r.get("cpu", {}).get("other_cores", 0) > CONTAMINATED
    ]
    out.append("")
    if flagged:
        out.append(
            f"* = other processes used more than {CONTAMINATED} cores during the run "
            f"({len(flagged)} runs: {', '.join(flagged)}); those numbers are low by "
            "an unknown amount. Re-run on a quiet machine."
        )
    else:
        out.append(f"No run saw more than {CONTAMINATED} cores of other processes' CPU.")
    out.append("")
    out.append(targets(results))
    return "\n".join(out)


def all_runs(results: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    runs: list[tuple[str, dict[str, Any]]] = []
    for key in ("api", "pgbench", "sqlite_api"):
        runs += [(f"{key}@{c}", r) for c, r in results.get(key, {}).items()]
    for variant, data in results.get("driver", {}).items():
        runs += [(f"driver-{variant}@{c}", r) for c, r in data.items()]
    for key in ("api_httpload_16", "api_hot", "pgbench_hot"):
        if key in results:
            runs.append((key, results[key]))
    return runs


def targets(results: dict[str, Any]) -> str:
    lines = ["Targets (ARCHITECTURE.md, Performance budget; research 1.9):"]

    def check(name: str, ok: bool | None, detail: str) -> None:
        mark = "n/a " if ok is None else ("MET " if ok else "MISS")
        lines.append(f"  [{mark}] {name}: {detail}")

    api16 = results.get("api", {}).get("16")
    if api16:
        drv = results["driver"]["full"].get("16")
        pgb = results["pgbench"].get("16")
        r1 = api16["rps"] / drv["rps"] if drv and drv["rps"] else None
        r2 = api16["rps"] / pgb["rps"] if pgb and pgb["rps"] else None
        check(
            "API/driver >= 0.5 at 16",
            None if r1 is None else r1 >= 0.5,
            f"{r1:.2f}" if r1 is not None else "-",
        )
        check(
            "API/pgbench >= 0.2 at 16",
            None if r2 is None else r2 >= 0.2,
            f"{r2:.2f}" if r2 is not None else "-",
        )
        check("API p50 <= 10 ms at 16", api16["p50_ms"] <= 10, f"{api16['p50_ms']:.1f} ms")
        check("API p99 <= 50 ms at 16", api16["p99_ms"] <= 50, f"{api16['p99_ms']:.1f} ms")
        api64 = results["api"].get("64")
        if api64:
            check("API p99 <= 200 ms at 64", api64["p99_ms"] <= 200, f"{api64['p99_ms']:.1f} ms")
    h = results.get("api_hot")
    if h:
        check("hot card >= 1,000/s", h["rps"] >= 1000, f"{h['rps']:,.0f}/s")
        check("hot card p99 <= 100 ms", h["p99_ms"] <= 100, f"{h['p99_ms']:.1f} ms")
        clean = h["non_201"] == 0 and h["deadlocks"] == 0 and h["balance_exact"]
        check(
            "hot card: no errors, no deadlock, exact balance",
            clean,
            f"non-201 {h['non_201']}, deadlocks {h['deadlocks']}, balance "
            f"{'exact' if h['balance_exact'] else 'MISMATCH'}",
        )
        spread = results.get("api_httpload_16") or (results.get("api", {}).get("16"))
        if spread:
            ratio = h["rps"] / spread["rps"] if spread["rps"] else 0
            check("hot/spread >= 0.5 (same client)", ratio >= 0.5, f"{ratio:.2f}")
    sq = results.get("sqlite_api")
    if sq:
        best = max(r["rps"] for r in sq.values())
        check(
            "SQLite API >= 1,000/s",
            best >= 1000,
            ", ".join(f"{c} clients {r['rps']:,.0f}/s" for c, r in sq.items()),
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    parser.add_argument(
        "--clients",
        type=ints,
        default=[1, 16, 64],
        help="concurrencies for the spread runs (a), (b), (c)",
    )
    parser.add_argument("--cards", type=int, default=10_000, help="cards issued for spread load")
    parser.add_argument("--engine", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--hot-clients", type=int, default=16)
    parser.add_argument(
        "--cte-clients",
        type=ints,
        default=[16],
        help="concurrencies for the driver's one-statement variant",
    )
    parser.add_argument("--sqlite-clients", type=ints, default=[1, 16])
    parser.add_argument(
        "--sqlite-cards",
        type=int,
        default=2_000,
        help="cards issued on SQLite (one writer: spread barely matters)",
    )
    parser.add_argument(
        "--client",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="API load generator: wrk if installed (auto), or bench/httpload.py",
    )
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument(
        "--service-processes",
        type=int,
        default=1,
        help="PostgreSQL: run the service as `omnigift serve --workers N` (its CPU is summed)",
    )
    parser.add_argument(
        "--no-fsync-test",
        dest="fsync_test",
        action="store_false",
        help="skip pg_test_fsync (about 15 s)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60,
        help="wait up to this many seconds for other processes to go idle",
    )
    parser.add_argument(
        "--quiet-wait-run",
        type=float,
        default=0,
        help="before each measured run, wait up to this many seconds for quiet",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=0,
        help="repeat a run disturbed by other processes up to this many times",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (service logs) for inspection"
    )
    args = parser.parse_args(argv)
    if 16 not in args.clients:
        parser.error("--clients must include 16: the targets are stated at 16 clients")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    if args.client == "wrk" and wrk_path() is None:
        say("wrk is not installed: apt-get install -y wrk, or use --client python")
        return 2
    if wrk_path() is None:
        say("NOTE: wrk is missing (apt-get install -y wrk); falling back to bench/httpload.py")
    work = Path(tempfile.mkdtemp(prefix="omnigift-bench-"))
    os.chmod(work, 0o755)  # the postgres user must reach its data directory inside
    if not args.keep:
        PROCS.temp_dirs.append(str(work))
    started = time.perf_counter()
    results: dict[str, Any] = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "duration_s": args.duration,
        "machine": machine(),
        "versions": versions(),
        "source": source_state(),
    }
    say(f"machine: {results['machine']}")
    say(f"versions: {results['versions']}")
    say(f"source: {results['source']}")
    results["foreign_load_at_start"] = round(wait_for_quiet(args.quiet_wait, CONTAMINATED), 2)
    say(f"other processes' load at start: {results['foreign_load_at_start']:.2f} cores")
    try:
        if args.engine in ("postgres", "both"):
            bench_postgres(args, work, results)
        if args.engine in ("sqlite", "both"):
            bench_sqlite(args, work, results)
    except BaseException:
        say(f"benchmark failed; work directory {work} (service logs) is kept")
        if str(work) in PROCS.temp_dirs:
            PROCS.temp_dirs.remove(str(work))
        results["incomplete"] = True
        raise
    finally:
        PROCS.stop_all()
        if args.json:  # what was measured so far survives a failure or Ctrl-C
            args.json.write_text(json.dumps(results, indent=2))
    results["total_runtime_s"] = round(time.perf_counter() - started, 1)
    if "pg_test_fsync" in results:
        say(f"pg_test_fsync: {results['pg_test_fsync']}")
    say(report(results, args))
    say(f"\ntotal runtime {results['total_runtime_s']} s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
