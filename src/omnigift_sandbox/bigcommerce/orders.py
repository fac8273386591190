"""Checkout and refund rules (integrations.md 2.3, giftcard-apis.md 3.3); JSON in order_views.

Pure functions over :class:`Store`. Each returns the webhook events it raises as
``(scope, data)`` pairs; the caller queues them. Nothing is changed when a rule refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from . import certificates
from .errors import ApiError
from .formats import FormatError, money, money_number, parse_money
from .state import Certificate, Order, OrderProduct, Refund, Store, Transaction

PRODUCT_TYPES = ("physical", "digital", "giftcertificate")
ZERO = Decimal("0")

Events = list[tuple[str, dict[str, Any]]]


@dataclass
class Line:
    """A checked product line of a checkout request."""

    name: str
    price: Decimal
    quantity: int
    type: str
    sku: str
    recipient_name: str
    recipient_email: str


def checkout(
    store: Store, body: dict[str, Any], currencies: set[str], default_currency: str
) -> tuple[Order, list[Certificate], Events]:
    """Place a paid order: certificates pay first, in the order given, the card pays the rest.

    Each certificate pays ``min(balance, still due)`` and its balance drops. Gift certificate
    products make one active certificate per unit. Events: ``store/order/created`` while the
    order is still Incomplete (status 0) [C], ``store/order/statusUpdated`` 0 → 11, then one
    ``store/order/transaction/created`` per transaction.
    """
    email = body.get("email")
    if not isinstance(email, str) or not email:
        raise ApiError(422, "The field 'email' is required.")
    currency = body.get("currency", default_currency)
    if currency not in currencies:
        raise ApiError(422, f"The currency '{currency}' is not enabled in this store.")
    lines = [_line(raw, email) for raw in _list(body.get("products"), "products")]
    if not lines:
        raise ApiError(422, "An order needs at least one product.")
    codes = _list(body.get("gift_certificate_codes", []), "gift_certificate_codes")
    now = datetime.now(UTC)
    paying = _paying_certificates(store, codes, currency, now)
    if paying and any(line.type == "giftcertificate" for line in lines):
        # "Not able to purchase a gift certificate with a gift certificate" [C 3.3].
        raise ApiError(422, "A gift certificate cannot be bought with a gift certificate.")

    subtotal = sum((line.price * line.quantity for line in lines), ZERO)
    order = Order(
        id=store.next_id("order", start=100),
        status_id=0,
        date_created=now,
        date_modified=now,
        currency_code=currency,
        first_name=str(body.get("first_name", "")),
        last_name=str(body.get("last_name", "")),
        email=email,
        subtotal=subtotal,
        gift_certificate_amount=ZERO,
        payment_method="Credit Card",
    )
    events: Events = [("store/order/created", {"type": "order", "id": order.id})]
    due = subtotal
    for certificate in paying:
        if due <= 0:
            break
        starting = certificate.balance
        paid = min(starting, due)
        certificate.balance = starting - paid
        due -= paid
        order.gift_certificate_amount += paid
        _add_transaction(
            store, order, "purchase", "gift_certificate", paid, now, _card_of(certificate, starting)
        )
    if due > 0:
        _add_transaction(store, order, "purchase", "credit_card", due, now, None)
    if order.gift_certificate_amount == subtotal:
        order.payment_method = "Gift Certificate"  # [U] label when certificates paid it all
    issued = _add_products(store, order, lines, currency, now)
    store.orders[order.id] = order
    events += set_status(order, 11, now)
    events += [
        (
            "store/order/transaction/created",
            # [U] the transaction id is added so split payments do not share one ``hash``.
            {"type": "order", "id": order.id, "transaction": {"id": t.id}},
        )
        for t in order.transactions
    ]
    return order, issued, events


def refund(store: Store, order: Order, body: dict[str, Any]) -> tuple[list[Transaction], Events]:
    """Refund ``amount`` (default: the listed ``items``' price, else all that is left):
    certificates that paid get their share back first (balance increased), the card the rest.
    ``items`` (``[{"item_type": "PRODUCT", "item_id", "quantity"}]``, the v3 refund's RefundItem
    [C]) name the lines given back. The refund is kept for ``GET /v3/orders/{id}/payment_actions/
    refunds``. Status becomes 14 Partially Refunded or 4 Refunded; raises
    ``store/order/refund/created`` with a ``refund_id`` [C] and statusUpdated."""
    items = _refund_items(order, body.get("items"))
    left = order.total - order.refunded
    try:
        if "amount" in body:
            amount = parse_money(body["amount"], "amount")
        elif items:
            amount = sum((Decimal(str(i["requested_amount"])) for i in items), ZERO)
        else:
            amount = left
    except FormatError as exc:
        raise ApiError(422, str(exc)) from exc
    if amount <= 0 or amount > left:
        raise ApiError(422, f"The refund amount must be above 0 and at most {money(left)}.")
    now = datetime.now(UTC)
    made = _pay_back(store, order, amount, now)
    order.refunded += amount
    record = Refund(
        id=store.next_id("refund"),
        order_id=order.id,
        created=now,
        reason=str(body.get("reason") or ""),
        total_amount=amount,
        items=items,
        payments=[
            {"provider_id": t.gateway, "amount": money_number(t.amount), "offline": False}
            for t in made
        ],
    )
    order.refunds.append(record)
    events: Events = [
        (
            "store/order/refund/created",
            {"type": "order", "id": order.id, "refund": {"refund_id": record.id}},
        ),
    ]
    events += set_status(order, 4 if order.refunded == order.total else 14, now)
    return made, events


def _pay_back(store: Store, order: Order, amount: Decimal, now: datetime) -> list[Transaction]:
    """The refund transactions: each payment gets back its share, certificates first."""
    refunded_back: dict[str, Decimal] = {}
    for t in order.transactions:
        if t.event == "refund":
            refunded_back[_key(t)] = refunded_back.get(_key(t), ZERO) + t.amount
    made: list[Transaction] = []
    due = amount
    payments = [t for t in order.transactions if t.event == "purchase"]
    # Certificates before the card, so gift money goes back to where it came from.
    payments.sort(key=lambda t: t.method != "gift_certificate")
    for payment in payments:
        if due <= 0:
            break
        share = min(due, payment.amount - refunded_back.get(_key(payment), ZERO))
        if share <= 0:
            continue
        due -= share
        card = None
        if payment.gift_certificate is not None:
            certificate = store.certificate_by_code(payment.gift_certificate["code"])
            if certificate is not None:
                starting = certificate.balance
                certificate.balance = starting + share
                card = _card_of(certificate, starting)
            else:  # deleted since: report what the payment recorded
                card = dict(payment.gift_certificate)
        made.append(_add_transaction(store, order, "refund", payment.method, share, now, card))
    return made


def _refund_items(order: Order, raw: Any) -> list[dict[str, Any]]:
    """The refund's PRODUCT items, checked against the order: a line can't be given back more
    times than it was bought."""
    if raw is None:
        return []
    given_back: dict[int, int] = {}
    for earlier in order.refunds:
        for item in earlier.items:
            given_back[item["item_id"]] = given_back.get(item["item_id"], 0) + item["quantity"]
    products = {p.id: p for p in order.products}
    items = []
    for entry in _list(raw, "items"):
        if not isinstance(entry, dict) or entry.get("item_type") != "PRODUCT":
            raise ApiError(422, "Only PRODUCT items can be refunded here.")
        product = products.get(int(entry.get("item_id") or 0))
        quantity = entry.get("quantity", 1)
        if product is None or not isinstance(quantity, int) or quantity < 1:
            raise ApiError(422, f"Item {entry.get('item_id')} is not a line of this order.")
        given_back[product.id] = given_back.get(product.id, 0) + quantity
        if given_back[product.id] > product.quantity:
            raise ApiError(422, f"Item {product.id} has only {product.quantity} to refund.")
        items.append(
            {
                "item_type": "PRODUCT",
                "item_id": product.id,
                "reason": str(entry.get("reason") or ""),
                "quantity": quantity,
                "requested_amount": money_number(product.base_price * quantity),
            }
        )
    return items


def set_status(order: Order, status_id: int, now: datetime) -> Events:
    """Move an order to ``status_id``; raises ``store/order/statusUpdated`` [C]."""
    previous = order.status_id
    if previous == status_id:
        return []
    order.status_id = status_id
    order.date_modified = now
    data = {
        "type": "order",
        "id": order.id,
        "status": {"previous_status_id": previous, "new_status_id": status_id},
    }
    return [("store/order/statusUpdated", data)]


def _paying_certificates(
    store: Store, codes: list[Any], currency: str, now: datetime
) -> list[Certificate]:
    found: list[Certificate] = []
    for code in codes:
        certificate = store.certificate_by_code(code) if isinstance(code, str) else None
        if certificate is None:
            raise ApiError(422, f"The gift certificate '{code}' was not found.")
        if certificate in found:
            raise ApiError(422, f"The gift certificate '{code}' was given twice.")
        reason = certificates.usable(certificate, currency, now)
        if reason is not None:
            raise ApiError(422, reason)
        found.append(certificate)
    return found


def _line(raw: Any, buyer_email: str) -> Line:
    if not isinstance(raw, dict):
        raise ApiError(422, "Each product must be an object.")
    kind = raw.get("type", "physical")
    if kind not in PRODUCT_TYPES:
        raise ApiError(422, f"A product 'type' must be one of {', '.join(PRODUCT_TYPES)}.")
    quantity = raw.get("quantity", 1)
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
        raise ApiError(422, "A product 'quantity' must be a positive integer.")
    try:
        price = parse_money(raw.get("price"), "price")
    except FormatError as exc:
        raise ApiError(422, str(exc)) from exc
    if price < 0 or (kind == "giftcertificate" and price <= 0):
        raise ApiError(422, "A product 'price' is out of range.")
    recipient = raw.get("recipient") or {}
    if not isinstance(recipient, dict):
        raise ApiError(422, "A product 'recipient' must be an object.")
    return Line(
        name=str(raw.get("name", "Product")),
        price=price,
        quantity=quantity,
        type=kind,
        sku=str(raw.get("sku", "")),
        recipient_name=str(recipient.get("name", "")),
        recipient_email=str(recipient.get("email", buyer_email)),
    )


def _add_products(
    store: Store, order: Order, lines: list[Line], currency: str, now: datetime
) -> list[Certificate]:
    issued: list[Certificate] = []
    for line in lines:
        if line.type != "giftcertificate":
            order.products.append(_product(store, order, line, line.quantity, None))
            continue
        # One line per certificate so each carries its own gift_certificate_id [U].
        for _ in range(line.quantity):
            certificate = Certificate(
                id=store.next_id("certificate"),
                code=store.new_code(),
                amount=line.price,
                balance=line.price,
                status="active",
                to_name=line.recipient_name,
                to_email=line.recipient_email,
                from_name=f"{order.first_name} {order.last_name}".strip(),
                from_email=order.email,
                currency_code=currency,
                purchase_date=now,
                order_id=order.id,
            )
            store.certificates[certificate.id] = certificate
            issued.append(certificate)
            order.products.append(_product(store, order, line, 1, certificate.id))
    return issued


def _product(
    store: Store, order: Order, line: Line, quantity: int, certificate_id: int | None
) -> OrderProduct:
    return OrderProduct(
        id=store.next_id("order_product"),
        order_id=order.id,
        name=line.name,
        sku=line.sku,
        type=line.type,
        base_price=line.price,
        quantity=quantity,
        gift_certificate_id=certificate_id,
    )


def _add_transaction(
    store: Store,
    order: Order,
    event: str,
    method: str,
    amount: Decimal,
    now: datetime,
    card: dict[str, Any] | None,
) -> Transaction:
    gateway = "giftcertificate" if method == "gift_certificate" else "braintree"
    transaction = Transaction(
        id=store.next_id("transaction"),
        order_id=order.id,
        event=event,
        method=method,
        amount=amount,
        currency=order.currency_code,
        gateway=gateway,
        date_created=now,
        gift_certificate=card,
    )
    order.transactions.append(transaction)
    return transaction


def _card_of(certificate: Certificate, starting: Decimal) -> dict[str, Any]:
    return {
        "code": certificate.code,
        "original_balance": money_number(certificate.amount),
        "starting_balance": money_number(starting),
        "remaining_balance": money_number(certificate.balance),
        "status": certificate.status,
    }


def _key(t: Transaction) -> str:
    if t.gift_certificate is not None:
        return f"gc:{t.gift_certificate['code']}"
    return t.method


def _list(value: Any, name: str) -> list[Any]:
    if not isinstance(value, list):
        raise ApiError(422, f"The field '{name}' must be a list.")
    return value
