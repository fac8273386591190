"""Webhook delivery: at least once, signed (Standard Webhooks), in order per card, with retries.

A worker claims due deliveries for a short lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite
has one writer), sends them, and records each attempt. A worker killed mid-delivery simply lets
its lease run out and another claims the delivery again. A delivery waits while an earlier event
of the same card is still pending for the same endpoint; different cards never wait on each other.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from standardwebhooks.webhooks import Webhook

from omnigift.clock import utcnow
from omnigift.db import leases
from omnigift.db.engine import Database
from omnigift.db.tables import deliveries, delivery_attempts, events, webhook_endpoints
from omnigift.events.addresses import Resolver, UnsafeURL
from omnigift.events.catalogue import EventType
from omnigift.events.endpoints import signing_secrets
from omnigift.events.outbox import PendingEvent, record
from omnigift.events.views import event_view
from omnigift.sealing import Sealer

log = structlog.get_logger("omnigift.webhooks")


@dataclass(frozen=True)
class DeliveryPolicy:
    sealer: Sealer
    retry_delays: list[float]
    timeout: float = 10.0
    lease: float = 30.0
    disable_after: timedelta = timedelta(hours=72)
    allow_private: bool = False
    concurrency: int = 32


def _due_deliveries() -> leases.Due:
    """Due deliveries, each the next of its card for its endpoint (bound: now, limit)."""
    d, earlier = deliveries.alias("d"), deliveries.alias("earlier")
    waits_on_earlier = exists().where(
        earlier.c.endpoint_id == d.c.endpoint_id,
        earlier.c.account_id == d.c.account_id,
        earlier.c.state == "pending",
        earlier.c.position < d.c.position,
    )
    query = (
        select(d.c.id)
        .join(webhook_endpoints, webhook_endpoints.c.id == d.c.endpoint_id)
        .where(
            d.c.state == "pending",
            d.c.next_attempt_at <= bindparam("b_now"),
            or_(d.c.claimed_until.is_(None), d.c.claimed_until < bindparam("b_now")),
            webhook_endpoints.c.enabled.is_(True),
            ~waits_on_earlier,
        )
        .order_by(d.c.position)
        .limit(bindparam("b_limit"))
    )
    return leases.Due(query, deliveries, locked=d)


_DUE = _due_deliveries()
_CLAIMED = (
    select(
        deliveries,
        events.c.type,
        events.c.created_at.label("event_created_at"),
        events.c.sequence,
        events.c.data,
        webhook_endpoints.c.url,
        webhook_endpoints.c.secret_sealed,
        webhook_endpoints.c.previous_secret_sealed,
        webhook_endpoints.c.previous_secret_expires_at,
        webhook_endpoints.c.failing_since,
    )
    .join(events, events.c.id == deliveries.c.event_id)
    .join(webhook_endpoints, webhook_endpoints.c.id == deliveries.c.endpoint_id)
    .where(deliveries.c.id.in_(bindparam("b_leased", expanding=True)))
    .order_by(deliveries.c.position)
)


async def claim(db: Database, policy: DeliveryPolicy, now: datetime) -> list[dict[str, Any]]:
    """Take a lease on up to ``concurrency`` due deliveries, each the next of its card."""
    params = {"b_now": now, "b_limit": policy.concurrency}
    leased = await leases.lease(db, _DUE, now, policy.lease, params)
    if not leased:
        return []
    async with db.read() as conn:
        rows = await conn.execute(_CLAIMED, {"b_leased": [r.id for r in leased]})
        return [dict(row._mapping) for row in rows]


class Batch:
    """What one claimed batch computes once: each event's body, each endpoint's signers."""

    def __init__(self, policy: DeliveryPolicy, now: datetime) -> None:
        self.policy, self.now = policy, now
        self._bodies: dict[str, bytes] = {}
        self._signers: dict[tuple[Any, ...], list[Webhook]] = {}

    def body(self, job: dict[str, Any]) -> bytes:
        """The Event object as JSON, serialized once per event however many endpoints get it."""
        body = self._bodies.get(job["event_id"])
        if body is None:
            body = event_body(job)
            self._bodies[job["event_id"]] = body
        return body

    def signers(self, job: dict[str, Any]) -> list[Webhook]:
        """The endpoint's signing secrets, unsealed once per endpoint per batch."""
        key = (
            job["endpoint_id"],
            job["secret_sealed"],
            job["previous_secret_sealed"],
            job["previous_secret_expires_at"],
        )
        found = self._signers.get(key)
        if found is None:
            secrets = signing_secrets(job, self.policy.sealer, self.now)
            found = self._signers[key] = [Webhook(secret) for secret in secrets]
        return found


def event_body(job: dict[str, Any]) -> bytes:
    """The body of a delivery: the Event object, compact JSON."""
    view = event_view(
        {
            "id": job["event_id"],
            "type": job["type"],
            "created_at": job["event_created_at"],
            "sequence": job["sequence"],
            "data": job["data"],
        }
    )
    return json.dumps(view, separators=(",", ":"), ensure_ascii=False).encode()


def signed_request(
    job: dict[str, Any], policy: DeliveryPolicy, now: datetime, batch: Batch | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and the Standard Webhooks headers for one delivery."""
    batch = batch or Batch(policy, now)
    body = batch.body(job)
    text = body.decode()
    signatures = [signer.sign(job["event_id"], now, text) for signer in batch.signers(job)]
    headers = {
        "content-type": "application/json",
        "webhook-id": job["event_id"],
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
        "user-agent": "Omnigift-Webhooks/1",
    }
    return body, headers


# Deliveries look a host up at most every few seconds; every delivery still checks the addresses
# it connects to (see ``Resolver``).
ADDRESSES = Resolver(ttl=5.0)


async def send(
    client: httpx.AsyncClient,
    job: dict[str, Any],
    policy: DeliveryPolicy,
    batch: Batch | None = None,
) -> tuple[int | None, str | None, float | None]:
    """POST one delivery to the address that was checked; (status, error, retry-after seconds)."""
    now = utcnow()
    body, headers = signed_request(job, policy, now, batch)
    try:
        address = await ADDRESSES.resolve(job["url"], allow_private=policy.allow_private)
    except UnsafeURL as exc:
        return None, str(exc), None
    parts = urlsplit(job["url"])
    host = f"[{address}]" if ":" in address else address
    netloc = f"{host}:{parts.port}" if parts.port else host
    target = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    headers["host"] = parts.netloc
    try:
        response = await client.post(
            target,
            content=body,
            headers=headers,
            timeout=policy.timeout,
            extensions={"sni_hostname": parts.hostname},
        )
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500], None
    retry_after = _retry_after(response.headers.get("retry-after"), now)
    error = None if response.is_success else f"HTTP {response.status_code}"
    return response.status_code, error, retry_after


def _retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Outcome:
    """One attempt's result, to be recorded with the rest of its batch."""

    job: dict[str, Any]
    status: int | None
    error: str | None
    retry_after: float | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


async def attempt(
    client: httpx.AsyncClient, job: dict[str, Any], policy: DeliveryPolicy, batch: Batch
) -> Outcome:
    """Send one claimed delivery, within ``policy.timeout`` in all (so well inside its lease)."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(policy.timeout):
            status, error, retry_after = await send(client, job, policy, batch)
    except TimeoutError:
        status, error, retry_after = None, f"no answer within {policy.timeout:g} s", None
    duration_ms = int((time.perf_counter() - started) * 1000)
    return Outcome(job, status, error, retry_after, duration_ms)


_UPDATE_DELIVERY = (
    update(deliveries)
    .where(deliveries.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        attempts=bindparam("b_attempts"),
        next_attempt_at=bindparam("b_next_attempt_at"),
        claimed_until=None,
        last_status_code=bindparam("b_status"),
        last_error=bindparam("b_error"),
        delivered_at=bindparam("b_delivered_at"),
        updated_at=bindparam("b_now"),
    )
)
_INSERT_ATTEMPT = delivery_attempts.insert()


async def record_outcomes(db: Database, policy: DeliveryPolicy, outcomes: list[Outcome]) -> None:
    """Record a batch's attempts in one transaction: each delivery, its attempt, endpoint health."""
    if not outcomes:
        return
    now = utcnow()
    updates, attempts_rows = [], []
    for outcome in outcomes:
        job, status = outcome.job, outcome.status
        attempts = job["attempts"] + 1
        state, next_at, delivered_at = "pending", job["next_attempt_at"], None
        retry_at: datetime | None = None
        if outcome.ok:
            state, delivered_at = "succeeded", now
        elif attempts > len(policy.retry_delays) or status == 410:
            state = "failed"
        else:
            delay = policy.retry_delays[attempts - 1] * random.uniform(0.9, 1.1)  # noqa: S311
            delay = max(delay, outcome.retry_after or 0.0)
            next_at = retry_at = now + timedelta(seconds=delay)
        updates.append(
            {
                "b_id": job["id"],
                "b_state": state,
                "b_attempts": attempts,
                "b_next_attempt_at": next_at,
                "b_status": status,
                "b_error": outcome.error,
                "b_delivered_at": delivered_at,
                "b_now": now,
            }
        )
        attempts_rows.append(
            {
                "delivery_id": job["id"],
                "attempted_at": now,
                "status_code": status,
                "duration_ms": outcome.duration_ms,
                "error": outcome.error,
                "next_retry_at": retry_at,
            }
        )
        if not outcome.ok:
            log.info(
                "webhook delivery failed",
                delivery_id=job["id"],
                status=status,
                error=outcome.error,
                attempts=attempts,
                dead=state == "failed",
            )
    async with db.transaction() as conn:
        await conn.execute(_UPDATE_DELIVERY, updates)
        await conn.execute(_INSERT_ATTEMPT, attempts_rows)
        by_endpoint: dict[str, list[Outcome]] = {}
        for outcome in outcomes:
            by_endpoint.setdefault(outcome.job["endpoint_id"], []).append(outcome)
        for endpoint_outcomes in by_endpoint.values():
            await _endpoint_health(conn, endpoint_outcomes, policy, now)


async def _endpoint_health(
    conn: AsyncConnection, outcomes: list[Outcome], policy: DeliveryPolicy, now: datetime
) -> None:
    """Clear the failure clock on success; disable an endpoint failing too long (or gone).

    One batch's attempts to an endpoint count together: any success means it is not failing
    continuously; a 410 Gone disables it whatever the others answered.
    """
    endpoint = webhook_endpoints.c
    job = outcomes[0].job
    ok = any(outcome.ok for outcome in outcomes)
    gone = any(outcome.status == 410 for outcome in outcomes)
    since = job["failing_since"]
    if ok and not gone:
        if since is not None:
            await conn.execute(
                update(webhook_endpoints)
                .where(endpoint.id == job["endpoint_id"])
                .values(failing_since=None)
            )
        return
    if since is None and not gone:
        await conn.execute(
            update(webhook_endpoints)
            .where(and_(endpoint.id == job["endpoint_id"], endpoint.failing_since.is_(None)))
            .values(failing_since=now)
        )
        return
    if gone or (since is not None and now - since >= policy.disable_after):
        reason = (
            "the receiver answered 410 Gone"
            if gone
            else (f"every delivery failed for {policy.disable_after}")
        )
        result = await conn.execute(
            update(webhook_endpoints)
            .where(endpoint.id == job["endpoint_id"], endpoint.enabled.is_(True))
            .values(enabled=False, disabled_reason=reason, updated_at=now)
        )
        if result.rowcount:
            data = {"webhook_endpoint_id": job["endpoint_id"], "reason": reason}
            await record(conn, [PendingEvent(EventType.WEBHOOK_ENDPOINT_DISABLED, data)], now)


async def deliver(
    db: Database, client: httpx.AsyncClient, job: dict[str, Any], policy: DeliveryPolicy
) -> bool:
    """Send one claimed delivery and record the attempt; True when it succeeded."""
    outcome = await attempt(client, job, policy, Batch(policy, utcnow()))
    await record_outcomes(db, policy, [outcome])
    return outcome.ok


async def deliver_due(db: Database, client: httpx.AsyncClient, policy: DeliveryPolicy) -> int:
    """Claim one round of due deliveries, send them at once, record them together; how many."""
    now = utcnow()
    jobs = await claim(db, policy, now)
    if jobs:
        batch = Batch(policy, now)
        outcomes = await asyncio.gather(*(attempt(client, job, policy, batch) for job in jobs))
        await record_outcomes(db, policy, list(outcomes))
    return len(jobs)
