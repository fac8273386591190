"""A simulated Narvar account sending its RMA webhooks to a retailer's endpoint.

Faithful to what Narvar publishes (integrations.md 4.1 [C]): a JSON POST with HTTP Basic
credentials and the headers ``X-Narvar-Topic``, ``X-Narvar-Timestamp``, ``X-Narvar-Shop-Domain``,
``X-Narvar-API-Version: 1.07`` and ``X-Narvar-Webhook-Id``; the Standard RMA fields
(``return_tracking_status``, ``rma_number``, ``order_number``, ``return_creation_date``,
``retailer_name``, ``gift``, ``email``, ``package``, ``items``); topics through a return's life.

Not published, so marked [U] and ours: the retry policy (Narvar's is not documented; this one
retries any non-2xx or network failure on a short schedule), and the ``refund`` object that says
a shopper chose a gift card or store credit — **Omnigift's provider contract**, modelled on Loop
Returns' ``giftcard.requested`` (integrations.md 4.3). ``duplicate`` sends a webhook twice with
the same id; ``send`` in any order models out-of-order topics.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

API_VERSION = "1.07"
LIFECYCLE = ("initiated", "on_its_way_to_retailer", "delivered_to_retailer", "approved")
TRACKING = {
    "initiated": "return_initiated_standard",
    "on_its_way_to_retailer": "return_on_its_way_standard",
    "delivered_to_retailer": "return_delivered_standard",
    "approved": "return_delivered_standard",
    "cancelled_by_user": "return_cancellation_standard",
    "cancelled_by_retailer": "return_cancellation_standard",
    "rejected": "return_cancellation_standard",
}


@dataclass
class Return:
    """One return at the returns platform."""

    rma_number: str
    order_number: str
    email: str
    items: list[dict[str, Any]]
    first_name: str | None = None
    last_name: str | None = None
    refund_method: str | None = None  # gift_card | store_credit | None (original payment)
    refund_amount: str | None = None  # a decimal string, as the platform shows it
    currency: str = "USD"
    created: datetime = field(default_factory=lambda: datetime.now(UTC))

    def payload(self, topic: str, retailer: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "return_tracking_status": TRACKING[topic],
            "rma_number": self.rma_number,
            "order_number": self.order_number,
            "return_creation_date": self.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "retailer_name": retailer,
            "gift": False,
            "email": self.email,
            "package": {"tracking_number": f"1Z{self.rma_number}", "carrier": "UPS"},
            "items": self.items,
        }
        if self.refund_method:
            body["refund"] = {  # [U] Omnigift's provider contract (Loop-like), not Narvar's
                "method": self.refund_method,
                "return_id": self.rma_number,
                "amount": self.refund_amount,
                "currency": self.currency,
                "email": self.email,
                "first_name": self.first_name,
                "last_name": self.last_name,
            }
        return body


@dataclass
class Attempt:
    webhook_id: str
    topic: str
    status: int | None  # None: the connection failed
    at: float


@dataclass
class ReturnsPlatform:
    """Sends RMA webhooks to ``target`` with the retailer's Basic credentials."""

    target: str
    username: str
    password: str
    shop_domain: str = "natori.myshopify.com"
    retailer: str = "natori"
    retry_delays: tuple[float, ...] = (0.2, 0.5, 1.0, 2.0)
    attempts: list[Attempt] = field(default_factory=list)

    async def send(
        self, topic: str, ret: Return, *, webhook_id: str | None = None, duplicate: bool = False
    ) -> str:
        """Deliver one webhook (retried until a 2xx or the schedule runs out); its id."""
        event_id = webhook_id or str(uuid.uuid4())
        body = ret.payload(topic, self.retailer)
        for _ in range(2 if duplicate else 1):
            await self._deliver(event_id, topic, body)
        return event_id

    async def run(self, ret: Return, topics: tuple[str, ...] = LIFECYCLE) -> list[str]:
        """A return's life, topic by topic."""
        return [await self.send(topic, ret) for topic in topics]

    async def _deliver(self, event_id: str, topic: str, body: dict[str, Any]) -> bool:
        headers = {
            "Authorization": _basic(self.username, self.password),
            "X-Narvar-Topic": topic,
            "X-Narvar-Timestamp": str(int(time.time())),
            "X-Narvar-Shop-Domain": self.shop_domain,
            "X-Narvar-API-Version": API_VERSION,
            "X-Narvar-Webhook-Id": event_id,
        }
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            for wait in (*self.retry_delays, None):
                status: int | None
                try:
                    status = (
                        await client.post(self.target, json=body, headers=headers)
                    ).status_code
                except httpx.HTTPError:
                    status = None
                self.attempts.append(Attempt(event_id, topic, status, time.monotonic()))
                if status is not None and 200 <= status < 300:
                    return True
                if wait is None:
                    return False
                await asyncio.sleep(wait)
        return False


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
