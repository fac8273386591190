"""The background worker, in three loops:

- dispatch: gives new events their stream position and queues their webhook deliveries;
- deliver: sends due webhook deliveries, signed, with retries;
- maintain: expiry of cards, lots and holds, and forgetting old idempotency keys;
- sync: the connectors' work (``omnigift.sync.runner``): fan-out of card changes to mirrors,
  pushes, inbound platform notifications, polling, runs and scheduled reconciliation.

It runs inside ``omnigift serve`` by default, or alone with ``omnigift worker``. Several workers
may run at once: deliveries are leased, the dispatcher serializes on its counter, and expiry
re-checks every item under its card's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import structlog

from omnigift.api.idempotency import purge_expired
from omnigift.clock import utcnow
from omnigift.events.delivery import deliver_due
from omnigift.events.dispatch import dispatch
from omnigift.events.transport import delivery_client
from omnigift.ledger.expiry import run_expiry
from omnigift.mail.reminders import queue_reminders
from omnigift.mail.sending import MailSettings, send_due
from omnigift.metrics import EXPIRED
from omnigift.runtime import Runtime
from omnigift.sync.mirrors import fan_out
from omnigift.sync.runner import SyncRunner

log = structlog.get_logger("omnigift.worker")


async def maintain(runtime: Runtime) -> int:
    """One pass of the periodic jobs."""
    now = utcnow()
    report = await run_expiry(runtime.db, now)
    for what, count in (("cards", report.cards), ("lots", report.lots), ("holds", report.holds)):
        if count:
            EXPIRED.labels(what=what).inc(count)
            log.info("expired", what=what, count=count)
    retention = timedelta(hours=runtime.settings.idempotency_retention_hours)
    await purge_expired(runtime.db, now, retention)
    return 0


async def _loop(
    name: str,
    step: Callable[[], Awaitable[int]],
    interval: float,
    stop: asyncio.Event,
    wake: asyncio.Event | None = None,
) -> None:
    """Run ``step`` again at once while it finds work, else after ``interval`` (or as soon as
    ``wake`` is set), until stopped."""
    while not stop.is_set():
        try:
            busy = await step()
        except Exception:
            log.exception("worker step failed; retrying", loop=name)
            busy = 0
        if not busy:
            await _pause(interval, stop, wake)


async def _pause(interval: float, stop: asyncio.Event, wake: asyncio.Event | None) -> None:
    if wake is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
        return
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    _, pending = await asyncio.wait(waits, timeout=interval, return_when=asyncio.FIRST_COMPLETED)
    for waiting in pending:
        waiting.cancel()
    wake.clear()


async def run_forever(runtime: Runtime, stop: asyncio.Event) -> None:
    """Run every loop until ``stop`` is set; a delivery in flight is finished, not cut off."""
    settings = runtime.settings
    fast = settings.dispatch_interval_seconds
    sync_every = settings.sync_interval_seconds
    timeout = httpx.Timeout(settings.connector_timeout_seconds)
    # Every delivery of a batch may be in flight at once: keep that many connections alive, so a
    # busy endpoint is not reconnected to for each batch.
    async with (
        delivery_client(max_idle=max(20, runtime.delivery.concurrency)) as client,
        httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=timeout) as platforms,
    ):
        dispatched = asyncio.Event()  # new deliveries may be due: the deliverer need not wait
        positioned = asyncio.Event()  # new events in the log: the connectors' fan-out may run
        wanted = asyncio.Event()  # mirrors were marked: the pushes may run

        async def dispatch_step() -> int:
            count = await dispatch(runtime.db, utcnow())
            if count:
                dispatched.set()
                positioned.set()
            return count

        async def fan_out_step() -> int:
            count = await fan_out(runtime.db, utcnow())
            if count:
                wanted.set()
            return count

        mail = MailSettings.from_settings(settings)
        sync = SyncRunner(runtime.db, runtime.policy, runtime.sync, platforms)
        sync.pushed = wanted  # a push that ends frees a slot: claim the next at once
        await asyncio.gather(
            _loop("dispatch", dispatch_step, fast, stop),
            _loop(
                "deliver",
                lambda: deliver_due(runtime.db, client, runtime.delivery),
                # New deliveries wake it; idle, it only looks for retries coming due.
                fast * 5,
                stop,
                wake=dispatched,
            ),
            _loop("maintain", lambda: maintain(runtime), settings.worker_interval_seconds, stop),
            # Woken by the step before them; the interval is only the idle backstop (retries
            # coming due, events positioned by another worker).
            _loop("sync-fan-out", fan_out_step, sync_every, stop, wake=positioned),
            _loop("sync-push", sync.push_due, sync_every, stop, wake=wanted),
            _loop("sync-inbound", sync.inbound_due, sync_every, stop, wake=runtime.inbound_arrived),
            _loop("sync-poll", sync.poll_due, 1.0, stop),
            _loop("sync-runs", sync.runs_due, 1.0, stop),
            _loop("sync-reconcile", sync.reconcile_due, 30.0, stop),
            _loop(
                "reminders",
                lambda: queue_reminders(
                    runtime.db,
                    utcnow(),
                    expiry_days=settings.email_expiry_reminder_days,
                    balance_days=settings.email_balance_reminder_days,
                ),
                settings.email_reminder_interval_seconds,
                stop,
            ),
            _loop(
                "email",
                lambda: send_due(runtime.db, runtime.policy.vault, mail, utcnow()),
                settings.email_interval_seconds,
                stop,
            ),
        )
        await sync.drain()
