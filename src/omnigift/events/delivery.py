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
from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from standardwebhooks.webhooks import Webhook

from omnigift.clock import utcnow
from omnigift.db.engine import Database
from omnigift.db.tables import deliveries, delivery_attempts, events, webhook_endpoints
from omnigift.events.addresses import UnsafeURL, resolve
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


async def claim(db: Database, policy: DeliveryPolicy, now: datetime) -> list[dict[str, Any]]:
    """Take a lease on up to ``concurrency`` due deliveries, each the next of its card."""
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
            d.c.next_attempt_at <= now,
            or_(d.c.claimed_until.is_(None), d.c.claimed_until < now),
            webhook_endpoints.c.enabled.is_(True),
            ~waits_on_earlier,
        )
        .order_by(d.c.position)
        .limit(policy.concurrency)
    )
    async with db.transaction() as conn:
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(of=d, skip_locked=True)
        ids = list((await conn.execute(query)).scalars())
        if not ids:
            return []
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(ids))
            .values(claimed_until=now + timedelta(seconds=policy.lease))
        )
        rows = await conn.execute(
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
            .where(deliveries.c.id.in_(ids))
            .order_by(deliveries.c.position)
        )
        return [dict(row._mapping) for row in rows]


def signed_request(
    job: dict[str, Any], policy: DeliveryPolicy, now: datetime
) -> tuple[str, dict[str, str]]:
    """The body and the Standard Webhooks headers for one delivery."""
    body = json.dumps(
        event_view(
            {
                "id": job["event_id"],
                "type": job["type"],
                "created_at": job["event_created_at"],
                "sequence": job["sequence"],
                "data": job["data"],
            }
        ),
        separators=(",", ":"),
        ensure_ascii=False,
    )
    signatures = [
        Webhook(secret).sign(job["event_id"], now, body)
        for secret in signing_secrets(job, policy.sealer, now)
    ]
    headers = {
        "content-type": "application/json",
        "webhook-id": job["event_id"],
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
        "user-agent": "Omnigift-Webhooks/1",
    }
    return body, headers


async def send(
    client: httpx.AsyncClient, job: dict[str, Any], policy: DeliveryPolicy
) -> tuple[int | None, str | None, float | None]:
    """POST one delivery to the address that was checked; (status, error, retry-after seconds)."""
    now = utcnow()
    body, headers = signed_request(job, policy, now)
    try:
        address = await resolve(job["url"], allow_private=policy.allow_private)
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
            content=body.encode(),
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


async def deliver(
    db: Database, client: httpx.AsyncClient, job: dict[str, Any], policy: DeliveryPolicy
) -> bool:
    """Send one claimed delivery and record the attempt; True when it succeeded."""
    started = time.perf_counter()
    status, error, retry_after = await send(client, job, policy)
    duration_ms = int((time.perf_counter() - started) * 1000)
    now = utcnow()
    ok = status is not None and 200 <= status < 300
    attempts = job["attempts"] + 1
    next_at: datetime | None = None
    if ok:
        values: dict[str, Any] = {"state": "succeeded", "delivered_at": now}
    elif attempts > len(policy.retry_delays) or status == 410:
        values = {"state": "failed"}
    else:
        delay = policy.retry_delays[attempts - 1] * random.uniform(0.9, 1.1)  # noqa: S311 - jitter
        delay = max(delay, retry_after or 0.0)
        next_at = now + timedelta(seconds=delay)
        values = {"next_attempt_at": next_at}
    async with db.transaction() as conn:
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id == job["id"])
            .values(
                attempts=attempts,
                claimed_until=None,
                last_status_code=status,
                last_error=error,
                updated_at=now,
                **values,
            )
        )
        await conn.execute(
            delivery_attempts.insert().values(
                delivery_id=job["id"],
                attempted_at=now,
                status_code=status,
                duration_ms=duration_ms,
                error=error,
                next_retry_at=next_at,
            )
        )
        await _endpoint_health(conn, job, policy, now, ok=ok, gone=status == 410)
    if not ok:
        log.info(
            "webhook delivery failed",
            delivery_id=job["id"],
            status=status,
            error=error,
            attempts=attempts,
            dead=values.get("state") == "failed",
        )
    return ok


async def _endpoint_health(
    conn: AsyncConnection,
    job: dict[str, Any],
    policy: DeliveryPolicy,
    now: datetime,
    *,
    ok: bool,
    gone: bool,
) -> None:
    """Clear the failure clock on success; disable an endpoint failing too long (or gone)."""
    endpoint = webhook_endpoints.c
    if ok:
        if job["failing_since"] is not None:
            await conn.execute(
                update(webhook_endpoints)
                .where(endpoint.id == job["endpoint_id"])
                .values(failing_since=None)
            )
        return
    since = job["failing_since"]
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


async def deliver_due(db: Database, client: httpx.AsyncClient, policy: DeliveryPolicy) -> int:
    """Claim and send one round of due deliveries; how many were sent."""
    jobs = await claim(db, policy, utcnow())
    if jobs:
        await asyncio.gather(*(deliver(db, client, job, policy) for job in jobs))
    return len(jobs)
