"""The connectors' share of the background worker: fan-out, pushes, inbound notifications,
polling, scheduled reconciliation and staff-started runs.

Every platform failure is retried with back-off and jitter (honouring the platform's own
``Retry-After``); the queues hold meanwhile, and health shows it.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import select, update

from omnigift.clock import utcnow
from omnigift.connectors.base import (
    AuthenticationFailed,
    PlatformRejected,
    PlatformUnavailable,
    UnrecordedSpend,
)
from omnigift.connectors.registry import PLATFORMS
from omnigift.db.engine import Database
from omnigift.db.tables import integrations
from omnigift.events.catalogue import EventType
from omnigift.events.outbox import PendingEvent, record
from omnigift.ledger.errors import NotFound
from omnigift.ledger.policy import LedgerPolicy
from omnigift.ledger.records import find_card
from omnigift.sealing import Sealer
from omnigift.sync import history, inbound, mirrors, reconciliation, runs
from omnigift.sync.connections import ConnectorPool, Live
from omnigift.sync.exceptions import ExceptionKind, raise_exception
from omnigift.sync.health import HealthTracker
from omnigift.sync.ingest import LedgerSink, MirrorNotReady
from omnigift.sync.integrations import store_credentials
from omnigift.sync.runs import RunKind

log = structlog.get_logger("omnigift.sync")

# Codes a platform gives when it can never take a card's code as it is.
CODE_REFUSALS = frozenset({"TOO_SHORT", "TOO_LONG", "TAKEN", "INVALID_CODE", "code"})
# A mirror that holds what no order explains is re-based on the platform (and the ledger's
# balance written) only after this many tries AND a complete read of the platform's orders that
# started after the difference was first seen: until then the difference may be a real spend.
REBASE_AFTER_ATTEMPTS = 3
REFRESH_GAP = 5.0  # seconds: refusals right after a refresh retry with the new credentials


@dataclass(frozen=True)
class SyncPolicy:
    sealer: Sealer
    concurrency: int = 16
    lease: float = 60.0
    max_backoff: float = 300.0
    failing_after: timedelta = timedelta(seconds=60)


def backoff(attempts: int, retry_after: float | None, ceiling: float) -> float:
    """Exponential with full jitter, never sooner than the platform asked."""
    delay = min(ceiling, 0.5 * 2 ** min(attempts, 20)) * random.uniform(0.5, 1.0)  # noqa: S311
    return float(max(delay, retry_after or 0.0))


@dataclass
class SyncRunner:
    db: Database
    ledger: LedgerPolicy
    policy: SyncPolicy
    http: httpx.AsyncClient
    pool: ConnectorPool = field(init=False)
    health: HealthTracker = field(init=False)
    _polled: dict[str, float] = field(default_factory=dict)
    _poll_soon: set[str] = field(default_factory=set)
    _polled_ok: dict[str, float] = field(default_factory=dict)  # start of the last good poll
    _unexplained: dict[str, float] = field(default_factory=dict)  # mirror id -> first seen
    _pushing: set[asyncio.Task[None]] = field(default_factory=set)
    _refreshing: dict[str, asyncio.Lock] = field(default_factory=dict)
    _refreshed: dict[str, float] = field(default_factory=dict)
    # Set when a push ends, so the push loop claims the next mirror at once.
    pushed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.pool = ConnectorPool(self.db, self.policy.sealer, self.http)
        self.health = HealthTracker(self.db, self.policy.failing_after)

    def sink(self, live: Live) -> LedgerSink:
        return LedgerSink(self.db, self.ledger, live.id, live.platform, live.settings)

    # --- pushes ---------------------------------------------------------------------------

    async def push_due(self) -> int:
        """Start pushes for due mirrors, up to ``concurrency`` in flight; each runs on its own,
        so one slow platform call never holds the others back. How many it started."""
        free = self.policy.concurrency - len(self._pushing)
        if free <= 0:
            return 0  # woken again by ``pushed`` as soon as one ends
        claimed = await mirrors.claim_due(self.db, utcnow(), free, self.policy.lease)
        for mirror in claimed:
            task = asyncio.create_task(self.push_one(mirror))
            self._pushing.add(task)
            task.add_done_callback(self._pushed)
        return len(claimed)

    def _pushed(self, task: asyncio.Task[None]) -> None:
        self._pushing.discard(task)
        self.pushed.set()

    async def drain(self) -> None:
        """Let the pushes in flight finish (graceful shutdown)."""
        if self._pushing:
            await asyncio.gather(*self._pushing, return_exceptions=True)

    async def push_one(self, claimed: mirrors.Claimed) -> None:
        rebase = self._may_rebase(claimed)
        journal = mirrors.MirrorJournal(self.db, claimed.id)
        try:
            live = await self.pool.get(claimed.integration_id)
            async with self.db.read() as conn:
                card = await find_card(conn, claimed.account_id)
            if card is None:
                raise NotFound(f"no card {claimed.account_id}")
            target = mirrors.target_of(card, self.ledger.vault.unseal(card.code_sealed))
            if target is not None:
                await live.connector.push(target, claimed.state, journal, rebase=rebase)
        except Exception as exc:  # each kind of failure has its own handling below
            await self._push_failed(claimed, exc, journal.outcome())
            return
        now = utcnow()
        if rebase:
            await self._rebased(claimed, now)
        self._unexplained.pop(claimed.id, None)
        await mirrors.finish(self.db, claimed, now, journal.outcome())
        await self.health.success(claimed.integration_id, now)

    def _may_rebase(self, claimed: mirrors.Claimed) -> bool:
        seen = self._unexplained.get(claimed.id)
        polled = self._polled_ok.get(claimed.integration_id)
        return (
            seen is not None
            and polled is not None
            and polled > seen
            and claimed.attempts >= REBASE_AFTER_ATTEMPTS
        )

    async def _rebased(self, claimed: mirrors.Claimed, now: datetime) -> None:
        """Tell staff: the platform held what no order explained, and the ledger won."""
        async with self.db.transaction() as conn:
            await raise_exception(
                conn,
                now,
                kind=ExceptionKind.DRIFT,
                integration_id=claimed.integration_id,
                account_id=claimed.account_id,
                details={
                    "what": "the mirror held a balance no platform order explained, after "
                    "reading the platform's orders; the ledger's balance was written over it",
                    "attempts": claimed.attempts,
                },
            )

    async def _push_failed(
        self, claimed: mirrors.Claimed, exc: Exception, outcome: dict[str, Any]
    ) -> None:
        now = utcnow()
        ceiling = self.policy.max_backoff
        if isinstance(exc, PlatformRejected):
            await self._blocked(claimed, exc, now, outcome)
        elif isinstance(exc, UnrecordedSpend):
            # Catch up on the platform's orders first; the push runs again after that.
            self._unexplained.setdefault(claimed.id, time.monotonic())
            self._poll_soon.add(claimed.integration_id)
            await mirrors.retry_later(
                self.db,
                claimed,
                now,
                backoff(claimed.attempts, 1.0, 10.0),
                str(exc),
                "ok",
                outcome,
            )
        elif isinstance(exc, PlatformUnavailable):
            delay = backoff(claimed.attempts, exc.retry_after, ceiling)
            status = "ok" if exc.throttled else "failing"
            await mirrors.retry_later(self.db, claimed, now, delay, str(exc), status, outcome)
            await self.health.failure(
                claimed.integration_id, str(exc), now, throttled=exc.throttled
            )
        elif isinstance(exc, AuthenticationFailed):
            refreshed = await self._refresh(claimed.integration_id)
            delay = 0.2 if refreshed else backoff(claimed.attempts + 6, None, ceiling)
            await mirrors.retry_later(self.db, claimed, now, delay, str(exc), "failing", outcome)
            await self.health.failure(claimed.integration_id, str(exc), now)
        else:
            log.exception("push failed", mirror_id=claimed.id, exc_info=exc)
            delay = backoff(claimed.attempts + 2, None, ceiling)
            await mirrors.retry_later(self.db, claimed, now, delay, repr(exc), "failing", outcome)

    async def _blocked(
        self,
        claimed: mirrors.Claimed,
        exc: PlatformRejected,
        now: datetime,
        outcome: dict[str, Any],
    ) -> None:
        await mirrors.block(self.db, claimed, now, str(exc), outcome)
        kind = (
            ExceptionKind.CODE_INCOMPATIBLE
            if (exc.code or "") in CODE_REFUSALS
            else ExceptionKind.REJECTED
        )
        async with self.db.transaction() as conn:
            await raise_exception(
                conn,
                now,
                kind=kind,
                integration_id=claimed.integration_id,
                account_id=claimed.account_id,
                details={"error": str(exc), "platform_code": exc.code},
            )

    # --- inbound notifications -------------------------------------------------------------

    async def inbound_due(self) -> int:
        queued = await inbound.claim_due(
            self.db, utcnow(), self.policy.concurrency, self.policy.lease
        )
        await asyncio.gather(*(self.process_one(q) for q in queued))
        return len(queued)

    async def process_one(self, queued: inbound.Queued) -> None:
        try:
            live = await self.pool.get(queued.integration_id)
            await live.connector.process(queued.notification, self.sink(live))
        except NotFound:
            await inbound.done(self.db, queued, utcnow())  # the integration is gone
        except MirrorNotReady:
            delay = backoff(queued.attempts, 0.2, 5.0)
            await inbound.failed(self.db, queued, utcnow(), "mirror being created", delay)
        except PlatformUnavailable as exc:
            now = utcnow()
            delay = backoff(queued.attempts, exc.retry_after, self.policy.max_backoff)
            await inbound.failed(self.db, queued, now, str(exc), delay)
            await self.health.failure(queued.integration_id, str(exc), now, throttled=exc.throttled)
        except Exception as exc:
            log.exception("inbound notification failed", notification_id=queued.id)
            delay = backoff(queued.attempts + 2, None, self.policy.max_backoff)
            await inbound.failed(self.db, queued, utcnow(), repr(exc), delay)
        else:
            now = utcnow()
            await inbound.done(self.db, queued, now)
            await self.health.success(queued.integration_id, now)

    # --- polling: what notifications may have missed ----------------------------------------

    async def poll_due(self) -> int:
        """Poll each integration whose interval has passed (or that asked to be polled soon).
        Always 0: polling never makes the worker loop spin."""
        for integration_id in await self.pool.ids():
            live = await self.pool.get(integration_id, fresh=True)
            interval = float(live.settings.get("poll_interval_seconds", 30.0))
            # Never polled: poll now (the monotonic clock may have started less than an
            # interval ago).
            last = self._polled.get(integration_id)
            soon = integration_id in self._poll_soon
            if not soon and last is not None and time.monotonic() - last < interval:
                continue
            self._poll_soon.discard(integration_id)
            self._polled[integration_id] = time.monotonic()
            await self.poll_one(live)
        return 0

    async def poll_one(self, live: Live) -> int:
        now, started = utcnow(), time.monotonic()
        try:
            cursor = await live.connector.poll(dict(live.cursors.get("poll", {})), self.sink(live))
        except MirrorNotReady:
            self._poll_soon.add(live.id)  # the cursor stays: the order is read again shortly
            return 0
        except PlatformUnavailable as exc:
            await self.health.failure(live.id, str(exc), now, throttled=exc.throttled)
            return 0
        except AuthenticationFailed as exc:
            if await self._refresh(live.id):
                self._poll_soon.add(live.id)
            else:
                await self.health.failure(live.id, str(exc), now)
            return 0
        except Exception as exc:
            log.exception("poll failed", integration_id=live.id)
            await self.health.failure(live.id, repr(exc), now)
            return 0
        await self._save_cursor(live.id, "poll", cursor)
        self._polled_ok[live.id] = started
        await self.health.success(live.id, utcnow())
        return 1

    async def _refresh(self, integration_id: str) -> bool:
        """Refresh a platform's credentials after it refused them (once at a time per
        integration, and not again within a few seconds: concurrent refusals share one
        refresh). True when new credentials are stored."""
        lock = self._refreshing.setdefault(integration_id, asyncio.Lock())
        async with lock:
            if time.monotonic() - self._refreshed.get(integration_id, -1e9) < REFRESH_GAP:
                return True
            live = await self.pool.get(integration_id, fresh=True)
            try:
                fresh = await live.connector.refresh_credentials()
            except (PlatformUnavailable, AuthenticationFailed) as exc:
                log.warning("refresh failed", integration_id=integration_id, error=str(exc))
                return False
            if fresh is None:
                return False
            async with self.db.transaction() as conn:
                await store_credentials(conn, self.policy.sealer, integration_id, fresh, utcnow())
            self._refreshed[integration_id] = time.monotonic()
            log.info("credentials refreshed", integration_id=integration_id)
            return True

    async def _save_cursor(self, integration_id: str, key: str, value: Any) -> None:
        """Merge one cursor under the row's lock (polling and reconciliation keep their own)."""
        async with self.db.transaction() as conn:
            current = (
                await conn.execute(
                    select(integrations.c.cursors)
                    .where(integrations.c.id == integration_id)
                    .with_for_update()
                )
            ).scalar()
            if current is None:
                return
            await conn.execute(
                update(integrations)
                .where(integrations.c.id == integration_id)
                .values(cursors={**current, key: value})
            )

    # --- runs: import, export, reconcile, repair ---------------------------------------------

    async def runs_due(self) -> int:
        row = await runs.claim_run(self.db, utcnow(), self.policy.lease)
        if row is None:
            return 0
        try:
            live = await self.pool.get(row.integration_id, fresh=True)
            report = await self._execute(RunKind(row.kind), live, row.id)
        except Exception as exc:
            log.warning("integration run failed", run_id=row.id, error=repr(exc))
            await runs.finish_run(self.db, row.id, utcnow(), None, str(exc) or repr(exc))
        else:
            await runs.finish_run(self.db, row.id, utcnow(), report, None)
        return 1

    async def _execute(self, kind: RunKind, live: Live, run_id: str) -> dict[str, Any]:
        async def progress(done: int) -> None:
            await runs.progress(self.db, run_id, done, None, utcnow(), self.policy.lease)

        if kind is RunKind.IMPORT:
            return await history.import_cards(
                live.connector, self.sink(live), self.ledger, progress
            )
        if kind is RunKind.EXPORT:
            platform = PLATFORMS[live.platform]
            return await history.export_cards(self.db, self.ledger, platform, live.id, progress)
        if kind is RunKind.REPAIR:
            await self.poll_one(live)  # take in unrecorded spends before anything is re-based
        comparison = await reconciliation.compare(self.db, live.connector, live.id, self.ledger)
        report = comparison.report()
        if kind is RunKind.REPAIR:
            report["queued"] = await reconciliation.repair(self.db, live.id, comparison, utcnow())
        if comparison.drift:
            async with self.db.transaction() as conn:
                await record(
                    conn,
                    [
                        PendingEvent(
                            EventType.INTEGRATION_DRIFT_FOUND,
                            {
                                "integration_id": live.id,
                                "run_id": run_id,
                                "drift_count": len(comparison.drift),
                                "drift": report["drift"][:20],
                                "repaired": kind is RunKind.REPAIR,
                            },
                        )
                    ],
                    utcnow(),
                )
        return report

    async def reconcile_due(self) -> int:
        """Start the scheduled reconciliation (with repair) of each integration that is due."""
        now = utcnow()
        for integration_id in await self.pool.ids():
            live = await self.pool.get(integration_id, fresh=True)
            every = timedelta(minutes=float(live.settings.get("reconcile_interval_minutes", 60)))
            last = _parse(live.cursors.get("reconciled_at"))
            if last is not None and now - last < every:
                continue
            if last is not None:  # the first one waits a full interval after creation
                async with self.db.transaction() as conn:
                    await runs.start_run(conn, integration_id, RunKind.REPAIR, now)
            await self._save_cursor(integration_id, "reconciled_at", now.isoformat())
        return 0


def _parse(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
