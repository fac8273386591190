"""The gift card's state machine and activity rules (pure: no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from omnigift.ledger.cards import (
    ADDS_VALUE,
    NEEDS_AMOUNT,
    NEXT_STATE,
    ActivityType,
    CardSnapshot,
    CardState,
    check_activity,
    check_available,
    check_lot_expiry,
    check_spendable,
)
from omnigift.ledger.errors import (
    CardExpired,
    CardNotActive,
    CurrencyMismatch,
    ExpiryTooSoon,
    InsufficientFunds,
    InvalidRequest,
    InvalidState,
    LedgerError,
)
from omnigift.ledger.lots import LotKind

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
FIVE_YEARS = timedelta(days=5 * 365)

A = ActivityType
S = CardState


def card(
    state: CardState = CardState.ACTIVE,
    *,
    balance: int = 1000,
    held: int = 0,
    currency: str = "USD",
    expires_at: datetime | None = None,
) -> CardSnapshot:
    return CardSnapshot(state, currency, balance, held, expires_at)


def attempt(
    snapshot: CardSnapshot,
    kind: ActivityType,
    amount: int | None = None,
    *,
    currency: str | None = "USD",
    now: datetime = NOW,
) -> None:
    """Check an activity as the API would send it: an amount where the type needs one."""
    if amount is None and kind in NEEDS_AMOUNT:
        amount = 100
    check_activity(snapshot, kind, amount, currency, now)


# Which activity each state allows; everything not listed is refused with the error given.
ALLOWED = {
    A.ACTIVATE: {S.PENDING},
    A.LOAD: {S.ACTIVE},
    A.REDEEM: {S.ACTIVE},
    A.REFUND: {S.ACTIVE, S.FROZEN},
    A.ADJUST_INCREMENT: {S.ACTIVE, S.FROZEN},
    A.ADJUST_DECREMENT: {S.ACTIVE, S.FROZEN},
    A.FREEZE: {S.ACTIVE},
    A.UNFREEZE: {S.FROZEN},
    A.DEACTIVATE: {S.PENDING, S.ACTIVE, S.FROZEN, S.EXPIRED},
    A.CLEAR_BALANCE: set(CardState),
}


def refusal_for(kind: ActivityType, state: CardState) -> type[LedgerError]:
    """The error a card in ``state`` answers ``kind`` with (spending has errors of its own)."""
    if kind is A.REDEEM:
        return CardExpired if state is S.EXPIRED else CardNotActive
    return InvalidState


ALL_CASES = [(kind, state) for kind in ALLOWED for state in CardState]


@pytest.mark.parametrize(
    ("kind", "state"), [case for case in ALL_CASES if case[1] in ALLOWED[case[0]]]
)
def test_each_activity_is_allowed_from_its_states(kind, state):
    attempt(card(state), kind)


@pytest.mark.parametrize(
    ("kind", "state"), [case for case in ALL_CASES if case[1] not in ALLOWED[case[0]]]
)
def test_each_activity_is_refused_from_every_other_state_with_the_right_error(kind, state):
    with pytest.raises(refusal_for(kind, state)):
        attempt(card(state), kind)


def test_state_changing_activities_lead_to_the_documented_states():
    assert NEXT_STATE == {
        A.ACTIVATE: S.ACTIVE,
        A.FREEZE: S.FROZEN,
        A.UNFREEZE: S.ACTIVE,
        A.DEACTIVATE: S.DEACTIVATED,
    }


def test_deactivation_is_permanent_nothing_but_clearing_the_balance_leaves_it():
    for kind in ALLOWED:
        if kind is A.CLEAR_BALANCE:
            attempt(card(S.DEACTIVATED), kind)
            continue
        with pytest.raises((InvalidState, CardNotActive)):
            attempt(card(S.DEACTIVATED), kind)


def test_a_frozen_card_cannot_be_redeemed_or_loaded():
    with pytest.raises(CardNotActive):
        attempt(card(S.FROZEN), A.REDEEM)
    with pytest.raises(InvalidState):
        attempt(card(S.FROZEN), A.LOAD)


def test_a_pending_card_cannot_be_redeemed():
    with pytest.raises(CardNotActive):
        attempt(card(S.PENDING, balance=0), A.REDEEM)


# Balance


def test_redeem_of_the_whole_available_value_is_allowed():
    attempt(card(balance=1000, held=300), A.REDEEM, 700)


def test_redeem_beyond_the_available_value_is_insufficient_funds():
    with pytest.raises(InsufficientFunds):
        attempt(card(balance=1000), A.REDEEM, 1001)


def test_held_value_is_not_available_to_redeem():
    with pytest.raises(InsufficientFunds):
        attempt(card(balance=1000, held=300), A.REDEEM, 701)


def test_adjust_decrement_cannot_take_more_than_is_available():
    attempt(card(S.FROZEN, balance=500, held=100), A.ADJUST_DECREMENT, 400)
    with pytest.raises(InsufficientFunds):
        attempt(card(S.FROZEN, balance=500, held=100), A.ADJUST_DECREMENT, 401)


def test_check_available_compares_with_balance_minus_held():
    check_available(card(balance=10, held=4), 6)
    with pytest.raises(InsufficientFunds):
        check_available(card(balance=10, held=4), 7)


def test_available_is_balance_minus_open_holds():
    assert card(balance=1000, held=250).available == 750


# Currency


@pytest.mark.parametrize("kind", [A.REDEEM, A.LOAD, A.REFUND, A.ADJUST_INCREMENT])
def test_an_amount_in_another_currency_is_a_currency_mismatch(kind):
    with pytest.raises(CurrencyMismatch):
        attempt(card(), kind, currency="EUR")


def test_currency_is_checked_before_state():
    with pytest.raises(CurrencyMismatch):
        attempt(card(S.DEACTIVATED), A.LOAD, currency="EUR")


def test_an_activity_without_a_currency_is_not_a_mismatch():
    attempt(card(), A.FREEZE, currency=None)


# Expiry of the card


def test_a_card_past_its_expiry_refuses_redeem_even_before_the_expiry_job_ran():
    still_active = card(S.ACTIVE, expires_at=NOW - timedelta(seconds=1))
    with pytest.raises(CardExpired):
        attempt(still_active, A.REDEEM, 1)


def test_a_card_expires_at_the_exact_moment_of_its_expiry():
    with pytest.raises(CardExpired):
        attempt(card(expires_at=NOW), A.REDEEM, 1)
    attempt(card(expires_at=NOW + timedelta(microseconds=1)), A.REDEEM, 1)


def test_an_expired_card_is_refused_as_expired_rather_than_for_funds():
    with pytest.raises(CardExpired):
        attempt(card(balance=0, expires_at=NOW - timedelta(days=1)), A.REDEEM, 5000)


@pytest.mark.parametrize("kind", sorted(ADDS_VALUE - {A.ACTIVATE}))
def test_value_cannot_be_added_to_a_card_past_its_expiry(kind):
    with pytest.raises(CardExpired):
        attempt(card(S.ACTIVE, expires_at=NOW - timedelta(hours=1)), kind)


def test_a_pending_card_past_its_expiry_cannot_be_activated():
    with pytest.raises(CardExpired):
        attempt(card(S.PENDING, balance=0, expires_at=NOW - timedelta(hours=1)), A.ACTIVATE)


def test_a_card_past_its_expiry_can_still_be_frozen_cleared_and_deactivated():
    past = card(S.ACTIVE, expires_at=NOW - timedelta(hours=1))
    for kind in (A.FREEZE, A.CLEAR_BALANCE, A.DEACTIVATE):
        attempt(past, kind)


def test_spendable_requires_active_and_not_past_expiry():
    check_spendable(card(expires_at=NOW + timedelta(days=1)), NOW)
    with pytest.raises(CardExpired):
        check_spendable(card(S.EXPIRED), NOW)
    with pytest.raises(CardExpired):
        check_spendable(card(S.FROZEN, expires_at=NOW), NOW)
    with pytest.raises(CardNotActive):
        check_spendable(card(S.FROZEN), NOW)


def test_a_card_is_past_expiry_only_with_an_expiry_date_at_or_before_now():
    assert not card(expires_at=None).is_past_expiry(NOW)
    assert not card(expires_at=NOW + timedelta(seconds=1)).is_past_expiry(NOW)
    assert card(expires_at=NOW).is_past_expiry(NOW)


# Expiry of lots


def test_paid_value_may_not_expire_within_the_legal_minimum():
    with pytest.raises(ExpiryTooSoon):
        check_lot_expiry(LotKind.PAID, NOW + FIVE_YEARS - timedelta(days=1), NOW, FIVE_YEARS)


def test_paid_value_may_expire_at_the_legal_minimum_or_later():
    check_lot_expiry(LotKind.PAID, NOW + FIVE_YEARS, NOW, FIVE_YEARS)
    check_lot_expiry(LotKind.PAID, NOW + FIVE_YEARS * 2, NOW, FIVE_YEARS)


@pytest.mark.parametrize("kind", [LotKind.PROMOTIONAL, LotKind.REFUND])
def test_promotional_and_refund_value_may_expire_soon(kind):
    check_lot_expiry(kind, NOW + timedelta(days=1), NOW, FIVE_YEARS)


@pytest.mark.parametrize("kind", list(LotKind))
def test_nothing_may_be_given_an_expiry_in_the_past(kind):
    with pytest.raises(InvalidRequest):
        check_lot_expiry(kind, NOW, NOW, FIVE_YEARS)
    with pytest.raises(InvalidRequest):
        check_lot_expiry(kind, NOW - timedelta(days=1), NOW, FIVE_YEARS)


@pytest.mark.parametrize("kind", list(LotKind))
def test_value_without_an_expiry_is_always_allowed(kind):
    check_lot_expiry(kind, None, NOW, FIVE_YEARS)


def test_expiry_too_soon_names_the_expires_at_field():
    with pytest.raises(ExpiryTooSoon) as refused:
        check_lot_expiry(LotKind.PAID, NOW + timedelta(days=30), NOW, FIVE_YEARS)
    assert refused.value.field == "expires_at"
    assert refused.value.code == "expiry_too_soon"
