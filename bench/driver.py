"""The redeem transaction straight through asyncpg: one process, N asyncio tasks on uvloop, a pool.

Variants:
  full     the statements the service executes for one redeem (bench/sql.py SERVICE_*), with the
           same parameters, the same JSON payloads (event data, stored response): the card and
           its lots read in one statement, then one write guarded by the version read (the
           idempotency key with it), each its own transaction (no BEGIN, no COMMIT).
  minimal  BEGIN; conditional UPDATE of the balance; INSERT one posting; COMMIT.
  cte      the one-statement redeem of bench/sql.py (what pgbench runs), sent by asyncpg.

Prints one JSON line with redeems/s, p50/p99 and its own CPU time::

    python bench/driver.py --dsn postgresql://... --cards-file F --variant full --clients 16
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import resource
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import sql
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from ulid import ULID

KEY_ID = "key_bench_driver"
REDEEM_BODY_CANONICAL = json.dumps(
    {"type": "redeem", "amount": {"amount": 1, "currency": "USD"}},
    sort_keys=True,
    separators=(",", ":"),
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{ULID()}"


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def money(amount: int | None, currency: str) -> dict[str, Any] | None:
    return None if amount is None else {"amount": amount, "currency": currency}


def activity_view(a: dict[str, Any]) -> dict[str, Any]:
    """The same shape as omnigift.ledger.views.activity_view."""
    return {
        "id": a["id"],
        "gift_card_id": a["account_id"],
        "type": a["type"],
        "amount": money(a["amount"], a["currency"]),
        "balance_after": money(a["balance_after"], a["currency"]),
        "state_after": a["state_after"],
        "reference": a["reference"],
        "reason": a["reason"],
        "metadata": a["metadata"] or {},
        "redeem_activity_id": None,
        "hold_id": None,
        "origin": {
            "channel": a["channel"],
            "integration_id": None,
            "location_id": None,
            "api_key_id": a["api_key_id"],
            "staff_user_id": None,
        },
        "created_at": rfc3339(a["created_at"]),
    }


def card_view(row: Any, balance: int, version: int, now: datetime) -> dict[str, Any]:
    """The same shape as omnigift.ledger.views.card_view (without lots)."""
    cur = row["currency"]
    last4 = row["code_last4"]
    return {
        "id": row["id"],
        "type": row["type"],
        "state": row["state"],
        "code_last4": last4,
        "masked_code": "\u2022\u2022\u2022\u2022 \u2022\u2022\u2022\u2022 \u2022\u2022\u2022\u2022 "
        + last4,
        "balance": money(balance, cur),
        "available": money(balance - row["held"], cur),
        "initial_value": money(row["initial_value"], cur),
        "currency": cur,
        "expires_at": rfc3339(row["expires_at"]),
        "customer_id": row["customer_id"],
        "recipient": json.loads(row["recipient"]) if row["recipient"] else None,
        "issued_via": {
            "channel": row["issued_channel"],
            "integration_id": row["issued_integration_id"],
            "location_id": row["issued_location_id"],
        },
        "pin_required": row["pin_hash"] is not None,
        "metadata": json.loads(row["metadata"]) if row["metadata"] else {},
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(now),
        "version": version,
    }


async def redeem_full(conn: asyncpg.Connection, card: str, idem: str) -> None:
    """The service's short way: one read, one guarded write, each its own transaction."""
    now = datetime.now(UTC)
    fingerprint = f"POST /v1/gift-cards/{card}/activities\n{REDEEM_BODY_CANONICAL}"
    request_hash = hashlib.sha256(fingerprint.encode()).hexdigest()
    row = await conn.fetchrow(sql.SERVICE_READ_CARD, 0, card)
    if row is None:
        raise LookupError(card)
    lots = json.loads(row["open_lots"] or "[]")
    if row["balance"] - row["held"] < 1:
        raise ValueError("insufficient funds")
    # plan_burn: take from the lots in order (the benchmark's cards have one lot)
    need, movements = 1, []
    for lot_id, _kind, remaining, _expires, _created in lots:
        take = min(need, remaining)
        if take:
            movements.append((lot_id, -take))
            need -= take
        if not need:
            break
    balance_after = row["balance"] - 1
    version_after = row["version"] + 1
    activity = {
        "id": new_id("act"),
        "account_id": card,
        "type": "redeem",
        "amount": 1,
        "currency": row["currency"],
        "balance_after": balance_after,
        "state_after": row["state"],
        "reason": None,
        "reference": None,
        "metadata": None,
        "channel": "api",
        "api_key_id": KEY_ID,
        "created_at": now,
    }
    view = activity_view(activity)
    event = {
        "id": new_id("evt"),
        "type": "gift_card.activity.created",
        "account_id": card,
        "sequence": version_after,
        "data": {
            "activity": view,
            "gift_card": card_view(row, balance_after, version_after, now),
        },
    }
    body = json.dumps(view, separators=(",", ":"), ensure_ascii=False)
    written = await conn.fetchval(
        sql.SERVICE_WRITE_ACTIVITY,
        -1,  # $1 delta
        0,  # $2 held delta
        1,  # $3 events
        now,
        card,
        row["version"],  # $6 the version read: written only if the card is still at it
        row["state"],  # $7 state after
        False,  # $8 state changed
        [lot_id for lot_id, _ in movements],  # $9, $10: the lots moved, by how much
        [moved for _, moved in movements],
        "[]",  # $11 no new lot
        activity["id"],
        "redeem",
        1,
        row["currency"],
        balance_after,
        None,  # $17 reason
        None,  # $18 reference
        None,  # $19 metadata
        "api",
        None,
        None,
        KEY_ID,
        None,
        None,
        None,
        json.dumps([list(m) for m in movements]),
        json.dumps(
            [
                {"account_id": card, "amount": -1},
                {"account_id": f"sys_redeemed_{row['currency']}", "amount": 1},
            ]
        ),
        json.dumps([event]),
        KEY_ID,  # $30.. the idempotency key and its response, written along
        idem,
        request_hash,
        201,
        sealed(body),  # the service seals the response it keeps (the answer may carry a code)
        True,
        now,
    )
    if written != 1:
        # The service would take the locked way now; the benchmark's spread cards rarely move.
        raise ValueError("the card moved between the read and the write")


_SEAL = AESGCM(AESGCM.generate_key(bit_length=256))


def sealed(plain: str) -> str:
    """As ``omnigift.sealing.Sealer.seal``: AES-GCM, the nonce in front, URL-safe base64."""
    nonce = os.urandom(12)
    return base64.urlsafe_b64encode(nonce + _SEAL.encrypt(nonce, plain.encode(), b"r")).decode()


async def redeem_minimal(conn: asyncpg.Connection, card: str, activity_id: str) -> None:
    async with conn.transaction():
        balance = await conn.fetchval(sql.MINIMAL_DEBIT, card, 1)
        if balance is None:
            raise ValueError("insufficient funds")
        await conn.execute(sql.MINIMAL_POSTING, activity_id, card, -1)


CTE = sql.one_statement_redeem("$1::varchar", "$2::varchar", "key_bench_driver_cte")


async def redeem_cte(conn: asyncpg.Connection, card: str, idem: str) -> None:
    status = await conn.execute(CTE, card, idem)
    if status != "INSERT 0 1":
        raise ValueError(f"the redeem wrote nothing ({status})")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    cards: list[str] = args.cards
    pool_size = min(args.clients, args.max_connections)
    pool = await asyncpg.create_pool(args.dsn, min_size=pool_size, max_size=pool_size)
    issue_activity: dict[str, str] = {}
    if args.variant == "minimal":
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT account_id, min(id) AS id FROM activities "
                "WHERE account_id = ANY($1::varchar[]) GROUP BY account_id",
                cards,
            )
        issue_activity = {r["account_id"]: r["id"] for r in rows}
    prefix = uuid.uuid4().hex[:12]
    latencies: list[int] = []
    errors: dict[str, int] = {}
    ok = 0
    rng = random.Random()

    async def worker(w: int, deadline: float) -> None:
        nonlocal ok
        n = 0
        while time.perf_counter() < deadline:
            n += 1
            card = cards[rng.randrange(len(cards))]
            started = time.perf_counter_ns()
            try:
                async with pool.acquire() as conn:
                    if args.variant == "full":
                        await redeem_full(conn, card, f"{prefix}-{w}-{n}")
                    elif args.variant == "minimal":
                        await redeem_minimal(conn, card, issue_activity[card])
                    else:
                        await redeem_cte(conn, card, f"cte-{prefix}-{w}-{n}")
            except Exception as exc:  # counted, never hidden
                name = type(exc).__name__
                errors[name] = errors.get(name, 0) + 1
                continue
            latencies.append((time.perf_counter_ns() - started) // 1000)
            ok += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(i, started + args.duration) for i in range(args.clients)))
    elapsed = time.perf_counter() - started
    await pool.close()
    latencies.sort()

    def pct(p: float) -> float | None:
        return (
            latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] / 1000
            if latencies
            else None
        )

    return {
        "variant": args.variant,
        "clients": args.clients,
        "connections": pool_size,
        "duration_s": round(elapsed, 3),
        "ok": ok,
        "errors": errors,
        "rps": round(ok / elapsed, 1),
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "max_ms": latencies[-1] / 1000 if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--cards-file", required=True)
    parser.add_argument("--variant", choices=["full", "minimal", "cte"], default="full")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--max-connections",
        type=int,
        default=30,
        help="pool ceiling; 30 = the service's pool_size (no overflow)",
    )
    args = parser.parse_args()
    args.cards = [ln.strip() for ln in Path(args.cards_file).read_text().splitlines() if ln.strip()]
    try:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    except ImportError:
        pass
    result = asyncio.run(run(args))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["client_cpu_s"] = round(usage.ru_utime + usage.ru_stime, 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
