"""The BigCommerce connector: our cards mirrored as gift certificates; checkout spends taken back.

BigCommerce keeps no gift certificate ledger: redeeming means overwriting ``balance``
(integrations.md 2.2), last write wins, no idempotency. So a push reads the certificate first; if
it holds less than we know of, a checkout spent it and we have not taken that in yet — writing
now would undo a real spend, so the push waits for the order to be ingested (``UnrecordedSpend``).
Only then is the target balance written. Work for one card is serialized by the sync queue.

Spends come from orders (2.3, 2.4): the id-only notification names an order, whose v3
transactions with method ``gift_certificate`` say which code paid how much.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from omnigift.connectors.base import (
    BadSignature,
    CardRefused,
    CardTarget,
    Journal,
    MirrorState,
    Notification,
    PlatformCard,
    PlatformOrder,
    PlatformRejected,
    PlatformSale,
    PlatformSaleRefund,
    PlatformSpend,
    Sink,
    UnrecordedSpend,
    full_name,
)
from omnigift.connectors.bigcommerce.client import BigCommerceClient
from omnigift.connectors.sale_refunds import LineGivenBack, units_given_back
from omnigift.connectors.times import parse_time
from omnigift.money import decimal_string, minor_units

SCOPES = (
    "store/order/created",
    "store/order/updated",
    "store/order/statusUpdated",
    "store/order/refund/created",
    "store/order/transaction/created",
)
TOKEN_HEADER = "X-Omnigift-Hook-Token"  # noqa: S105 - a header name, not a secret
INCOMPLETE = 0
PAID_STATUSES = {2, 3, 8, 9, 10, 11}  # shipped .. awaiting fulfilment: payment taken
REFUNDED = 4
REFUNDED_STATUSES = {REFUNDED, 14}  # refunded, partially refunded: paid, then (some) given back
SPENDING_EVENTS = ("purchase", "capture")
PAGE = 250
FIRST_POLL_WINDOW = timedelta(minutes=10)
PLACEHOLDER_EMAIL = "gift-card@omnigift.invalid"


class BigCommerceConnector:
    def __init__(
        self,
        base_url: str,
        credentials: dict[str, str],
        settings: dict[str, Any],
        http: httpx.AsyncClient,
    ) -> None:
        self.client = BigCommerceClient(base_url, credentials["access_token"], http)
        secret = credentials["client_secret"].encode()
        # BigCommerce signs with the client secret's bytes (Standard Webhooks, integrations.md
        # 2.4); the library wants them base64-encoded.
        self._signer = Webhook(base64.b64encode(secret).decode())
        # For stores that don't sign yet: a token we register as a custom header, echoed back.
        self._hook_token = hmac.new(secret, b"omnigift-hook-token", hashlib.sha256).hexdigest()
        self.settings = settings
        self.currency = str(settings.get("currency", "USD"))

    async def check(self) -> None:
        await self.client.json("v2/store")

    async def subscribe(self, callback_url: str) -> None:
        listed = await self.client.json("v3/hooks") or {}
        have = {(h["scope"], h["destination"]) for h in listed.get("data", [])}
        for scope in SCOPES:
            if (scope, callback_url) not in have:
                await self.client.call(
                    "POST",
                    "v3/hooks",
                    body={
                        "scope": scope,
                        "destination": callback_url,
                        "is_active": True,
                        "headers": {TOKEN_HEADER: self._hook_token},
                    },
                )

    # --- inbound ---------------------------------------------------------------------------

    def verify(self, headers: dict[str, str], body: bytes) -> Notification:
        h = {k.lower(): v for k, v in headers.items()}
        if "webhook-signature" in h:
            try:
                payload = self._signer.verify(body, h)
            except WebhookVerificationError as exc:
                raise BadSignature(f"BigCommerce signature: {exc}") from None
        elif hmac.compare_digest(h.get(TOKEN_HEADER.lower(), ""), self._hook_token):
            payload = json.loads(body)
        else:
            raise BadSignature("neither a webhook signature nor our hook token")
        scope = str(payload.get("scope", ""))
        event_id = payload.get("hash") or h.get("webhook-id") or hashlib.sha256(body).hexdigest()
        created = payload.get("created_at")
        return Notification(
            platform_event_id=f"{scope}:{event_id}",
            topic=scope,
            payload=payload,
            triggered_at=datetime.fromtimestamp(int(created), UTC) if created else None,
        )

    async def process(self, notification: Notification, sink: Sink) -> None:
        data = notification.payload.get("data") or {}
        if notification.topic.startswith("store/order/") and data.get("id") is not None:
            await self._take_in_order(str(data["id"]), sink)

    async def poll(self, cursor: dict[str, Any], sink: Sink) -> dict[str, Any]:
        since = parse_time(cursor.get("min_date_modified")) or (
            datetime.now(UTC) - FIRST_POLL_WINDOW
        )
        newest, page = since, 1
        while True:
            orders = await self.client.json(
                "v2/orders",
                {
                    "min_date_modified": since.isoformat(),
                    "sort": "date_modified:asc",
                    "limit": 50,
                    "page": page,
                },
            )
            for order in orders or []:
                await self._take_in(order, sink)
                newest = max(newest, parse_time(order.get("date_modified")) or newest)
            if not orders or len(orders) < 50:
                return {"min_date_modified": newest.isoformat()}
            page += 1

    async def _take_in_order(self, order_id: str, sink: Sink) -> None:
        order = await self.client.json(f"v2/orders/{order_id}")
        if order:
            await self._take_in(order, sink)

    async def _take_in(self, order: dict[str, Any], sink: Sink) -> None:
        if int(order.get("status_id") or 0) == INCOMPLETE:
            return  # BigCommerce announces incomplete orders too; nothing is paid yet
        summary = {"id": str(order["id"])}
        listed = await self.client.json(f"v3/orders/{order['id']}/transactions") or {}
        txns = list(listed.get("data", []))
        for txn in txns:
            spend = await self._spend_of(txn, order, summary, txns)
            if spend:
                await sink.spend(spend)
        status = int(order.get("status_id") or 0)
        if status in PAID_STATUSES | REFUNDED_STATUSES:
            products = await self._products(order)
            ours = self._ours(products)
            sales = await self._sales_of(order, ours, summary)
            for sale in sales:
                await sink.sale(sale)
            if status in REFUNDED_STATUSES and ours:
                for undone in await self._sales_refunded(order, ours, summary):
                    await sink.sale_refunded(undone)
            await sink.order_paid(self._paid(order, sales, products, summary))
            if self.settings.get("pull_cards"):
                await self._pull_sold_certificates(products, sink)

    async def _products(self, order: dict[str, Any]) -> list[dict[str, Any]]:
        """The order's lines, read once, when selling our cards or pulling BigCommerce's own
        needs them (otherwise not read at all: one call fewer per order)."""
        if not (self.settings.get("sell_cards") or self.settings.get("pull_cards")):
            return []
        return list(await self.client.json(f"v2/orders/{order['id']}/products") or [])

    def _ours(self, products: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The lines of our gift card product (none unless the store sells it)."""
        skus = set(self.settings.get("gift_card_skus") or [])
        if not (self.settings.get("sell_cards") and skus):
            return []
        return [p for p in products if p.get("sku") in skus]

    async def _pull_sold_certificates(self, products: list[dict[str, Any]], sink: Sink) -> None:
        """BigCommerce's own gift certificates bought in this order enter the ledger (it sends
        no certificate events, integrations.md 2.4: orders are where new ones show)."""
        for product in products:
            certificate_id = product.get("gift_certificate_id")
            if product.get("type") == "giftcertificate" and certificate_id:
                certificate = await self.client.json(f"v2/gift_certificates/{certificate_id}")
                if certificate:
                    with contextlib.suppress(CardRefused):  # recorded for staff by the sink
                        await sink.native_card(self._card(certificate), sold=True)

    async def _spend_of(
        self,
        txn: dict[str, Any],
        order: dict[str, Any],
        summary: dict[str, Any],
        txns: list[dict[str, Any]],
    ) -> PlatformSpend | None:
        certificate = txn.get("gift_certificate") or {}
        event = txn.get("event")
        if txn.get("method") != "gift_certificate" or not certificate.get("code"):
            return None
        if event not in (*SPENDING_EVENTS, "refund"):
            return None
        # Transactions name the code, not the certificate: look its id up.
        found = await self.client.json("v2/gift_certificates", {"code": certificate["code"]})
        if not found:
            return None
        currency = txn.get("currency") or order.get("currency_code") or self.currency
        amount = minor_units(txn["amount"], currency)
        parent = None
        if event == "refund":
            # A refund to the certificate reverses that certificate's payment of the same order.
            paid = [
                t
                for t in txns
                if t.get("event") in SPENDING_EVENTS
                and t.get("method") == "gift_certificate"
                and (t.get("gift_certificate") or {}).get("code") == certificate["code"]
            ]
            if paid:
                parent = f"txn:{order['id']}:{paid[0]['id']}"
        return PlatformSpend(
            external_card_id=str(found[0]["id"]),
            amount=amount if event in SPENDING_EVENTS else -amount,
            currency=currency,
            reference=f"txn:{order['id']}:{txn['id']}",
            parent_reference=parent,
            order=summary,
        )

    def _paid(
        self,
        order: dict[str, Any],
        sales: list[PlatformSale],
        products: list[dict[str, Any]],
        summary: dict[str, Any],
    ) -> PlatformOrder:
        """The order as the promotions see it: its total, less the gift cards bought in it
        (ours, and BigCommerce's own certificates when its lines were read)."""
        currency = order.get("currency_code") or self.currency
        billing = order.get("billing_address") or {}
        native = sum(
            minor_units(p["base_price"], currency) * int(p.get("quantity") or 1)
            for p in products
            if p.get("type") == "giftcertificate"
        )
        return PlatformOrder(
            reference=str(order["id"]),
            amount=minor_units(order.get("total_inc_tax") or "0", currency)
            - sum(sale.amount for sale in sales)
            - native,
            currency=currency,
            refunded_in_full=int(order.get("status_id") or 0) == REFUNDED,
            email=billing.get("email"),
            name=full_name(billing),
            occurred_at=parse_time(order.get("date_created")),
            order=summary,
        )

    async def _sales_of(
        self, order: dict[str, Any], ours: list[dict[str, Any]], summary: dict[str, Any]
    ) -> list[PlatformSale]:
        if not ours:
            return []
        billing = order.get("billing_address") or {}
        name = full_name(billing)
        shipping = await self.client.json(f"v2/orders/{order['id']}/shipping_addresses") or []
        ship_name = full_name(shipping[0]) if shipping else None
        currency = order.get("currency_code") or self.currency
        return [
            PlatformSale(
                reference=_sale_reference(order, product["id"], unit),
                amount=minor_units(product["base_price"], currency),
                currency=currency,
                customer_email=billing.get("email"),
                recipient_name=name,
                shipping_name=ship_name,
                physical=product.get("type") == "physical",
                order=summary,
            )
            for product in ours
            for unit in range(int(product.get("quantity") or 1))
        ]

    async def _sales_refunded(
        self, order: dict[str, Any], ours: list[dict[str, Any]], summary: dict[str, Any]
    ) -> list[PlatformSaleRefund]:
        """The units of our gift card product the order's refunds gave back: the v3 refunds'
        PRODUCT items (RefundItem ``item_id`` is the order product id)."""
        lines = {str(p["id"]) for p in ours}
        listed = await self.client.json(f"v3/orders/{order['id']}/payment_actions/refunds") or {}
        given_back = [
            LineGivenBack(str(refund["id"]), str(item["item_id"]), int(item.get("quantity") or 0))
            for refund in sorted(listed.get("data", []), key=lambda r: int(r["id"]))
            for item in refund.get("items") or []
            if item.get("item_type") == "PRODUCT" and str(item.get("item_id")) in lines
        ]
        return units_given_back(
            given_back, lambda line, unit: _sale_reference(order, line, unit), summary
        )

    # --- mirror out ------------------------------------------------------------------------

    async def push(
        self, target: CardTarget, mirror: MirrorState, journal: Journal, *, rebase: bool = False
    ) -> None:
        state = mirror
        if state.pending_write:
            state = await self._settle(target, state, journal)
        if state.external_id is None:
            if target.state != "active" or target.balance <= 0:
                return
            await self._create(target, journal)
            return
        certificate = await self.client.json(f"v2/gift_certificates/{state.external_id}")
        if certificate is None:
            raise PlatformRejected("the gift certificate was deleted on BigCommerce", "deleted")
        on_platform = minor_units(certificate["balance"], target.currency)
        known = state.known_balance or 0
        if on_platform != known and rebase:
            await journal.applied(balance_delta=on_platform - known)
            known = on_platform
        if on_platform != known:
            # Less: a checkout spend not taken in yet. More: a refund to the certificate not
            # taken in yet. Writing the target now would undo either, so take the orders in first.
            raise UnrecordedSpend(
                f"BigCommerce holds {on_platform}, we know of {known}: an order not yet taken in"
            )
        changes = self._changes(target, certificate, on_platform)
        if not changes:
            return
        await journal.intend({"op": "put", "to": target.balance, "from": on_platform})
        await self.client.call("PUT", f"v2/gift_certificates/{state.external_id}", body=changes)
        await journal.applied(
            balance_delta=target.balance - known,
            state=target.state,
            expires_on=target.expires_on.isoformat() if target.expires_on else "",
        )

    @staticmethod
    def _changes(
        target: CardTarget, certificate: dict[str, Any], on_platform: int
    ) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        if on_platform != target.balance:
            changes["balance"] = decimal_string(target.balance, target.currency)
        status = "active" if target.state == "active" else "disabled"
        if certificate.get("status") != status:
            changes["status"] = status
        if _expiry_date(certificate) != target.expires_on:
            changes["expiry_date"] = _rfc2822(target.expires_on) if target.expires_on else ""
        return changes

    async def _create(self, target: CardTarget, journal: Journal) -> None:
        if len(target.code) > 20:
            # BigCommerce would silently keep the first 20 characters: a different card.
            raise PlatformRejected("BigCommerce codes are at most 20 characters", "TOO_LONG")
        await journal.intend({"op": "create"})
        body: dict[str, Any] = {
            "code": target.code,
            "amount": decimal_string(target.balance, target.currency),
            "balance": decimal_string(target.balance, target.currency),
            "status": "active",
            "currency_code": target.currency,
            "to_name": target.recipient_name or "Gift card holder",
            "to_email": target.customer_email or PLACEHOLDER_EMAIL,
            "from_name": str(self.settings.get("from_name") or "Omnigift"),
            "from_email": PLACEHOLDER_EMAIL,
        }
        if target.expires_on:
            body["expiry_date"] = _rfc2822(target.expires_on)
        response = await self.client.call("POST", "v2/gift_certificates", body=body)
        if response is None:
            raise PlatformRejected("BigCommerce did not create the certificate")
        await self._adopt(response.json(), target, journal)

    async def _adopt(
        self, certificate: dict[str, Any], target: CardTarget, journal: Journal
    ) -> MirrorState:
        balance = minor_units(certificate["balance"], target.currency)
        expires = _expiry_date(certificate)
        state = "active" if certificate.get("status") == "active" else "disabled"
        iso = expires.isoformat() if expires else None
        await journal.created(str(certificate["id"]), balance, state, iso)
        return MirrorState(str(certificate["id"]), balance, state, iso, None)

    async def _settle(
        self, target: CardTarget, state: MirrorState, journal: Journal
    ) -> MirrorState:
        """A write's answer was lost: did it happen?"""
        pending = state.pending_write or {}
        if pending.get("op") == "create":
            found = await self.client.json("v2/gift_certificates", {"code": target.code})
            if found:
                return await self._adopt(found[0], target, journal)
            await journal.abandoned()
            return MirrorState(None, None, None, None, None)
        certificate = await self.client.json(f"v2/gift_certificates/{state.external_id}")
        on_platform = minor_units(certificate["balance"], target.currency) if certificate else None
        if on_platform is not None and on_platform == pending.get("to"):
            delta = int(pending["to"]) - (state.known_balance or 0)
            await journal.applied(balance_delta=delta)
            return state.settled(delta)
        await journal.abandoned()
        return state.settled()

    # --- reading cards ---------------------------------------------------------------------

    async def read(self, external_id: str) -> PlatformCard | None:
        certificate = await self.client.json(f"v2/gift_certificates/{external_id}")
        return self._card(certificate) if certificate else None

    async def list_cards(self, cursor: str | None) -> tuple[list[PlatformCard], str | None]:
        page = int(cursor or 1)
        listed = await self.client.json("v2/gift_certificates", {"page": page, "limit": PAGE})
        cards = [self._card(c) for c in listed or []]
        return cards, (str(page + 1) if len(cards) == PAGE else None)

    def _card(self, certificate: dict[str, Any]) -> PlatformCard:
        currency = certificate.get("currency_code") or self.currency
        return PlatformCard(
            external_id=str(certificate["id"]),
            balance=minor_units(certificate["balance"], currency),
            currency=currency,
            enabled=certificate.get("status") == "active",
            expires_on=_expiry_date(certificate),
            code=certificate.get("code"),
            last_characters=(certificate.get("code") or "")[-4:] or None,
            customer_email=certificate.get("to_email"),
            initial_value=minor_units(certificate["amount"], currency)
            if certificate.get("amount")
            else None,
        )

    async def refresh_credentials(self) -> dict[str, str] | None:
        return None  # a permanent access token: nothing to refresh

    async def aclose(self) -> None:
        return None


def _expiry_date(certificate: dict[str, Any]) -> date | None:
    """BigCommerce answers expiry as a Unix-seconds string ("0" or empty: none)."""
    raw = certificate.get("expiry_date")
    if raw in (None, "", "0", 0):
        return None
    return datetime.fromtimestamp(int(raw), UTC).date()


def _rfc2822(day: date) -> str:
    """BigCommerce takes dates as RFC 2822; the end of the day, so the date is the last day."""
    return format_datetime(datetime.combine(day, time(23, 59, 59), UTC))


def _sale_reference(order: dict[str, Any], product_id: Any, unit: int) -> str:
    """The sale of one unit of an order line of our gift card product: issued once."""
    return f"product:{order['id']}:{product_id}:{unit}"
