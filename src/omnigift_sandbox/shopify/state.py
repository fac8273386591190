"""The shop's records, in memory: gift cards, their transactions, customers, orders, webhooks."""

from __future__ import annotations

import random
import string
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from .clock import Clock
from .config import ShopifyConfig

CODE_ALPHABET = string.ascii_lowercase + string.digits


@dataclass
class CardTransaction:
    """A GiftCardCreditTransaction or GiftCardDebitTransaction; debits carry a negative amount."""

    id: int
    kind: Literal["credit", "debit"]
    amount: Decimal
    currency: str
    note: str | None
    processed_at: datetime
    created_at: datetime
    gift_card_id: int


@dataclass
class GiftCard:
    """A Shopify gift card; ``code`` is the normalised full code, never shown after creation."""

    id: int
    code: str
    initial_value: Decimal
    balance: Decimal
    currency: str
    created_at: datetime
    updated_at: datetime
    expires_on: date | None = None
    note: str | None = None
    template_suffix: str | None = None
    customer_id: int | None = None
    order_id: int | None = None
    line_item_id: int | None = None
    disabled_at: datetime | None = None
    api_client_id: int | None = None
    user_id: int | None = None
    transactions: list[CardTransaction] = field(default_factory=list)
    notify: bool = True  # false: Shopify sends the customer and recipient nothing [C]
    recipient: Recipient | None = None

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    @property
    def last_characters(self) -> str:
        return self.code[-4:]

    @property
    def masked_code(self) -> str:
        return f"•••• •••• •••• {self.last_characters}"

    def expired(self, today: date) -> bool:
        """A card is usable through its ``expires_on`` day."""
        return self.expires_on is not None and today > self.expires_on


@dataclass
class Customer:
    id: int
    email: str | None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Recipient:
    """A gift card's ``recipientAttributes``: the customer it is for, and what to tell them."""

    customer_id: int
    message: str | None = None
    preferred_name: str | None = None
    send_notification_at: datetime | None = None


@dataclass(frozen=True)
class Notification:
    """An e-mail the shop sent about a gift card (the simulator keeps it instead of sending)."""

    kind: Literal["gift_card", "purchase_confirmation"]
    to: str
    gift_card_id: int
    last_characters: str
    message: str | None
    send_at: datetime


@dataclass
class LineItem:
    id: int
    title: str
    price: Decimal
    quantity: int
    sku: str | None
    product_id: int | None
    variant_id: int | None
    gift_card: bool


@dataclass
class OrderTransaction:
    id: int
    order_id: int
    kind: Literal["sale", "refund"]
    gateway: Literal["gift_card", "bogus"]
    amount: Decimal
    currency: str
    parent_id: int | None
    gift_card_id: int | None
    gift_card_last_characters: str | None
    processed_at: datetime


@dataclass
class Refund:
    id: int
    order_id: int
    note: str | None
    created_at: datetime
    transactions: list[OrderTransaction]
    # (line item id, quantity) the refund returns; money is still refunded by ``amount``
    line_items: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Order:
    id: int
    number: int
    email: str | None
    currency: str
    customer_id: int | None
    shipping_name: str | None
    line_items: list[LineItem]
    created_at: datetime
    updated_at: datetime
    transactions: list[OrderTransaction] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    financial_status: str = "paid"
    fulfillment_status: str | None = None

    @property
    def total(self) -> Decimal:
        return sum((item.price * item.quantity for item in self.line_items), Decimal("0"))

    @property
    def refunded(self) -> Decimal:
        return sum((t.amount for t in self.transactions if t.kind == "refund"), Decimal("0"))


@dataclass
class WebhookSubscription:
    id: int
    topic: str
    address: str
    format: str
    api_version: str
    created_at: datetime
    updated_at: datetime


class Store:
    """All records of one shop plus the id and code generators (seeded, so runs repeat)."""

    def __init__(self, config: ShopifyConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.rng = random.Random(config.seed)  # noqa: S311 - seeded on purpose: runs repeat
        self.cards: dict[int, GiftCard] = {}
        self.customers: dict[int, Customer] = {}
        self.orders: dict[int, Order] = {}
        self.subscriptions: dict[int, WebhookSubscription] = {}
        self.notifications: list[Notification] = []
        # Separate counters per resource, started at Shopify-looking magnitudes.
        self._next = {
            "card": 1035197600,
            "card_txn": 7650000000,
            "customer": 207119500,
            "order": 450789400,
            "line_item": 466157000,
            "order_txn": 1068278400,
            "refund": 509562900,
            "webhook": 4759306000,
            "shop": 548380009,
        }
        self.order_number = 1000

    def next_id(self, kind: str) -> int:
        """The next integer id for a resource kind."""
        self._next[kind] += 1
        return self._next[kind]

    def new_code(self) -> str:
        """A fresh 16-character code, unique in this shop."""
        while True:
            code = "".join(self.rng.choice(CODE_ALPHABET) for _ in range(16))
            if self.card_by_code(code) is None:
                return code

    def new_uuid(self) -> str:
        """A seeded UUID4 string (request, webhook and event ids)."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def card_by_code(self, code: str) -> GiftCard | None:
        """The card with this normalised code, if any."""
        for card in self.cards.values():
            if card.code == code:
                return card
        return None

    def customer_by_email(self, email: str) -> Customer:
        """The customer with this e-mail, created on first use (like checkout does)."""
        for customer in self.customers.values():
            if customer.email == email:
                return customer
        customer = Customer(id=self.next_id("customer"), email=email)
        self.customers[customer.id] = customer
        return customer
