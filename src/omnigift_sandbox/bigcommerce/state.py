"""The store's in-memory records: certificates, orders, order products, transactions, hooks.

Everything lives in one :class:`Store`; the app runs on one event loop and no route awaits in
the middle of a change, so each request's change is atomic — and two writers who each read a
balance and PUT a new one lose an update, exactly as on BigCommerce (last write wins).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

# v2 order status ids and names (integrations.md 2.3 [C]).
ORDER_STATUSES: dict[int, str] = {
    0: "Incomplete",
    1: "Pending",
    2: "Shipped",
    3: "Partially Shipped",
    4: "Refunded",
    5: "Cancelled",
    6: "Declined",
    7: "Awaiting Payment",
    8: "Awaiting Pickup",
    9: "Awaiting Shipment",
    10: "Completed",
    11: "Awaiting Fulfillment",
    12: "Manual Verification Required",
    13: "Disputed",
    14: "Partially Refunded",
}


@dataclass
class Certificate:
    """A v2 gift certificate. ``balance`` is a plain writable number: there is no ledger."""

    id: int
    code: str
    amount: Decimal
    balance: Decimal
    status: str
    to_name: str
    to_email: str
    from_name: str
    from_email: str
    currency_code: str
    purchase_date: datetime
    expiry_date: datetime | None = None
    customer_id: int = 0
    order_id: int = 0
    template: str = "general.html"
    message: str = ""


@dataclass
class OrderProduct:
    """One line of an order (``/v2/orders/{id}/products``)."""

    id: int
    order_id: int
    name: str
    sku: str
    type: str
    base_price: Decimal
    quantity: int
    gift_certificate_id: int | None = None


@dataclass
class Transaction:
    """A v3 order transaction: a payment or refund by one method."""

    id: int
    order_id: int
    event: str
    method: str
    amount: Decimal
    currency: str
    gateway: str
    date_created: datetime
    status: str = "ok"
    gift_certificate: dict[str, Any] | None = None


@dataclass
class Refund:
    """A v3 order refund (``/v3/orders/{id}/payment_actions/refunds``): what it paid back, by
    which methods, and for which items."""

    id: int
    order_id: int
    created: datetime
    reason: str
    total_amount: Decimal
    items: list[dict[str, Any]]
    payments: list[dict[str, Any]]


@dataclass
class Order:
    """A v2 order with its lines and v3 transactions."""

    id: int
    status_id: int
    date_created: datetime
    date_modified: datetime
    currency_code: str
    first_name: str
    last_name: str
    email: str
    subtotal: Decimal
    gift_certificate_amount: Decimal
    payment_method: str
    products: list[OrderProduct] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)
    refunded: Decimal = Decimal("0")
    refunds: list[Refund] = field(default_factory=list)
    customer_id: int = 0

    @property
    def total(self) -> Decimal:
        """Taxes and shipping are not simulated: the total is the subtotal."""
        return self.subtotal


@dataclass
class Hook:
    """A registered v3 webhook."""

    id: int
    scope: str
    destination: str
    is_active: bool
    headers: dict[str, str]
    created_at: int
    updated_at: int


@dataclass
class Store:
    """All records of one store, with id counters and the seeded random source."""

    seed: int = 0
    certificates: dict[int, Certificate] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    hooks: dict[int, Hook] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)  # noqa: S311 - codes here are test data, not secrets

    def next_id(self, kind: str, start: int = 1) -> int:
        """The next id for ``kind``; ids are never reused, even after deletes."""
        value = self.counters.get(kind, start - 1) + 1
        self.counters[kind] = value
        return value

    def new_code(self) -> str:
        """A fresh certificate code shaped like BigCommerce's, ``FFZ-5N4-C7M-S78``."""
        alphabet = string.ascii_uppercase + string.digits
        while True:
            code = "-".join("".join(self.rng.choice(alphabet) for _ in range(3)) for _ in range(4))
            if self.certificate_by_code(code) is None:
                return code

    def certificate_by_code(self, code: str) -> Certificate | None:
        """The certificate with this exact code, if any."""
        for certificate in self.certificates.values():
            if certificate.code == code:
                return certificate
        return None
