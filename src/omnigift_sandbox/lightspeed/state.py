"""The account's records, in memory: gift card credit accounts, sales with lines and
payments, payment types, registers, and OAuth tokens.

Balances use Lightspeed's sign convention (integrations.md 3.2 [C]): ``balance`` is negative
for money the card holds — a funded $100 card stores ``-100`` — and ``spendable = -balance``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from .clock import Clock
from .config import LightspeedConfig


@dataclass
class CreditAccount:
    """A ``CreditAccount``; gift cards have ``gift_card`` and ``customer_id`` 0 (3.2 [C])."""

    id: int
    name: str
    code: str
    description: str
    gift_card: bool
    customer_id: int
    time_stamp: datetime
    balance: Decimal = Decimal(0)
    credit_limit: Decimal = Decimal(0)
    archived: bool = False

    @property
    def spendable(self) -> Decimal:
        """What the card can still pay: the stored balance with its sign flipped."""
        return -self.balance


@dataclass
class PaymentType:
    """A ``PaymentType``: the gift card one has ``type`` ``"gift card"`` (3.2 [C])."""

    id: int
    name: str
    type: str
    internal_reserved: bool = True
    refund_as_id: int = 0


@dataclass
class Register:
    """A ``Register``; one named ``eCom`` may not carry gift card payments (3.2 [C])."""

    id: int
    name: str
    shop_id: int = 1


@dataclass
class SaleLine:
    """A ``SaleLine``; ``note`` is its ``Note.note`` (``Gift Card Purchase <code>``)."""

    id: int
    sale_id: int
    item_id: int
    unit_price: Decimal
    quantity: int
    create_time: datetime
    time_stamp: datetime
    note: str = ""
    note_id: int = 0

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


@dataclass
class SalePayment:
    """A ``SalePayment``. For gift card payments (3.2 [C]): positive ``amount`` redeems,
    negative loads (a sale of a card) or refunds to the card. ``archived`` means voided."""

    id: int
    sale_id: int
    amount: Decimal
    payment_type_id: int
    credit_account_id: int
    create_time: datetime
    register_id: int
    employee_id: int
    remote_reference: str = ""
    ref_payment_id: int = 0
    archived: bool = False
    applied: bool = False  # whether its effect on the credit account is booked
    sale_account_id: int = 0  # the SaleAccount link of a gift card payment
    sale_line_id: int = 0


@dataclass
class Customer:
    """A ``Customer`` with its ``Contact``'s primary e-mail (enough for the till's flows)."""

    id: int
    first_name: str
    last_name: str
    email: str | None = None


@dataclass
class Sale:
    """A ``Sale`` with its lines and payments."""

    id: int
    create_time: datetime
    time_stamp: datetime
    employee_id: int
    register_id: int
    shop_id: int
    customer_id: int = 0
    completed: bool = False
    complete_time: datetime | None = None
    voided: bool = False
    archived: bool = False
    reference_number: str = ""
    reference_number_source: str = ""
    lines: list[SaleLine] = field(default_factory=list)
    payments: list[SalePayment] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        """Sum of the lines (the simulator charges no tax [U])."""
        return sum((line.total for line in self.lines), Decimal(0))

    @property
    def paid(self) -> Decimal:
        return sum((p.amount for p in self.payments if not p.archived), Decimal(0))


@dataclass
class Token:
    """An access token and the refresh token issued with it."""

    access: str
    refresh: str
    expires_at: float | None  # clock reading; None: never (the configured token)
    scopes: list[str] = field(default_factory=list)
    revoked: bool = False
    # The refresh token this one replaced: revoked when this access token is first used [C].
    replaces: str | None = None


class Store:
    """Every record of one account, with id counters and a seeded code generator."""

    def __init__(self, config: LightspeedConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self.rng = random.Random(config.seed)  # noqa: S311 - repeatable fakes
        self.accounts: dict[int, CreditAccount] = {}
        self.sales: dict[int, Sale] = {}
        self.customers: dict[int, Customer] = {}
        self.payment_types: dict[int, PaymentType] = {}
        self.registers: dict[int, Register] = {
            1: Register(1, "Register 1"),
            2: Register(2, "eCom"),
        }
        self._ids: dict[str, int] = {}
        for name, kind in (
            ("Cash", "cash"),
            ("Check", "check"),
            ("Credit Card", "credit card"),
            ("Credit Account", "credit account"),
        ):
            self._add_payment_type(name, kind)
        gift = PaymentType(config.gift_card_payment_type_id, "Gift Card", "gift card")
        gift.refund_as_id = gift.id
        self.payment_types[gift.id] = gift
        # Access tokens by value; refresh tokens by value -> the access token issued with them.
        self.tokens: dict[str, Token] = {}
        configured = Token(
            config.access_token, config.refresh_token, None, scopes=list(config.scopes)
        )
        self.tokens[configured.access] = configured
        self.refresh_tokens: dict[str, Token] = {configured.refresh: configured}
        self.codes: dict[str, tuple[str, float]] = {}  # authorization code -> (scope, expiry)

    def _add_payment_type(self, name: str, kind: str) -> None:
        next_id = 1
        while next_id in self.payment_types or next_id == self.config.gift_card_payment_type_id:
            next_id += 1
        self.payment_types[next_id] = PaymentType(next_id, name, kind)

    def next_id(self, kind: str, start: int = 1) -> int:
        """The next id of ``kind`` (``sale``, ``sale_payment``, ...)."""
        value = self._ids.get(kind, start - 1) + 1
        self._ids[kind] = value
        return value

    def new_code(self) -> str:
        """A fresh 13-digit gift card code, like the documented ``2312345678904``."""
        while True:
            code = "".join(self.rng.choice("0123456789") for _ in range(13))
            if not any(a.code == code for a in self.accounts.values()):
                return code

    def new_secret(self, prefix: str) -> str:
        """A token value (seeded, so runs repeat)."""
        return prefix + "".join(self.rng.choice("0123456789abcdef") for _ in range(40))

    def gift_card_type(self) -> PaymentType:
        return self.payment_types[self.config.gift_card_payment_type_id]

    def by_code(self, code: str) -> CreditAccount | None:
        """The gift card with ``code`` (archived ones included)."""
        for account in self.accounts.values():
            if account.gift_card and account.code == code:
                return account
        return None
