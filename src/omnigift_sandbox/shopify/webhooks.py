"""Outgoing webhooks (integrations.md 1.5): signed like Shopify, retried with the original bytes,
and on request duplicated, reordered or sent with a wrong signature."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from .state import Store

TOPICS = frozenset(
    {
        "orders/create",
        "orders/paid",
        "orders/updated",
        "orders/cancelled",
        "orders/fulfilled",
        "refunds/create",
        "fulfillments/create",
        "gift_cards/create",
        "gift_cards/update",
    }
)


def sign(secret: str, body: bytes) -> str:
    """base64(HMAC-SHA256(client secret, exact body bytes)) [C]."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


@dataclass
class Behaviour:
    """Delivery misbehaviours switched on through the control plane."""

    duplicate: bool = False
    reorder: bool = False
    bad_signature: bool = False


@dataclass
class Delivery:
    """One event for one subscription; retries reuse its bytes and headers."""

    address: str
    topic: str
    body: bytes
    api_version: str
    webhook_id: str
    event_id: str
    triggered_at: str
    attempts: int = 0


@dataclass
class Counters:
    sent: int = 0  # deliveries answered 2xx
    failed: int = 0  # attempts answered non-2xx or not answered in time
    retried: int = 0  # attempts after the first
    given_up: int = 0  # deliveries dropped after the last retry
    bad_signature_sent: int = 0


@dataclass
class WebhookSender:
    """Queues deliveries from route handlers and sends them from one background task."""

    store: Store
    behaviour: Behaviour = field(default_factory=Behaviour)
    counters: Counters = field(default_factory=Counters)
    log: list[dict[str, Any]] = field(default_factory=list)
    _queue: asyncio.Queue[Delivery] = field(default_factory=asyncio.Queue)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _client: httpx.AsyncClient | None = None
    _worker: asyncio.Task[None] | None = None

    def emit(self, topic: str, payload: dict[str, Any]) -> None:
        """Queue ``payload`` for every subscription to ``topic``; never blocks the caller."""
        subs = [s for s in self.store.subscriptions.values() if s.topic == topic]
        if not subs:
            return
        body = json.dumps(payload, separators=(",", ":")).encode()
        event_id = self.store.new_uuid()
        moment = datetime.now(UTC) + timedelta(seconds=self.store.clock.offset)
        triggered_at = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        for sub in subs:
            # The address is fixed at trigger time, as Shopify does [C].
            self._queue.put_nowait(
                Delivery(
                    address=sub.address,
                    topic=topic,
                    body=body,
                    api_version=sub.api_version,
                    webhook_id=self.store.new_uuid(),
                    event_id=event_id,
                    triggered_at=triggered_at,
                )
            )

    async def start(self) -> None:
        """Start the background sender (called from the app's lifespan)."""
        timeout = httpx.Timeout(self.store.config.webhook_timeout, connect=1.0)
        self._client = httpx.AsyncClient(timeout=timeout)
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop sending; pending retries are dropped."""
        for task in [self._worker, *self._tasks]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._client is not None:
            await self._client.aclose()

    def pending(self) -> int:
        """Deliveries queued or waiting for a retry."""
        return self._queue.qsize() + len(self._tasks)

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            if self.behaviour.reorder:
                # Hold a window of deliveries, then send them newest-first.
                await asyncio.sleep(self.store.config.webhook_reorder_window)
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                batch.reverse()
            for delivery in batch:
                await self._first_send(delivery)

    async def _first_send(self, delivery: Delivery) -> None:
        if self.behaviour.bad_signature:
            await self._post(delivery, good_signature=False)
        ok = await self._attempt(delivery)
        if self.behaviour.duplicate:
            # Same X-Shopify-Event-Id (and webhook id): the receiver must dedupe [C].
            await self._post(delivery, good_signature=True)
        if not ok:
            self._schedule_retry(delivery)

    def _schedule_retry(self, delivery: Delivery) -> None:
        delays = self.store.config.webhook_retry_delays
        if delivery.attempts > len(delays):
            self.counters.given_up += 1
            return
        task = asyncio.create_task(self._retry(delivery, delays[delivery.attempts - 1]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retry(self, delivery: Delivery, delay: float) -> None:
        await asyncio.sleep(delay)
        self.counters.retried += 1
        if not await self._attempt(delivery):
            self._schedule_retry(delivery)

    async def _attempt(self, delivery: Delivery) -> bool:
        delivery.attempts += 1
        status = await self._post(delivery, good_signature=True)
        ok = status is not None and 200 <= status < 300
        if ok:
            self.counters.sent += 1
        else:
            self.counters.failed += 1
        return ok

    async def _post(self, delivery: Delivery, *, good_signature: bool) -> int | None:
        assert self._client is not None
        secret = self.store.config.client_secret
        signature = sign(secret if good_signature else f"wrong-{secret}", delivery.body)
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": delivery.topic,
            "X-Shopify-Hmac-Sha256": signature,
            "X-Shopify-Shop-Domain": self.store.config.shop_domain,
            "X-Shopify-API-Version": delivery.api_version,
            "X-Shopify-Webhook-Id": delivery.webhook_id,
            "X-Shopify-Event-Id": delivery.event_id,
            "X-Shopify-Triggered-At": delivery.triggered_at,
        }
        if not good_signature:
            self.counters.bad_signature_sent += 1
        status: int | None
        try:
            response = await self._client.post(
                delivery.address, content=delivery.body, headers=headers
            )
            status = response.status_code
        except httpx.HTTPError:
            status = None
        self.log.append(
            {
                "topic": delivery.topic,
                "address": delivery.address,
                "event_id": delivery.event_id,
                "webhook_id": delivery.webhook_id,
                "good_signature": good_signature,
                "status": status,
            }
        )
        del self.log[:-500]  # keep the dump small
        return status
