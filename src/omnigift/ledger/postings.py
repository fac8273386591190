"""Double entry: the postings of each activity, always summing to zero. Pure rules.

A card's account is a liability (what the retailer owes its holder): a positive posting raises it.
Every movement has a counter-posting on a system account, one per name and currency, whose
balance is derived from postings and never updated in place (no hot row).
"""

from __future__ import annotations

from enum import StrEnum

from omnigift.ledger.cards import ActivityType
from omnigift.ledger.lots import LotKind


class SystemAccount(StrEnum):
    ISSUED = "issued"
    REDEEMED = "redeemed"
    PROMOTIONS = "promotions"
    REFUNDS = "refunds"
    ADJUSTMENTS = "adjustments"
    BREAKAGE = "breakage"
    HOLDS = "holds"


# Where new value of each lot kind comes from.
SOURCE_OF_LOT = {
    LotKind.PAID: SystemAccount.ISSUED,
    LotKind.PROMOTIONAL: SystemAccount.PROMOTIONS,
    LotKind.REFUND: SystemAccount.REFUNDS,
}
# Where value taken off a card goes.
SINK_OF = {
    ActivityType.REDEEM: SystemAccount.REDEEMED,
    ActivityType.ADJUST_DECREMENT: SystemAccount.ADJUSTMENTS,
    ActivityType.CLEAR_BALANCE: SystemAccount.ADJUSTMENTS,
    ActivityType.EXPIRE: SystemAccount.BREAKAGE,
}

Posting = tuple[str, int]  # (account id, signed amount)


def system_account_id(name: SystemAccount, currency: str) -> str:
    """The id of a system account, e.g. ``sys_redeemed_USD``."""
    return f"sys_{name}_{currency}"


def credit_card(card_id: str, currency: str, amount: int, source: SystemAccount) -> list[Posting]:
    """Value onto a card, taken from a system account."""
    return [(card_id, amount), (system_account_id(source, currency), -amount)]


def debit_card(card_id: str, currency: str, amount: int, sink: SystemAccount) -> list[Posting]:
    """Value off a card, into a system account."""
    return [(card_id, -amount), (system_account_id(sink, currency), amount)]


def assert_balanced(entries: list[Posting]) -> None:
    """The one law of double entry: an activity's postings sum to zero."""
    if sum(amount for _, amount in entries) != 0:
        raise AssertionError(f"unbalanced postings: {entries}")
