"""What every connector offers the sync machinery, and what the sync machinery offers back.

The shapes are plain dataclasses in our own terms (integer minor units, our card states); each
connector maps them to its platform. A connector never touches the database: it reports what it
wrote through a ``Journal`` and what the platform did on its own through a ``Sink``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any, Protocol


class PlatformError(Exception):
    """Something went wrong talking to the platform."""


class PlatformUnavailable(PlatformError):
    """Throttled, down, 5xx or timed out: try again later (after ``retry_after`` seconds).

    ``throttled``: the platform asked us to slow down (a rate limit), which is ordinary
    traffic shaping, not a failure of the integration."""

    def __init__(
        self, message: str, retry_after: float | None = None, *, throttled: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.throttled = throttled


class AmbiguousWrite(PlatformUnavailable):
    """A write whose outcome is unknown (timeout, 5xx): it may have happened. Read back first."""


class PlatformRejected(PlatformError):
    """The platform refused the request for good (e.g. a code it can't take); don't retry."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class AuthenticationFailed(PlatformError):
    """The platform refused our credentials (401/403)."""


class UnrecordedSpend(PlatformError):
    """The platform holds less than we believe: a spend we have not ingested yet. Writing now
    could undo it, so the push waits until the spend is taken in."""


class CardRefused(Exception):
    """A platform card the ledger can't take (its code, usually); staff have an exception."""


class BadSignature(Exception):
    """An inbound notification whose signature does not verify."""


def full_name(person: dict[str, Any] | None) -> str | None:
    """A platform's ``first_name`` and ``last_name`` as one name, or None when it gives none."""
    person = person or {}
    return " ".join(p for p in (person.get("first_name"), person.get("last_name")) if p) or None


@dataclass(frozen=True, slots=True)
class CardTarget:
    """What the ledger says a card's mirror must be."""

    account_id: str
    code: str
    currency: str
    balance: int  # what the mirror may spend: the available balance of an active card, else 0
    state: str  # active | disabled | deactivated
    expires_on: date | None
    customer_email: str | None = None
    recipient_name: str | None = None
    recipient_message: str | None = None
    shipping_name: str | None = None  # of the online order that sold the card (seed 002)


@dataclass(frozen=True, slots=True)
class MirrorState:
    """What we know of a card's mirror on the platform."""

    external_id: str | None
    known_balance: int | None
    known_state: str | None
    known_expires_on: str | None
    pending_write: dict[str, Any] | None

    def settled(self, delta: int = 0) -> MirrorState:
        """This state with its pending write resolved: it moved the balance by ``delta`` (0
        when it did not happen)."""
        balance = (self.known_balance or 0) + delta if delta else self.known_balance
        return replace(self, known_balance=balance, pending_write=None)


@dataclass(frozen=True, slots=True)
class PlatformCard:
    """A card as the platform holds it (reconciliation, historical import)."""

    external_id: str
    balance: int
    currency: str
    enabled: bool
    expires_on: date | None
    code: str | None = None  # None when the platform won't reveal it (Shopify: last 4 only)
    last_characters: str | None = None
    customer_email: str | None = None
    customer_name: str | None = None
    initial_value: int | None = None
    # The platform's time of this state: its own transactions up to then are in ``balance``.
    as_of: datetime | None = None


class Journal(Protocol):
    """How a push records what it did, durably, as it goes."""

    async def intend(self, write: dict[str, Any]) -> None:
        """Remember a write about to be sent, committed before it is sent."""

    async def created(
        self, external_id: str, balance: int, state: str, expires_on: str | None
    ) -> None:
        """The mirror exists on the platform with this id and balance."""

    async def applied(
        self,
        balance_delta: int = 0,
        state: str | None = None,
        expires_on: str | None = None,
    ) -> None:
        """A write took effect: move what we know by it, and forget the pending write."""

    async def abandoned(self) -> None:
        """The pending write did not happen: forget it."""


@dataclass(frozen=True, slots=True)
class PlatformSpend:
    """Value taken from (or, with a negative amount, put back on) a mirror by the platform."""

    external_card_id: str
    amount: int  # positive: spent; negative: refunded back to the card
    currency: str
    reference: str  # the platform's transaction id: applied once
    occurred_at: datetime | None = None
    parent_reference: str | None = None  # a refund: the spend it reverses
    order: dict[str, Any] = field(default_factory=dict)
    # With a negative amount: value put back by a refund, or new value a customer paid for
    # (a load at a till that keeps its own gift card accounts).
    loaded: bool = False


@dataclass(frozen=True, slots=True)
class PlatformSale:
    """Our gift card product sold on the platform: issue a card for it."""

    reference: str  # order line (and unit) id: issued once
    amount: int
    currency: str
    customer_email: str | None
    recipient_name: str | None
    shipping_name: str | None
    physical: bool
    order: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlatformSaleRefund:
    """The platform refunded an order line that bought our gift card (one unit of it)."""

    sale_reference: str  # the ``PlatformSale.reference`` of the unit refunded
    reference: str  # the refund's own id for that unit: applied once
    order: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlatformOrder:
    """An order paid on a web store, for the promotions an order earns."""

    reference: str  # the platform's order id
    amount: int  # what the customer paid for goods: our gift card lines are not counted
    currency: str
    refunded_in_full: bool
    email: str | None = None
    name: str | None = None
    occurred_at: datetime | None = None
    order: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlatformRefund:
    """A return a returns platform says to refund as a gift card or store credit."""

    return_id: str
    amount: int
    currency: str
    method: str  # gift_card | store_credit
    order_id: str | None = None
    email: str | None = None
    name: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None


class Sink(Protocol):
    """Where a connector hands what the platform did on its own."""

    async def spend(self, spend: PlatformSpend) -> None: ...

    async def sale(self, sale: PlatformSale) -> None: ...

    async def order_paid(self, order: PlatformOrder) -> None:
        """An order was paid (``order_completed`` promotions); refunded in full, what it earned
        is withdrawn."""

    async def sale_refunded(self, refund: PlatformSaleRefund) -> None:
        """Its buyer got their money back: an unspent card is cleared and deactivated; a spent
        one is left alone and flagged for staff."""

    async def refund(self, refund: PlatformRefund) -> None:
        """Refund a return as a gift card or store credit, once per return."""

    async def refund_cancelled(self, return_id: str, why: str) -> None:
        """A return refunded before was cancelled: staff decide (the value may be spent)."""

    async def native_card(self, card: PlatformCard, *, sold: bool = False) -> bool:
        """A card made on the platform itself (pull_cards); False if the ledger had it.
        ``sold``: just sold on the platform for its balance (a purchase, which may earn
        promotions), not one found by a historical import. Raises ``CardRefused`` when the
        ledger can't take it (recorded for staff)."""


@dataclass(frozen=True, slots=True)
class Notification:
    """An inbound platform notification, verified."""

    platform_event_id: str
    topic: str
    payload: dict[str, Any]
    triggered_at: datetime | None = None


class Connector(Protocol):
    """One platform instance, configured from an integration."""

    async def check(self) -> None:
        """Raise unless the platform answers and accepts our credentials."""

    async def subscribe(self, callback_url: str) -> None:
        """Register the platform's notifications to ``callback_url`` (idempotent)."""

    def verify(self, headers: dict[str, str], body: bytes) -> Notification:
        """Check an inbound notification's signature; raise ``BadSignature`` if it fails."""

    async def process(self, notification: Notification, sink: Sink) -> None:
        """Fetch what the notification points at and hand the platform's doings to ``sink``."""

    async def poll(self, cursor: dict[str, Any], sink: Sink) -> dict[str, Any]:
        """Catch up on what notifications may have missed; return the new cursor."""

    async def push(
        self, target: CardTarget, mirror: MirrorState, journal: Journal, *, rebase: bool = False
    ) -> None:
        """Make the mirror equal ``target``, safely (read back before retrying, never undo a
        platform spend we have not ingested). ``rebase``: the platform's orders have been read
        and still nothing explains what the mirror holds; take its balance as what we know, then
        write the target."""

    async def read(self, external_id: str) -> PlatformCard | None:
        """The mirror as the platform holds it now (None if it is gone)."""

    async def list_cards(self, cursor: str | None) -> tuple[list[PlatformCard], str | None]:
        """One page of every card on the platform, and the cursor of the next page."""

    async def refresh_credentials(self) -> dict[str, str] | None:
        """New credentials after the platform refused ours, where it offers a refresh (OAuth);
        None where it does not. The caller stores them (sealed) for the next connector."""

    async def aclose(self) -> None: ...
