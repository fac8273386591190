"""What shoppers and staff do in Shopify, driven from the control plane: a checkout paying with
gift cards (integrations.md 1.4), a refund back to the cards, a card issued in the admin."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from . import rules, shapes
from .money import parse_amount
from .state import GiftCard, LineItem, Order, OrderTransaction, Refund, Store
from .webhooks import WebhookSender

ZERO = Decimal("0")
STAFF_USER_ID = 799407056  # the staff member who issues cards in the admin


class Refused(ValueError):
    """The request cannot be carried out; nothing was changed. Answered 422 with the message."""


@dataclass
class CheckoutResult:
    order: Order
    issued: list[GiftCard]


def _line(store: Store, raw: Any) -> LineItem:
    if not isinstance(raw, dict):
        raise Refused("each line item must be an object")
    price = parse_amount(raw.get("price"))
    quantity = raw.get("quantity", 1)
    if price is None or price < 0:
        raise Refused("line item price must be a non-negative decimal string")
    if not isinstance(quantity, int) or quantity < 1:
        raise Refused("line item quantity must be a positive integer")
    return LineItem(
        id=store.next_id("line_item"),
        title=str(raw.get("title") or "Item"),
        price=price.quantize(Decimal("0.01")),
        quantity=quantity,
        sku=raw.get("sku"),
        product_id=raw.get("product_id"),
        variant_id=raw.get("variant_id"),
        gift_card=bool(raw.get("gift_card", False)),
    )


def _cards_for(store: Store, codes: Any) -> list[GiftCard]:
    if not isinstance(codes, list):
        raise Refused("gift_card_codes must be a list")
    cards: list[GiftCard] = []
    today = store.clock.today()
    for raw in codes:
        card = store.card_by_code(rules.normalise_code(str(raw)))
        if card is None:
            raise Refused(f"gift card {raw!r} is not valid")
        if not card.enabled:
            raise Refused(f"gift card ending {card.last_characters} is disabled")
        if card.expired(today):
            raise Refused(f"gift card ending {card.last_characters} has expired")
        if card.currency != store.config.currency:
            raise Refused(f"gift card ending {card.last_characters} is in another currency")
        if card not in cards:
            cards.append(card)
    return cards


def checkout(store: Store, sender: WebhookSender, body: dict[str, Any]) -> CheckoutResult:
    """Place a paid order. Everything is checked before anything changes."""
    raw_lines = body.get("line_items")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise Refused("line_items must be a non-empty list")
    cards = _cards_for(store, body.get("gift_card_codes", []))
    lines = [_line(store, raw) for raw in raw_lines]
    email = body.get("email")
    customer = None
    if isinstance(email, str) and email:
        customer = store.customer_by_email(email)
        names = body.get("customer") or {}
        customer.first_name = names.get("first_name", customer.first_name)
        customer.last_name = names.get("last_name", customer.last_name)
    store.order_number += 1
    now = store.clock.now()
    order = Order(
        id=store.next_id("order"),
        number=store.order_number,
        email=email if isinstance(email, str) else None,
        currency=store.config.currency,
        customer_id=customer.id if customer else None,
        shipping_name=(body.get("shipping_address") or {}).get("name"),
        line_items=lines,
        created_at=now,
        updated_at=now,
    )
    remaining = order.total
    touched: list[GiftCard] = []
    for card in cards:
        spend = min(card.balance, remaining)
        if spend <= 0:
            continue
        rules.spend_at_checkout(store, card, spend)
        touched.append(card)
        order.transactions.append(_sale(store, order, "gift_card", spend, card))
        remaining -= spend
    if remaining > 0:
        order.transactions.append(_sale(store, order, "bogus", remaining, None))
    issued: list[GiftCard] = []
    for line in lines:
        if not line.gift_card:
            continue
        # Digital gift cards are fulfilled and activated at once, one card per unit [C].
        for _ in range(line.quantity):
            made = rules.create_card(
                store,
                initial_value=line.price,
                customer_id=order.customer_id,
                order_id=order.id,
                line_item_id=line.id,
                enforce_limit=False,  # purchases follow the separate $10,000 purchase limit
            )
            assert not isinstance(made, list)  # no code given and no limit: cannot fail
            issued.append(made)
    if issued:
        order.fulfillment_status = (
            "fulfilled" if all(line.gift_card for line in lines) else "partial"
        )
    store.orders[order.id] = order
    payload = shapes.order(store, order)
    sender.emit("orders/create", payload)
    sender.emit("orders/paid", payload)
    for card in issued:
        sender.emit("gift_cards/create", shapes.gift_card(card))
    for card in touched:
        # Unconfirmed (integrations.md 1.5 [U]): whether a checkout redemption fires this.
        sender.emit("gift_cards/update", shapes.gift_card(card))
    return CheckoutResult(order=order, issued=issued)


def _sale(
    store: Store, order: Order, gateway: str, amount: Decimal, card: GiftCard | None
) -> OrderTransaction:
    return OrderTransaction(
        id=store.next_id("order_txn"),
        order_id=order.id,
        kind="sale",
        gateway="gift_card" if gateway == "gift_card" else "bogus",
        amount=amount,
        currency=order.currency,
        parent_id=None,
        gift_card_id=card.id if card else None,
        gift_card_last_characters=card.last_characters if card else None,
        processed_at=store.clock.now(),
    )


def refund(store: Store, sender: WebhookSender, order_id: int, body: dict[str, Any]) -> Refund:
    """Refund ``amount``: to the gift cards that paid first, then to the other gateway."""
    order = store.orders.get(order_id)
    if order is None:
        raise Refused("order not found")
    amount = parse_amount(body.get("amount"))
    if amount is None or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise Refused("amount must be a positive decimal string with at most two decimals")
    refundable = order.total - order.refunded
    if amount > refundable:
        raise Refused(f"amount exceeds the refundable {refundable}")
    now = store.clock.now()
    item = Refund(
        id=store.next_id("refund"),
        order_id=order.id,
        note=body.get("note"),
        created_at=now,
        transactions=[],
        line_items=_refunded_lines(order, body.get("refund_line_items")),
    )
    left = amount
    touched: list[GiftCard] = []
    sales = sorted(
        (t for t in order.transactions if t.kind == "sale"), key=lambda t: t.gateway != "gift_card"
    )
    for sale in sales:
        already = sum((t.amount for t in order.transactions if t.parent_id == sale.id), ZERO)
        portion = min(sale.amount - already, left)
        if portion <= 0:
            continue
        txn = OrderTransaction(
            id=store.next_id("order_txn"),
            order_id=order.id,
            kind="refund",
            gateway=sale.gateway,
            amount=portion,
            currency=order.currency,
            parent_id=sale.id,
            gift_card_id=sale.gift_card_id,
            gift_card_last_characters=sale.gift_card_last_characters,
            processed_at=now,
        )
        if sale.gift_card_id is not None:
            card = store.cards[sale.gift_card_id]
            rules.refund_to_card(store, card, portion)
            touched.append(card)
        order.transactions.append(txn)
        item.transactions.append(txn)
        left -= portion
        if left <= 0:
            break
    order.refunds.append(item)
    order.financial_status = "refunded" if order.refunded >= order.total else "partially_refunded"
    order.updated_at = now
    sender.emit("refunds/create", shapes.refund(item))
    sender.emit("orders/updated", shapes.order(store, order))
    for card in touched:
        sender.emit("gift_cards/update", shapes.gift_card(card))  # unconfirmed, as above
    return item


def _refunded_lines(order: Order, raw: Any) -> list[tuple[int, int]]:
    """``refund_line_items`` [C]: which lines (and how many of each) the refund returns; never
    more of a line than was bought and not refunded before."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise Refused("refund_line_items must be a list")
    bought = {line.id: line.quantity for line in order.line_items}
    for earlier in order.refunds:
        for line_id, quantity in earlier.line_items:
            bought[line_id] -= quantity
    lines = []
    for entry in raw:
        line_id, quantity = entry.get("line_item_id"), entry.get("quantity", 1)
        if line_id not in bought or not isinstance(quantity, int) or quantity < 1:
            raise Refused("each refund line item needs a line_item_id of the order and a quantity")
        if quantity > bought[line_id]:
            raise Refused(f"line {line_id} has only {bought[line_id]} left to refund")
        bought[line_id] -= quantity
        lines.append((int(line_id), quantity))
    return lines


def staff_card(store: Store, sender: WebhookSender, body: dict[str, Any]) -> GiftCard:
    """A card a staff member issues in the Shopify admin (no api_client_id, a user_id)."""
    amount = parse_amount(body.get("initial_value"))
    if amount is None:
        raise Refused("initial_value must be a decimal string")
    customer_id = None
    email = (body.get("customer") or {}).get("email")
    if isinstance(email, str) and email:
        customer_id = store.customer_by_email(email).id
    expires = body.get("expires_on")
    try:
        expires_on = date.fromisoformat(expires) if expires else None
    except (TypeError, ValueError) as exc:
        raise Refused("expires_on must be YYYY-MM-DD") from exc
    result = rules.create_card(
        store,
        initial_value=amount,
        code=body.get("code"),
        customer_id=customer_id,
        expires_on=expires_on,
        note=body.get("note"),
        user_id=STAFF_USER_ID,
        field_prefix=(),
    )
    if isinstance(result, list):
        raise Refused("; ".join(f"{e.code}: {e.message}" for e in result))
    sender.emit("gift_cards/create", shapes.gift_card(result))
    return result
