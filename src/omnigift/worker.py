"""The background worker: expiry of cards, lots and holds, and forgetting old idempotency keys.

It runs inside ``omnigift serve`` by default, or alone with ``omnigift worker``. Every job is safe
to run on several workers at once: each item is re-checked under its card's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

import structlog

from omnigift.api.idempotency import purge_expired
from omnigift.clock import utcnow
from omnigift.ledger.expiry import run_expiry
from omnigift.metrics import EXPIRED
from omnigift.runtime import Runtime

log = structlog.get_logger("omnigift.worker")


async def run_once(runtime: Runtime) -> None:
    """One pass of every job."""
    now = utcnow()
    report = await run_expiry(runtime.db, now)
    for what, count in (("cards", report.cards), ("lots", report.lots), ("holds", report.holds)):
        if count:
            EXPIRED.labels(what=what).inc(count)
            log.info("expired", what=what, count=count)
    retention = timedelta(hours=runtime.settings.idempotency_retention_hours)
    await purge_expired(runtime.db, now, retention)


async def run_forever(runtime: Runtime, stop: asyncio.Event) -> None:
    """Run the jobs every ``worker_interval_seconds`` until ``stop`` is set."""
    while not stop.is_set():
        try:
            await run_once(runtime)
        except Exception:
            log.exception("worker pass failed; retrying next interval")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=runtime.settings.worker_interval_seconds)
