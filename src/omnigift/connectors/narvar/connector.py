"""The Narvar connector: return notifications in, refunds as gift cards or store credit out.

What Narvar publishes (integrations.md 4.1, [C]): an RMA webhook to a retailer-hosted endpoint,
authenticated with HTTP Basic credentials set up with Narvar support, JSON, with the headers
``X-Narvar-Topic`` (``initiated``, ``on_its_way_to_retailer``, ``delivered_to_retailer``,
``approved``, ``cancelled_by_retailer``, ``cancelled_by_user``, ``rejected``, ...),
``X-Narvar-Timestamp``, ``X-Narvar-Shop-Domain``, ``X-Narvar-API-Version`` and
``X-Narvar-Webhook-Id``; the body carries ``rma_number``, ``order_number``, ``email`` and the
items. Narvar moves no money: the gift card system issues the refund.

What Narvar does NOT publish (4.2, [U]): a field naming the refund method the shopper chose, the
bonus, or a provider contract. Until Narvar confirms one, this connector reads a ``refund``
object modelled on the comparable published contract, Loop Returns' ``giftcard.requested``
(4.3): ``{"method": "gift_card" | "store_credit", "return_id", "amount", "currency",
"first_name", "last_name", "email"}`` — **Omnigift's provider contract**, not Narvar's. A
notification without it refunds nothing here (the shopper took their money back).

Approved with a ``refund`` → ``Sink.refund`` (once per return id, whatever the retries or
duplicates); cancelled or rejected after that → ``Sink.refund_cancelled`` (a sync exception for
staff: the card may already be spent). Other topics are recorded and otherwise ignored. Narvar
holds no gift cards of ours, so there is nothing to mirror, poll or read.
"""

from __future__ import annotations

import base64
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import httpx

from omnigift.connectors.base import (
    BadSignature,
    CardTarget,
    Journal,
    MirrorState,
    Notification,
    PlatformCard,
    PlatformRefund,
    Sink,
)
from omnigift.money import minor_units

APPROVED = "approved"
UNDONE = ("cancelled_by_retailer", "cancelled_by_user", "rejected")
METHODS = ("gift_card", "store_credit")


class NarvarConnector:
    def __init__(
        self,
        base_url: str,
        credentials: dict[str, str],
        settings: dict[str, Any],
        http: httpx.AsyncClient,
    ) -> None:
        self._expected = _basic(credentials["username"], credentials["password"])
        self.currency = str(settings.get("currency", "USD"))

    async def check(self) -> None:
        return None  # Narvar calls us; there is nothing of theirs to call

    async def subscribe(self, callback_url: str) -> None:
        return None  # set up by a Narvar support engineer with our URL and Basic credentials

    def verify(self, headers: dict[str, str], body: bytes) -> Notification:
        """HTTP Basic with the credentials we gave Narvar; the webhook id names the event."""
        lowered = {k.lower(): v for k, v in headers.items()}
        given = lowered.get("authorization", "")
        if not hmac.compare_digest(given.encode(), self._expected.encode()):
            raise BadSignature("wrong or missing Basic credentials")
        event_id = lowered.get("x-narvar-webhook-id")
        topic = lowered.get("x-narvar-topic")
        if not event_id or not topic:
            raise BadSignature("X-Narvar-Webhook-Id and X-Narvar-Topic are required")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise BadSignature("the body is not JSON") from exc
        stamp = lowered.get("x-narvar-timestamp", "")
        sent = datetime.fromtimestamp(int(stamp), UTC) if stamp.isdigit() else None
        return Notification(event_id, topic, payload, sent)

    async def process(self, notification: Notification, sink: Sink) -> None:
        payload = notification.payload
        if notification.topic == APPROVED:
            refund = self._refund_of(payload)
            if refund is not None:
                await sink.refund(refund)
        elif notification.topic in UNDONE:
            return_id = _return_id(payload)
            if return_id:
                await sink.refund_cancelled(return_id, notification.topic)

    def _refund_of(self, payload: dict[str, Any]) -> PlatformRefund | None:
        asked = payload.get("refund")
        if not isinstance(asked, dict) or asked.get("method") not in METHODS:
            return None  # refunded to the original payment: not ours to issue
        return_id = _return_id(payload)
        if not return_id:
            return None
        currency = str(asked.get("currency") or self.currency)
        names = (asked.get("first_name"), asked.get("last_name"))
        return PlatformRefund(
            return_id=return_id,
            amount=minor_units(str(asked["amount"]), currency),
            currency=currency,
            method=str(asked["method"]),
            order_id=str(payload["order_number"]) if payload.get("order_number") else None,
            email=asked.get("email") or payload.get("email"),
            name=" ".join(str(n) for n in names if n) or None,
            items=[i for i in payload.get("items") or [] if isinstance(i, dict)],
            reason="; ".join(
                str(i["return_reason"])
                for i in payload.get("items") or []
                if i.get("return_reason")
            )
            or None,
        )

    async def poll(self, cursor: dict[str, Any], sink: Sink) -> dict[str, Any]:
        return cursor  # nothing to poll: every notification is pushed to us

    async def push(
        self, target: CardTarget, mirror: MirrorState, journal: Journal, *, rebase: bool = False
    ) -> None:
        return None  # Narvar holds no cards of ours

    async def read(self, external_id: str) -> PlatformCard | None:
        return None

    async def list_cards(self, cursor: str | None) -> tuple[list[PlatformCard], str | None]:
        return [], None

    async def refresh_credentials(self) -> dict[str, str] | None:
        return None

    async def aclose(self) -> None:
        return None


def _return_id(payload: dict[str, Any]) -> str | None:
    """The return's id: our ``refund.return_id``, else Narvar's ``rma_number``."""
    asked = payload.get("refund") if isinstance(payload.get("refund"), dict) else {}
    found = (asked or {}).get("return_id") or payload.get("rma_number")
    return f"narvar:{found}" if found else None


def _basic(username: str, password: str) -> str:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {token}"
