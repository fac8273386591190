"""Outgoing webhooks (integrations.md 2.4): id-only payloads, signed, retried, then deactivated.

Routes only call :meth:`WebhookSender.emit`, which queues; a background task of the app sends,
so no vendor or control route ever waits on a receiver.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from .config import BigCommerceConfig
from .state import Hook, Store

REORDER_WINDOW = 0.3  # seconds events are held when ``reorder`` is on, then sent newest-first


@dataclass
class Behaviour:
    """Delivery misbehaviours to test a receiver against (our control plane)."""

    duplicate: bool = False
    reorder: bool = False
    bad_signature: bool = False


@dataclass
class Counters:
    """What the sender did, for ``GET /__sim/state``."""

    emitted: int = 0  # events raised by the store
    sent: int = 0  # deliveries answered 2xx
    failed: int = 0  # attempts answered non-2xx or timed out
    retried: int = 0  # attempts after the first
    gave_up: int = 0  # deliveries that used up the retry schedule
    deactivated: int = 0  # hooks switched off after giving up
    duplicates: int = 0  # extra copies sent on purpose
    bad_signatures: int = 0  # copies sent with a wrong signature on purpose


@dataclass
class Event:
    """One event raised by the store, before it is matched to hooks."""

    scope: str
    payload: dict[str, Any]


def signing_key(client_secret: str) -> str:
    """The Standard Webhooks key for the app: the client secret's bytes, base64-encoded.

    BigCommerce's docs base64-encode the client secret before giving it to the library, which
    decodes it again, so the HMAC key is the secret's raw bytes [C https-webhook-overview.mdx].
    """
    return base64.b64encode(client_secret.encode()).decode()


def payload(scope: str, store_hash: str, data: dict[str, Any]) -> dict[str, Any]:
    """The id-only body; ``hash`` is a stable SHA-1 of scope and data, the dedupe key [C]."""
    digest = hashlib.sha1(  # noqa: S324 - BigCommerce's hash is a 40-hex SHA-1, not a secret
        (scope + json.dumps(data, sort_keys=True)).encode()
    ).hexdigest()
    return {
        "scope": scope,
        "store_id": store_hash,
        "data": data,
        "hash": digest,
        "created_at": int(time.time()),
        "producer": f"stores/{store_hash}",
    }


def scope_matches(registered: str, scope: str) -> bool:
    """A hook on ``store/order/*`` receives every ``store/order/...`` event."""
    if registered.endswith("/*"):
        return scope.startswith(registered[:-1])
    return registered == scope


@dataclass
class WebhookSender:
    """Queues events and delivers them to matching active hooks in a background task."""

    config: BigCommerceConfig
    store: Store
    behaviour: Behaviour = field(default_factory=Behaviour)
    counters: Counters = field(default_factory=Counters)
    queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _client: httpx.AsyncClient | None = None
    _messages: int = 0

    def emit(self, scope: str, data: dict[str, Any]) -> None:
        """Raise an event now; it is sent later by :meth:`run`."""
        self.counters.emitted += 1
        self.queue.put_nowait(Event(scope, payload(scope, self.config.store_hash, data)))

    async def run(self) -> None:
        """Deliver queued events until cancelled (started by the app's lifespan)."""
        async with httpx.AsyncClient(timeout=self.config.webhook_timeout) as client:
            self._client = client
            try:
                while True:
                    batch = [await self.queue.get()]
                    if self.behaviour.reorder:
                        # Hold a short window and send newest-first: receivers must not
                        # assume order (integrations.md section 0 [C]).
                        await asyncio.sleep(REORDER_WINDOW)
                        while not self.queue.empty():
                            batch.append(self.queue.get_nowait())
                        batch.reverse()
                    for event in batch:
                        await self._dispatch(event)
            finally:
                for task in list(self._tasks):
                    task.cancel()
                self._client = None

    def state(self) -> dict[str, Any]:
        """Counters and behaviour, for the control plane."""
        return {
            **asdict(self.counters),
            "pending": self.queue.qsize(),
            "retrying": len(self._tasks),
            "behaviour": asdict(self.behaviour),
        }

    async def _dispatch(self, event: Event) -> None:
        body = json.dumps(event.payload, separators=(",", ":"))
        hooks = [
            hook
            for hook in self.store.hooks.values()
            if hook.is_active and scope_matches(hook.scope, event.scope)
        ]
        for hook in hooks:
            if self.behaviour.bad_signature:
                self.counters.bad_signatures += 1
                await self._post(hook, body, self._message_id(), key=signing_key("wrong"))
            message_id = self._message_id()
            if not await self._attempt(hook, body, message_id):
                self._spawn(self._retry(hook, body, message_id))
            if self.behaviour.duplicate:
                # A second copy of the same body (same ``hash``) under a new message id, so
                # only the body hash can tell it is a duplicate [C "both rely on the same hash"].
                self.counters.duplicates += 1
                copy_id = self._message_id()
                if not await self._attempt(hook, body, copy_id):
                    self._spawn(self._retry(hook, body, copy_id))

    async def _retry(self, hook: Hook, body: str, message_id: str) -> None:
        for delay in self.config.webhook_retry_delays:
            await asyncio.sleep(delay)
            if self.store.hooks.get(hook.id) is not hook:
                return  # the hook was deleted meanwhile
            self.counters.retried += 1
            if await self._attempt(hook, body, message_id):
                return
        self.counters.gave_up += 1
        if hook.is_active:
            # BigCommerce deactivates a hook whose events keep failing for ~48 h [C].
            hook.is_active = False
            hook.updated_at = int(time.time())
            self.counters.deactivated += 1

    async def _attempt(self, hook: Hook, body: str, message_id: str) -> bool:
        ok = await self._post(hook, body, message_id, key=signing_key(self.config.client_secret))
        if ok:
            self.counters.sent += 1
        else:
            self.counters.failed += 1
        return ok

    async def _post(self, hook: Hook, body: str, message_id: str, key: str) -> bool:
        assert self._client is not None
        moment = datetime.now(UTC)
        headers = {
            **hook.headers,  # the custom headers registered on the hook are echoed [C]
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": Webhook(key).sign(message_id, moment, body),
        }
        try:
            response = await self._client.post(hook.destination, content=body, headers=headers)
        except httpx.HTTPError:
            return False
        return 200 <= response.status_code < 300

    def _message_id(self) -> str:
        self._messages += 1
        return f"msg_{self.config.store_hash}_{self._messages}"

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel the sender's task and wait for it to end."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
