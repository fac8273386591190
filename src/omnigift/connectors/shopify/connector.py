"""The Shopify connector: our cards mirrored as Shopify gift cards; checkout spends taken back.

Mirror out (integrations.md 1.3): ``giftCardCreate`` with our code, ``giftCardCredit`` /
``giftCardDebit`` for every change of balance, ``giftCardUpdate`` for expiry,
``giftCardDeactivate`` when the card ends. Shopify has no idempotency on these, so every write
carries ``omnigift:<write id>`` in its ``note``, is remembered before it is sent, and after an
ambiguous failure the card's transactions are read back to see whether it happened.

Native spend in (1.4, 1.5): an order notification names an order; its transactions with gateway
``gift_card`` say which card paid how much. Polling ``orders.json`` catches what notifications
miss.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

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
from omnigift.connectors.sale_refunds import LineGivenBack, units_given_back
from omnigift.connectors.shopify import operations as ops
from omnigift.connectors.shopify.client import ShopifyClient, next_page
from omnigift.connectors.times import parse_time
from omnigift.ids import new_id
from omnigift.money import decimal_string, minor_units

GID = "gid://shopify/GiftCard/"
TOPICS = (
    "orders/create",
    "orders/paid",
    "orders/updated",
    "orders/cancelled",
    "refunds/create",
    "gift_cards/create",
)
NOTE_PREFIX = "omnigift:"
SPENDING_KINDS = ("sale", "capture")
FIRST_POLL_WINDOW = timedelta(minutes=10)
CLOCK_SKEW = timedelta(minutes=5)  # between Shopify's clock and ours, when reading back


class ShopifyConnector:
    def __init__(
        self,
        base_url: str,
        credentials: dict[str, str],
        settings: dict[str, Any],
        http: httpx.AsyncClient,
    ) -> None:
        self.client = ShopifyClient(base_url, credentials["access_token"], http)
        self._secret = credentials["client_secret"].encode()
        self.settings = settings
        self.currency = str(settings.get("currency", "USD"))

    async def check(self) -> None:
        await self.client.get("shop.json")

    async def subscribe(self, callback_url: str) -> None:
        existing = (await self.client.get("webhooks.json")).json().get("webhooks", [])
        have = {(w["topic"], w["address"]) for w in existing}
        for topic in TOPICS:
            if (topic, callback_url) not in have:
                await self.client.post(
                    "webhooks.json",
                    {"webhook": {"topic": topic, "address": callback_url, "format": "json"}},
                )

    # --- inbound ---------------------------------------------------------------------------

    def verify(self, headers: dict[str, str], body: bytes) -> Notification:
        """Base64 HMAC-SHA256 of the raw body with the app's secret, checked before parsing."""
        h = {k.lower(): v for k, v in headers.items()}
        given = h.get("x-shopify-hmac-sha256") or h.get("shopify-hmac-sha256")
        if not given:
            raise BadSignature("missing X-Shopify-Hmac-Sha256")
        digest = hmac.new(self._secret, body, hashlib.sha256).digest()
        if not hmac.compare_digest(base64.b64encode(digest).decode(), given.strip()):
            raise BadSignature("X-Shopify-Hmac-Sha256 does not match the body")
        topic = h.get("x-shopify-topic", "")
        event_id = h.get("x-shopify-event-id") or h.get("x-shopify-webhook-id")
        event_id = event_id or hashlib.sha256(body).hexdigest()
        return Notification(
            platform_event_id=f"{topic}:{event_id}",
            topic=topic,
            payload=json.loads(body),
            triggered_at=parse_time(h.get("x-shopify-triggered-at")),
        )

    async def process(self, notification: Notification, sink: Sink) -> None:
        topic, payload = notification.topic, notification.payload
        if topic.startswith("orders/"):
            await self._take_in_order(str(payload["id"]), sink)
        elif topic == "refunds/create":
            await self._take_in_order(str(payload["order_id"]), sink)
        elif (
            topic == "gift_cards/create"
            and self.settings.get("pull_cards")
            and not str(payload.get("note") or "").startswith(NOTE_PREFIX)  # not one of ours
        ):
            with contextlib.suppress(CardRefused):  # recorded for staff by the sink
                # A card with an order was bought in the checkout; one without, made by staff.
                sold = payload.get("order_id") is not None
                await sink.native_card(_rest_card(payload, self.currency), sold=sold)

    async def poll(self, cursor: dict[str, Any], sink: Sink) -> dict[str, Any]:
        """Orders updated since the cursor (inclusive: re-reading one is harmless)."""
        since = parse_time(cursor.get("updated_at_min")) or (datetime.now(UTC) - FIRST_POLL_WINDOW)
        newest = since
        url: str | None = "orders.json"
        params: dict[str, Any] | None = {
            "status": "any",
            "updated_at_min": since.isoformat(),
            "limit": 50,
        }
        while url:
            response = await self.client.get(url, params)
            for order in response.json().get("orders", []):
                await self._take_in(order, sink)
                newest = max(newest, parse_time(order.get("updated_at")) or newest)
            url, params = next_page(response), None
        return {"updated_at_min": newest.isoformat()}

    async def _take_in_order(self, order_id: str, sink: Sink) -> None:
        order = (await self.client.get(f"orders/{order_id}.json")).json()["order"]
        await self._take_in(order, sink)

    async def _take_in(self, order: dict[str, Any], sink: Sink) -> None:
        """The order's gift card payments and refunds, and our gift card product sold in it."""
        summary = {"id": str(order["id"]), "name": order.get("name")}
        if "gift_card" in (order.get("payment_gateway_names") or []) or order.get("refunds"):
            listed = await self.client.get(f"orders/{order['id']}/transactions.json")
            for txn in listed.json().get("transactions", []):
                spend = _spend_of(txn, order, summary)
                if spend:
                    await sink.spend(spend)
        if order.get("financial_status") in ("paid", "partially_refunded", "refunded"):
            sales = self._sales_of(order, summary)
            for sale in sales:
                await sink.sale(sale)
            for undone in self._sales_refunded(order, summary):
                await sink.sale_refunded(undone)
            await sink.order_paid(self._paid(order, sales, summary))

    def _sales_refunded(
        self, order: dict[str, Any], summary: dict[str, Any]
    ) -> list[PlatformSaleRefund]:
        """The units of our gift card product the order's refunds gave back (``refunds[]
        .refund_line_items``)."""
        ours = set(self.settings.get("gift_card_skus") or []) | set(
            self.settings.get("physical_gift_card_skus") or []
        )
        lines = {line["id"] for line in order.get("line_items", []) if line.get("sku") in ours}
        if not (self.settings.get("sell_cards") and lines):
            return []
        given_back = [
            LineGivenBack(str(refund["id"]), str(item["line_item_id"]), int(item["quantity"] or 0))
            for refund in sorted(order.get("refunds") or [], key=lambda r: r["id"])
            for item in refund.get("refund_line_items") or []
            if item.get("line_item_id") in lines
        ]
        return units_given_back(given_back, lambda line, unit: f"line:{line}:{unit}", summary)

    def _paid(
        self, order: dict[str, Any], sales: list[PlatformSale], summary: dict[str, Any]
    ) -> PlatformOrder:
        """The order as the promotions see it: its total, less the gift cards bought in it
        (ours, and Shopify's own: ``line_items[].gift_card``), which earn their own."""
        currency = order.get("currency") or self.currency
        customer = order.get("customer") or {}
        native = sum(
            minor_units(line["price"], currency) * int(line.get("quantity") or 1)
            for line in order.get("line_items", [])
            if line.get("gift_card")
        )
        return PlatformOrder(
            reference=str(order["id"]),
            amount=minor_units(order.get("total_price") or "0", currency)
            - sum(sale.amount for sale in sales)
            - native,
            currency=currency,
            refunded_in_full=order.get("financial_status") == "refunded",
            email=order.get("email") or customer.get("email"),
            name=full_name(customer),
            occurred_at=parse_time(order.get("processed_at") or order.get("created_at")),
            order=summary,
        )

    def _sales_of(self, order: dict[str, Any], summary: dict[str, Any]) -> list[PlatformSale]:
        digital = set(self.settings.get("gift_card_skus") or [])
        physical = set(self.settings.get("physical_gift_card_skus") or [])
        if not (self.settings.get("sell_cards") and (digital or physical)):
            return []
        customer = order.get("customer") or {}
        name = full_name(customer)
        shipping = (order.get("shipping_address") or {}).get("name")
        currency = order.get("currency") or self.currency
        return [
            PlatformSale(
                reference=f"line:{line['id']}:{unit}",
                amount=minor_units(line["price"], currency),
                currency=currency,
                customer_email=order.get("email") or customer.get("email"),
                recipient_name=name,
                shipping_name=shipping,
                physical=line.get("sku") in physical,
                order=summary,
            )
            for line in order.get("line_items", [])
            if line.get("sku") in digital | physical
            for unit in range(int(line.get("quantity") or 1))
        ]

    # --- mirror out ------------------------------------------------------------------------

    async def push(
        self, target: CardTarget, mirror: MirrorState, journal: Journal, *, rebase: bool = False
    ) -> None:
        state = mirror
        if state.pending_write:
            state = await self._settle(target, state, journal)
        if state.external_id is None:
            if target.state != "active" or target.balance <= 0:
                return  # nothing to spend online yet: created once it holds value
            state = await self._create(target, journal)
        gid = GID + state.external_id if state.external_id else ""
        known = state.known_balance or 0
        if rebase:
            card = await self.read(str(state.external_id))
            if card is not None and card.balance != known:
                await journal.applied(balance_delta=card.balance - known)
                known = card.balance
        delta = target.balance - known
        if delta:
            await self._move(gid, delta, target.currency, journal)
        expires = target.expires_on.isoformat() if target.expires_on else ""
        if expires != (state.known_expires_on or "") and target.state != "deactivated":
            await self._mutate(
                ops.UPDATE,
                {"id": gid, "input": {"expiresOn": expires or None}},
                "giftCardUpdate",
            )
            await journal.applied(expires_on=expires)
        if target.state == "deactivated" and state.known_state != "deactivated":
            await self._mutate(ops.DEACTIVATE, {"id": gid}, "giftCardDeactivate")
            await journal.applied(state="deactivated")

    async def _create(self, target: CardTarget, journal: Journal) -> MirrorState:
        code = target.code.lower()
        if not (8 <= len(code) <= 20 and code.isalnum()):
            raise PlatformRejected(
                f"Shopify takes codes of 8 to 20 letters and digits; this one has {len(code)}",
                code="TOO_SHORT" if len(code) < 8 else "TOO_LONG",
            )
        customer = await self._customer(target)  # before the intent: found again on a retry
        await journal.intend({"op": "create"})
        expires = target.expires_on.isoformat() if target.expires_on else None
        payload = await self._mutate(
            ops.CREATE,
            {
                "input": {
                    "code": code,
                    "initialValue": decimal_string(target.balance, target.currency),
                    "expiresOn": expires,
                    "note": NOTE_PREFIX + target.account_id,
                    **_notification(customer, target),
                }
            },
            "giftCardCreate",
            write=True,
        )
        card = payload["giftCard"]
        return await self._adopt(card, target, journal)

    async def _customer(self, target: CardTarget) -> str | None:
        """With ``send_notifications``, the Shopify customer the card is for (seed 002): found by
        e-mail, or uploaded. None when nobody is to be notified; a customer Shopify refuses (a
        malformed e-mail) costs the notification, never the mirror."""
        email = target.customer_email
        if not (self.settings.get("send_notifications") and email):
            return None
        found = await self._customer_by_email(email)
        if found:
            return found
        first, _, last = (target.recipient_name or "").strip().partition(" ")
        names = {"firstName": first or None, "lastName": last or None}
        try:  # not a write we must settle: a retry finds the customer by e-mail instead
            payload = await self._mutate(
                ops.CUSTOMER_CREATE, {"input": {"email": email, **names}}, "customerCreate"
            )
        except PlatformRejected:
            return await self._customer_by_email(email)  # taken meanwhile, or refused: None
        customer: dict[str, Any] = payload.get("customer") or {}
        return customer.get("id")

    async def _customer_by_email(self, email: str) -> str | None:
        query = f'email:"{email}"'
        data = await self.client.graphql(ops.CUSTOMER_BY_EMAIL, {"query": query})
        nodes = (data.get("customers") or {}).get("nodes") or []
        return str(nodes[0]["id"]) if nodes else None

    async def _adopt(
        self, card: dict[str, Any], target: CardTarget, journal: Journal
    ) -> MirrorState:
        external_id = card["id"].removeprefix(GID)
        balance = minor_units(card["balance"]["amount"], target.currency)
        expires = card.get("expiresOn") or None
        state = "active" if card.get("enabled", True) else "deactivated"
        await journal.created(external_id, balance, state, expires)
        return MirrorState(external_id, balance, state, expires, None)

    async def _move(self, gid: str, delta: int, currency: str, journal: Journal) -> None:
        note = NOTE_PREFIX + new_id("wr")
        operation = "giftCardCredit" if delta > 0 else "giftCardDebit"
        await journal.intend(
            {"op": operation, "note": note, "delta": delta, "at": datetime.now(UTC).isoformat()}
        )
        amount = {"amount": decimal_string(abs(delta), currency), "currencyCode": currency}
        field = "creditAmount" if delta > 0 else "debitAmount"
        try:
            await self._mutate(
                ops.CREDIT if delta > 0 else ops.DEBIT,
                {"id": gid, "in": {field: amount, "note": note}},
                operation,
                write=True,
            )
        except PlatformRejected as refused:
            await journal.abandoned()
            if refused.code == "INSUFFICIENT_FUNDS":
                raise UnrecordedSpend(
                    "Shopify holds less than we know of: a checkout spend not yet taken in"
                ) from refused
            raise
        await journal.applied(balance_delta=delta)

    async def _settle(
        self, target: CardTarget, state: MirrorState, journal: Journal
    ) -> MirrorState:
        """A write's outcome was lost: look whether it happened before writing anything else."""
        pending = state.pending_write or {}
        if pending.get("op") == "create":
            found = await self.client.graphql(ops.FIND, {"query": target.code.lower()})
            nodes = found.get("giftCards", {}).get("nodes", [])
            mine = [n for n in nodes if n.get("note") == NOTE_PREFIX + target.account_id]
            if mine:
                return await self._adopt(mine[0], target, journal)
            await journal.abandoned()
            return MirrorState(None, None, None, None, None)
        if await self._has_transaction(str(state.external_id), pending):
            delta = int(pending.get("delta", 0))
            await journal.applied(balance_delta=delta)
            return state.settled(delta)
        await journal.abandoned()
        return state.settled()

    async def _has_transaction(self, external_id: str, pending: dict[str, Any]) -> bool:
        """Is the pending write among the card's transactions? Newest first, 20 at a time (a
        big page costs the GraphQL budget of every other call), until one older than the write,
        or 5 pages."""
        sent = parse_time(pending.get("at"))
        after: str | None = None
        for _ in range(5):
            data = await self.client.graphql(
                ops.RECENT_TRANSACTIONS, {"id": GID + external_id, "after": after}
            )
            page = (data.get("giftCard") or {}).get("transactions") or {}
            nodes = page.get("nodes", [])
            if any(n.get("note") == pending.get("note") for n in nodes):
                return True
            oldest = parse_time(nodes[-1].get("processedAt")) if nodes else None
            too_old = sent and oldest and oldest < sent - CLOCK_SKEW
            info = page.get("pageInfo") or {}
            if too_old or not info.get("hasNextPage"):
                return False
            after = info.get("endCursor")
        return False

    async def _mutate(
        self, document: str, variables: dict[str, Any], name: str, *, write: bool = True
    ) -> dict[str, Any]:
        data = await self.client.graphql(document, variables, write=write)
        payload: dict[str, Any] = data.get(name) or {}
        errors = payload.get("userErrors") or []
        if errors:
            first = errors[0]
            raise PlatformRejected(f"Shopify {name}: {first.get('message')}", first.get("code"))
        return payload

    # --- reading cards ---------------------------------------------------------------------

    async def read(self, external_id: str) -> PlatformCard | None:
        data = await self.client.graphql(ops.CARD, {"id": GID + external_id})
        card = data.get("giftCard")
        return _graphql_card(card, self.currency) if card else None

    async def list_cards(self, cursor: str | None) -> tuple[list[PlatformCard], str | None]:
        data = await self.client.graphql(ops.PAGE, {"after": cursor})
        page = data.get("giftCards") or {}
        cards = [_graphql_card(node, self.currency) for node in page.get("nodes", [])]
        info = page.get("pageInfo") or {}
        return cards, (info.get("endCursor") if info.get("hasNextPage") else None)

    async def refresh_credentials(self) -> dict[str, str] | None:
        return None  # a permanent access token: nothing to refresh

    async def aclose(self) -> None:
        return None


def _notification(customer: str | None, target: CardTarget) -> dict[str, Any]:
    """``giftCardCreate`` fields that decide who Shopify e-mails: ``notify`` defaults to true
    there, so a card is created with it false unless its customer is to be told."""
    if customer is None:
        return {"notify": False}
    fields: dict[str, Any] = {"notify": True, "customerId": customer}
    if target.recipient_message:
        fields["recipientAttributes"] = {
            "id": customer,
            "message": target.recipient_message,
            "preferredName": target.recipient_name,
        }
    return fields


def _spend_of(
    txn: dict[str, Any], order: dict[str, Any], summary: dict[str, Any]
) -> PlatformSpend | None:
    """A successful gift card payment or refund of an order, as a platform spend."""
    if txn.get("gateway") != "gift_card" or txn.get("status") != "success":
        return None
    card_id = (txn.get("receipt") or {}).get("gift_card_id")
    kind = txn.get("kind")
    if not card_id or kind not in (*SPENDING_KINDS, "refund"):
        return None
    currency = txn.get("currency") or order.get("currency") or "USD"
    amount = minor_units(txn["amount"], currency)
    return PlatformSpend(
        external_card_id=str(card_id),
        amount=amount if kind in SPENDING_KINDS else -amount,
        currency=currency,
        reference=f"txn:{txn['id']}",
        occurred_at=parse_time(txn.get("processed_at")),
        parent_reference=f"txn:{txn['parent_id']}" if txn.get("parent_id") else None,
        order=summary,
    )


def _graphql_card(node: dict[str, Any], currency: str) -> PlatformCard:
    money = node.get("balance") or {}
    cur = money.get("currencyCode") or currency
    initial = (node.get("initialValue") or {}).get("amount")
    return PlatformCard(
        external_id=str(node["id"]).removeprefix(GID),
        balance=minor_units(money.get("amount", "0"), cur),
        currency=cur,
        enabled=bool(node.get("enabled", True)),
        expires_on=date.fromisoformat(node["expiresOn"]) if node.get("expiresOn") else None,
        last_characters=node.get("lastCharacters"),
        initial_value=minor_units(initial, cur) if initial else None,
    )


def _rest_card(payload: dict[str, Any], currency: str) -> PlatformCard:
    cur = payload.get("currency") or currency
    return PlatformCard(
        external_id=str(payload["id"]),
        balance=minor_units(payload.get("balance", "0"), cur),
        currency=cur,
        enabled=payload.get("disabled_at") is None,
        expires_on=date.fromisoformat(payload["expires_on"]) if payload.get("expires_on") else None,
        last_characters=payload.get("last_characters"),
        initial_value=minor_units(payload["initial_value"], cur)
        if payload.get("initial_value")
        else None,
    )
