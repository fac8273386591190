"""Profile the service's redeem path with py-spy while wrk drives it (PostgreSQL, durable, or
SQLite with ``--engine sqlite``).

py-spy is not a project dependency: install it into a throwaway venv OUTSIDE the repository,
    python3 -m venv /tmp/pyspy-venv && /tmp/pyspy-venv/bin/pip install py-spy
then
    .venv/bin/python bench/profile_api.py --py-spy /tmp/pyspy-venv/bin/py-spy [--duration 15]

It prints the functions with the most samples (self and inclusive) and writes the collapsed
stacks (flamegraph.pl / speedscope input) to --out. The profiler slows the service: the
throughput printed here is not a benchmark result; bench/redeem.py is.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redeem
from redeem import PROCS, Service, pgserver


def summarize(collapsed: Path, top: int) -> str:
    self_counts: collections.Counter[str] = collections.Counter()
    incl_counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_s)
        total += count
        frames = stack.split(";")
        self_counts[frames[-1]] += count
        for frame in set(frames):
            incl_counts[frame] += count
    by_package: collections.Counter[str] = collections.Counter()
    for frame, count in self_counts.items():
        by_package[_package(frame)] += count
    out = [f"{total} samples", "", "self time by package of the leaf frame:"]
    out += [f"  {100 * c / total:5.1f}%  {p}" for p, c in by_package.most_common()]
    out += ["", "self (top frames):"]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in self_counts.most_common(top)]
    out += ["", "inclusive (frame anywhere on the stack):"]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in incl_counts.most_common(top * 2)]
    return "\n".join(out)


STDLIB_DIRS = {"asyncio", "json", "concurrent", "email", "http", "logging", "re", "importlib"}


def _package(frame: str) -> str:
    """'func (sqlalchemy/sql/base.py:12)' -> 'sqlalchemy'; stdlib files -> 'stdlib <name>'.
    py-spy prints paths relative to their sys.path entry, so the first component is the package."""
    _, _, where = frame.rpartition(" (")
    path = where.rsplit(":", 1)[0]
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    if path.endswith(("threading.py", "queue.py")):
        return "threading (thread-pool handoff)"
    head, sep, _ = path.partition("/")
    if not sep:
        return f"stdlib {head}" if head.endswith(".py") else frame
    return f"stdlib {head}" if head in STDLIB_DIRS else head


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--py-spy", required=True)
    parser.add_argument("--duration", type=float, default=15)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--engine", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--native",
        action="store_true",
        help="also sample C and Cython frames (asyncpg's protocol, uvloop); pauses the service "
        "for each sample, so it runs slower still",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(tempfile.gettempdir()) / "redeem.collapsed"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="omnigift-profile-"))
    work.chmod(0o755)
    PROCS.temp_dirs.append(str(work))
    try:
        data_dir = Path(tempfile.mkdtemp(prefix="service-", dir=work))
        postmaster: int | None = None
        if args.engine == "postgres":
            pg = pgserver.start(str(work))
            PROCS.postgres.append(pg)
            pg.psql("postgres", "CREATE DATABASE omnigift_bench")
            url = pg.sqlalchemy_url("omnigift_bench")
            postmaster = pg.postmaster_pid()
        else:
            url = f"sqlite+aiosqlite:///{data_dir / 'omnigift.sqlite'}"
        service = Service(
            redeem.service_env(url, data_dir), pgserver.free_port(), work / "service.log"
        )
        service.create_key()
        service.start()
        cards_file = redeem.write_lines(
            work / "cards.txt", redeem.issue_cards(service, args.cards, redeem.CARD_VALUE)
        )
        redeem.run_wrk(service, cards_file, args.clients, 2, postmaster)  # warm-up
        spy = PROCS.spawn(
            [
                args.py_spy,
                "record",
                "--pid",
                str(service.pid),
                "--rate",
                str(args.rate),
                "--format",
                "raw",
                *(["--native"] if args.native else ["--nonblocking"]),
                "--output",
                str(args.out),
                "--duration",
                str(int(args.duration + 1)),
            ]
        )
        time.sleep(1)
        result = redeem.run_wrk(service, cards_file, args.clients, args.duration, postmaster)
        spy.wait(timeout=60)
        print(f"under the profiler: {redeem.line(result)}")
        print(f"collapsed stacks: {args.out}")
        print(summarize(args.out, args.top))
    finally:
        PROCS.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
