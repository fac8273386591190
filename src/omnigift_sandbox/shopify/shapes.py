"""REST JSON shapes (integrations.md 1.2, 1.4), which are also the webhook payloads (1.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .money import rest_amount
from .state import GiftCard, Order, OrderTransaction, Refund, Store, WebhookSubscription


def rest_time(moment: datetime | None) -> str | None:
    """REST timestamps carry the shop's offset; the simulated shop runs in UTC."""
    return moment.isoformat() if moment else None


def gift_card(card: GiftCard, *, with_code: bool = False) -> dict[str, Any]:
    """The REST GiftCard; ``code`` only in a create response [C]."""
    body: dict[str, Any] = {
        "id": card.id,
        "balance": rest_amount(card.balance),
        "created_at": rest_time(card.created_at),
        "updated_at": rest_time(card.updated_at),
        "currency": card.currency,
        "initial_value": rest_amount(card.initial_value),
        "disabled_at": rest_time(card.disabled_at),
        "line_item_id": card.line_item_id,
        "api_client_id": card.api_client_id,
        "user_id": card.user_id,
        "customer_id": card.customer_id,
        "note": card.note,
        "expires_on": card.expires_on.isoformat() if card.expires_on else None,
        "template_suffix": card.template_suffix,
        "last_characters": card.last_characters,
        "order_id": card.order_id,
    }
    if with_code:
        body["code"] = card.code
    return body


def order_transaction(txn: OrderTransaction) -> dict[str, Any]:
    """An order transaction; gift card ones carry the card in ``receipt`` [C]."""
    receipt: dict[str, Any] = {}
    if txn.gateway == "gift_card":
        receipt = {
            "gift_card_id": txn.gift_card_id,
            "gift_card_last_characters": txn.gift_card_last_characters,
        }
    else:
        receipt = {"paid_amount": rest_amount(txn.amount)}
    return {
        "id": txn.id,
        "admin_graphql_api_id": f"gid://shopify/OrderTransaction/{txn.id}",
        "order_id": txn.order_id,
        "kind": txn.kind,
        "gateway": txn.gateway,
        "status": "success",
        "message": None,
        "error_code": None,
        "authorization": None,
        "amount": rest_amount(txn.amount),
        "currency": txn.currency,
        "parent_id": txn.parent_id,
        "receipt": receipt,
        "processed_at": rest_time(txn.processed_at),
        "created_at": rest_time(txn.processed_at),
        "source_name": "web",
        "location_id": None,
        "user_id": None,
        "device_id": None,
        "test": False,
    }


def refund(item: Refund) -> dict[str, Any]:
    """A refund: the ``refunds/create`` payload and an entry of ``order.refunds``."""
    return {
        "id": item.id,
        "admin_graphql_api_id": f"gid://shopify/Refund/{item.id}",
        "order_id": item.order_id,
        "note": item.note,
        "created_at": rest_time(item.created_at),
        "processed_at": rest_time(item.created_at),
        "restock": False,
        "user_id": None,
        "refund_line_items": [
            {
                "id": item.id * 100 + n,
                "line_item_id": line_id,
                "quantity": quantity,
                "restock_type": "no_restock",
            }
            for n, (line_id, quantity) in enumerate(item.line_items)
        ],
        "order_adjustments": [],
        "transactions": [order_transaction(t) for t in item.transactions],
    }


def order(store: Store, item: Order) -> dict[str, Any]:
    """The REST Order (also the orders/* webhook body). Redemptions are not itemised here:
    only ``payment_gateway_names`` shows ``gift_card`` [C]."""
    total = rest_amount(item.total)
    current = rest_amount(item.total - item.refunded)
    customer = store.customers.get(item.customer_id) if item.customer_id else None
    gateways: list[str] = []
    for txn in item.transactions:
        if txn.kind == "sale" and txn.gateway not in gateways:
            gateways.append(txn.gateway)
    return {
        "id": item.id,
        "admin_graphql_api_id": f"gid://shopify/Order/{item.id}",
        "name": f"#{item.number}",
        "order_number": item.number,
        "number": item.number - 1000,
        "email": item.email,
        "contact_email": item.email,
        "currency": item.currency,
        "presentment_currency": item.currency,
        "financial_status": item.financial_status,
        "fulfillment_status": item.fulfillment_status,
        "subtotal_price": total,
        "current_subtotal_price": current,
        "total_price": total,
        "current_total_price": current,
        "total_line_items_price": total,
        "total_tax": "0.00",
        "total_discounts": "0.00",
        "total_outstanding": "0.00",
        "taxes_included": False,
        "payment_gateway_names": gateways,
        "source_name": "web",
        "tags": "",
        "note": None,
        "test": False,
        "cancelled_at": None,
        "cancel_reason": None,
        "closed_at": None,
        "customer": (
            {
                "id": customer.id,
                "admin_graphql_api_id": f"gid://shopify/Customer/{customer.id}",
                "email": customer.email,
                "first_name": customer.first_name,
                "last_name": customer.last_name,
            }
            if customer
            else None
        ),
        "shipping_address": {"name": item.shipping_name} if item.shipping_name else None,
        "line_items": [
            {
                "id": line.id,
                "admin_graphql_api_id": f"gid://shopify/LineItem/{line.id}",
                "title": line.title,
                "name": line.title,
                "sku": line.sku,
                "product_id": line.product_id,
                "variant_id": line.variant_id,
                "quantity": line.quantity,
                "price": rest_amount(line.price),
                "gift_card": line.gift_card,
                # A gift-card product line looks like this in public webhook captures [O].
                "fulfillment_service": "gift_card" if line.gift_card else "manual",
                "requires_shipping": not line.gift_card,
                "taxable": not line.gift_card,
                "grams": 0,
                "tax_lines": [],
                "discount_allocations": [],
                "properties": [],
            }
            for line in item.line_items
        ],
        "refunds": [refund(r) for r in item.refunds],
        "created_at": rest_time(item.created_at),
        "updated_at": rest_time(item.updated_at),
        "processed_at": rest_time(item.created_at),
    }


def subscription(sub: WebhookSubscription) -> dict[str, Any]:
    """A REST webhook subscription."""
    return {
        "id": sub.id,
        "address": sub.address,
        "topic": sub.topic,
        "created_at": rest_time(sub.created_at),
        "updated_at": rest_time(sub.updated_at),
        "format": sub.format,
        "fields": [],
        "metafield_namespaces": [],
        "api_version": sub.api_version,
        "private_metafield_namespaces": [],
    }
