"""How orders, their lines and their transactions look on the wire (integrations.md 2.3)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .formats import money, money_number, rfc2822
from .state import ORDER_STATUSES, Order, OrderProduct, Refund, Transaction

ZERO = Decimal("0")


def show(order: Order) -> dict[str, Any]:
    """The v2 order JSON: money as 4-dp strings, dates RFC 2822 [C]. No tax or shipping."""
    return {
        "id": order.id,
        "customer_id": order.customer_id,
        "date_created": rfc2822(order.date_created),
        "date_modified": rfc2822(order.date_modified),
        "status_id": order.status_id,
        "status": ORDER_STATUSES[order.status_id],
        "subtotal_ex_tax": money(order.subtotal),
        "subtotal_inc_tax": money(order.subtotal),
        "subtotal_tax": money(ZERO),
        "total_ex_tax": money(order.total),
        "total_inc_tax": money(order.total),
        "total_tax": money(ZERO),
        "items_total": sum(p.quantity for p in order.products),
        "payment_method": order.payment_method,
        "refunded_amount": money(order.refunded),
        "gift_certificate_amount": money(order.gift_certificate_amount),
        "store_credit_amount": money(ZERO),
        "currency_code": order.currency_code,
        "billing_address": {
            "first_name": order.first_name,
            "last_name": order.last_name,
            "email": order.email,
        },
    }


def show_product(product: OrderProduct) -> dict[str, Any]:
    """A line of ``/v2/orders/{id}/products``."""
    return {
        "id": product.id,
        "order_id": product.order_id,
        "name": product.name,
        "sku": product.sku,
        "type": product.type,
        "base_price": money(product.base_price),
        "price_ex_tax": money(product.base_price),
        "price_inc_tax": money(product.base_price),
        "quantity": product.quantity,
        "gift_certificate_id": product.gift_certificate_id,
    }


def show_shipping(order: Order) -> list[dict[str, Any]]:
    """``/v2/orders/{id}/shipping_addresses``: one address when something physical ships."""
    if not any(p.type == "physical" for p in order.products):
        return []
    return [
        {
            "id": order.id,
            "order_id": order.id,
            "first_name": order.first_name,
            "last_name": order.last_name,
            "email": order.email,
            "street_1": "1 Simulated Way",
            "city": "Austin",
            "state": "Texas",
            "zip": "78701",
            "country": "United States",
            "country_iso2": "US",
            "items_total": sum(p.quantity for p in order.products if p.type == "physical"),
        }
    ]


def show_transaction(t: Transaction) -> dict[str, Any]:
    """A v3 transaction: ``amount`` is a number; ``order_id`` a string as in the docs' example
    [U — types in the example are illustrative]."""
    shown: dict[str, Any] = {
        "id": t.id,
        "order_id": str(t.order_id),
        "event": t.event,
        "method": t.method,
        "amount": money_number(t.amount),
        "currency": t.currency,
        "gateway": t.gateway,
        "status": t.status,
        "date_created": t.date_created.isoformat(),
    }
    if t.gift_certificate is not None:
        shown["gift_certificate"] = t.gift_certificate
    return shown


def show_refund(refund: Refund) -> dict[str, Any]:
    """A v3 order refund [C: field names of the Refund model; values illustrative]."""
    return {
        "id": refund.id,
        "order_id": refund.order_id,
        "user_id": 0,
        "created": refund.created.isoformat(),
        "reason": refund.reason,
        "total_amount": money_number(refund.total_amount),
        "total_tax": 0,
        "uses_merchant_override_values": False,
        "items": refund.items,
        "payments": refund.payments,
    }
