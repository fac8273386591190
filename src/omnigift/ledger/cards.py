"""The gift card's state machine and the rules of each activity. Pure rules, no database.

pending --activate--> active <--freeze/unfreeze--> frozen
any but deactivated --deactivate--> deactivated (permanent)
active/frozen --(expiry job, or past expires_at)--> expired
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from omnigift.ledger.errors import (
    CardExpired,
    CardNotActive,
    CurrencyMismatch,
    ExpiryTooSoon,
    InsufficientFunds,
    InvalidRequest,
    InvalidState,
)
from omnigift.ledger.lots import LotKind


class CardType(StrEnum):
    DIGITAL = "digital"
    PHYSICAL = "physical"


class CardState(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    FROZEN = "frozen"
    DEACTIVATED = "deactivated"
    EXPIRED = "expired"


class ActivityType(StrEnum):
    ISSUE = "issue"
    IMPORT = "import"
    ACTIVATE = "activate"
    LOAD = "load"
    REDEEM = "redeem"
    REFUND = "refund"
    ADJUST_INCREMENT = "adjust_increment"
    ADJUST_DECREMENT = "adjust_decrement"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    DEACTIVATE = "deactivate"
    CLEAR_BALANCE = "clear_balance"
    EXPIRE = "expire"


# Activities a client may ask for through the API (issue, import and expire are the system's own).
REQUESTABLE = frozenset(
    {
        ActivityType.ACTIVATE,
        ActivityType.LOAD,
        ActivityType.REDEEM,
        ActivityType.REFUND,
        ActivityType.ADJUST_INCREMENT,
        ActivityType.ADJUST_DECREMENT,
        ActivityType.FREEZE,
        ActivityType.UNFREEZE,
        ActivityType.DEACTIVATE,
        ActivityType.CLEAR_BALANCE,
    }
)
NEEDS_AMOUNT = frozenset(
    {
        ActivityType.LOAD,
        ActivityType.REDEEM,
        ActivityType.REFUND,
        ActivityType.ADJUST_INCREMENT,
        ActivityType.ADJUST_DECREMENT,
    }
)
TAKES_NO_AMOUNT = frozenset(
    {
        ActivityType.FREEZE,
        ActivityType.UNFREEZE,
        ActivityType.DEACTIVATE,
        ActivityType.CLEAR_BALANCE,
    }
)
ADDS_VALUE = frozenset(
    {
        ActivityType.ACTIVATE,
        ActivityType.LOAD,
        ActivityType.REFUND,
        ActivityType.ADJUST_INCREMENT,
    }
)
# State a state-changing activity moves the card to.
NEXT_STATE = {
    ActivityType.ACTIVATE: CardState.ACTIVE,
    ActivityType.FREEZE: CardState.FROZEN,
    ActivityType.UNFREEZE: CardState.ACTIVE,
    ActivityType.DEACTIVATE: CardState.DEACTIVATED,
}
_ALLOWED_FROM: dict[ActivityType, frozenset[CardState]] = {
    ActivityType.ACTIVATE: frozenset({CardState.PENDING}),
    ActivityType.LOAD: frozenset({CardState.ACTIVE}),
    ActivityType.REFUND: frozenset({CardState.ACTIVE, CardState.FROZEN}),
    ActivityType.ADJUST_INCREMENT: frozenset({CardState.ACTIVE, CardState.FROZEN}),
    ActivityType.ADJUST_DECREMENT: frozenset({CardState.ACTIVE, CardState.FROZEN}),
    ActivityType.FREEZE: frozenset({CardState.ACTIVE}),
    ActivityType.UNFREEZE: frozenset({CardState.FROZEN}),
    ActivityType.DEACTIVATE: frozenset(
        {CardState.PENDING, CardState.ACTIVE, CardState.FROZEN, CardState.EXPIRED}
    ),
    ActivityType.CLEAR_BALANCE: frozenset(CardState),
}


@dataclass(frozen=True, slots=True)
class CardSnapshot:
    """What the rules need to know about a card at the moment of an activity."""

    state: CardState
    currency: str
    balance: int
    held: int
    expires_at: datetime | None

    @property
    def available(self) -> int:
        return self.balance - self.held

    def is_past_expiry(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


def check_activity(
    card: CardSnapshot, kind: ActivityType, amount: int | None, currency: str | None, now: datetime
) -> None:
    """Refuse an activity the card's state, currency, expiry or balance does not allow."""
    if currency is not None and currency != card.currency:
        raise CurrencyMismatch(f"the card holds {card.currency}, not {currency}", field="amount")
    if kind is ActivityType.REDEEM:
        assert amount is not None
        check_spendable(card, now)
        check_available(card, amount)
        return
    if card.state not in _ALLOWED_FROM[kind]:
        raise InvalidState(f"a {card.state} card cannot take a {kind} activity")
    if kind in ADDS_VALUE and card.is_past_expiry(now):
        raise CardExpired("the card passed its expiry date")
    if kind is ActivityType.ADJUST_DECREMENT:
        assert amount is not None
        check_available(card, amount)


def check_spendable(card: CardSnapshot, now: datetime) -> None:
    """A card can be spent (redeemed, held, captured) only while active and not past expiry."""
    if card.state is CardState.EXPIRED or card.is_past_expiry(now):
        raise CardExpired("the card has expired")
    if card.state is not CardState.ACTIVE:
        raise CardNotActive(f"the card is {card.state}")


def check_available(card: CardSnapshot, amount: int) -> None:
    """Refuse to take more than the card's available value (balance minus open holds)."""
    if amount > card.available:
        raise InsufficientFunds(
            f"the card has {card.available} {card.currency} available, {amount} was asked"
        )


def check_lot_expiry(
    kind: LotKind, expires_at: datetime | None, now: datetime, min_paid_expiry: timedelta
) -> None:
    """Paid value may not expire sooner than the legal minimum; nothing may expire in the past."""
    if expires_at is None:
        return
    if expires_at <= now:
        raise InvalidRequest("an expiry date must be in the future", field="expires_at")
    if kind is LotKind.PAID and expires_at < now + min_paid_expiry:
        raise ExpiryTooSoon(
            f"paid value may not expire sooner than {min_paid_expiry.days} days from now",
            field="expires_at",
        )
