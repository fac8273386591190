"""Value lots: the order a redemption spends them and how refunds give value back (pure rules)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnigift.ledger.cards import CardState
from omnigift.ledger.lapsing import lapse_plan
from omnigift.ledger.lots import Lot, LotKind, burn_order, is_due, plan_burn, plan_restore
from omnigift.ledger.records import CardRecord

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def lot(
    lot_id: str,
    kind: LotKind = LotKind.PAID,
    remaining: int = 1000,
    *,
    expires_in_days: int | None = None,
    created_day: int = 0,
) -> Lot:
    """A lot created ``created_day`` days after T0, expiring ``expires_in_days`` after T0."""
    expires_at = None if expires_in_days is None else T0 + timedelta(days=expires_in_days)
    return Lot(lot_id, kind, remaining, expires_at, T0 + timedelta(days=created_day))


def ids(lots: list[Lot]) -> list[str]:
    return [one.id for one in lots]


def restored_total(plan: list[tuple[str, int]]) -> int:
    return sum(amount for _, amount in plan)


# Burn order


def test_redeem_spends_the_soonest_expiring_lot_first():
    lots = [
        lot("paid-late", LotKind.PAID, expires_in_days=3000),
        lot("promo-soon", LotKind.PROMOTIONAL, expires_in_days=10),
        lot("promo-later", LotKind.PROMOTIONAL, expires_in_days=20),
    ]
    assert ids(burn_order(lots)) == ["promo-soon", "promo-later", "paid-late"]


def test_a_lot_with_an_expiry_is_spent_before_one_that_never_expires():
    lots = [lot("paid-forever", LotKind.PAID), lot("paid-expiring", expires_in_days=4000)]
    assert ids(burn_order(lots)) == ["paid-expiring", "paid-forever"]


def test_with_equal_expiry_promotional_is_spent_before_refund_before_paid():
    lots = [
        lot("paid", LotKind.PAID),
        lot("refund", LotKind.REFUND),
        lot("promo", LotKind.PROMOTIONAL),
    ]
    assert ids(burn_order(lots)) == ["promo", "refund", "paid"]


def test_expiry_outranks_kind_a_soon_expiring_paid_lot_goes_before_a_never_expiring_promotion():
    lots = [lot("promo", LotKind.PROMOTIONAL), lot("paid", LotKind.PAID, expires_in_days=2000)]
    assert ids(burn_order(lots)) == ["paid", "promo"]


def test_with_equal_expiry_and_kind_the_oldest_lot_is_spent_first():
    lots = [
        lot("newest", created_day=5),
        lot("oldest", created_day=1),
        lot("middle", created_day=3),
    ]
    assert ids(burn_order(lots)) == ["oldest", "middle", "newest"]


def test_kind_outranks_age():
    lots = [
        lot("old-paid", LotKind.PAID, created_day=0),
        lot("new-refund", LotKind.REFUND, created_day=9),
    ]
    assert ids(burn_order(lots)) == ["new-refund", "old-paid"]


def test_burn_order_does_not_change_the_lots_it_is_given():
    lots = [lot("b", created_day=2), lot("a", created_day=1)]
    burn_order(lots)
    assert ids(lots) == ["b", "a"]


# plan_burn


def test_plan_burn_takes_exactly_the_amount_in_burn_order():
    lots = [
        lot("paid", LotKind.PAID, 500),
        lot("promo", LotKind.PROMOTIONAL, 300, expires_in_days=30),
        lot("refund", LotKind.REFUND, 200),
    ]
    assert plan_burn(lots, 600) == [("promo", 300), ("refund", 200), ("paid", 100)]


def test_plan_burn_stops_at_the_first_lot_that_covers_the_amount():
    lots = [lot("first", remaining=500, created_day=0), lot("second", created_day=1)]
    assert plan_burn(lots, 500) == [("first", 500)]
    assert plan_burn(lots, 120) == [("first", 120)]


def test_plan_burn_can_spend_every_lot_to_zero():
    lots = [lot("a", remaining=1, created_day=0), lot("b", remaining=2, created_day=1)]
    assert plan_burn(lots, 3) == [("a", 1), ("b", 2)]


def test_plan_burn_skips_empty_lots():
    lots = [lot("empty", remaining=0, created_day=0), lot("full", remaining=50, created_day=1)]
    assert plan_burn(lots, 50) == [("full", 50)]


def test_plan_burn_refuses_to_spend_more_than_the_lots_hold():
    with pytest.raises(ValueError):
        plan_burn([lot("a", remaining=10), lot("b", remaining=5, created_day=1)], 16)


@pytest.mark.parametrize("amount", [1, 7, 299, 300, 301, 999, 1000, 1500])
def test_plan_burn_always_moves_exactly_the_amount_and_never_more_than_a_lot_holds(amount):
    lots = [
        lot("a", LotKind.PROMOTIONAL, 300, expires_in_days=5),
        lot("b", LotKind.REFUND, 200),
        lot("c", LotKind.PAID, 1000),
    ]
    plan = plan_burn(lots, amount)
    assert restored_total(plan) == amount
    by_id = {one.id: one.remaining for one in lots}
    assert all(0 < moved <= by_id[lot_id] for lot_id, moved in plan)
    assert len({lot_id for lot_id, _ in plan}) == len(plan)


# plan_restore


def test_a_full_refund_restores_every_lot_the_redemption_spent():
    spent = [("promo", 300), ("refund", 200), ("paid", 100)]
    assert sorted(plan_restore(spent, [], 600)) == sorted(spent)


def test_a_partial_refund_restores_the_last_spent_lot_first():
    spent = [("promo", 300), ("refund", 200), ("paid", 100)]
    assert plan_restore(spent, [], 250) == [("paid", 100), ("refund", 150)]


def test_successive_partial_refunds_continue_in_reverse_order_from_where_the_last_stopped():
    spent = [("promo", 300), ("refund", 200), ("paid", 100)]
    first = plan_restore(spent, [], 150)
    assert first == [("paid", 100), ("refund", 50)]
    second = plan_restore(spent, first, 200)
    assert second == [("refund", 150), ("promo", 50)]
    third = plan_restore(spent, first + second, 250)
    assert third == [("promo", 250)]


def test_partial_refunds_together_restore_exactly_what_was_spent_from_each_lot():
    spent = [("a", 40), ("b", 35), ("c", 25)]
    restored: list[tuple[str, int]] = []
    for amount in (10, 30, 1, 59):
        restored += plan_restore(spent, restored, amount)
    totals: dict[str, int] = {}
    for lot_id, amount in restored:
        totals[lot_id] = totals.get(lot_id, 0) + amount
    assert totals == dict(spent)


def test_a_refund_never_restores_more_than_is_left_of_the_redemption():
    spent = [("promo", 300), ("paid", 100)]
    already = plan_restore(spent, [], 350)
    with pytest.raises(ValueError):
        plan_restore(spent, already, 51)
    assert restored_total(plan_restore(spent, already, 50)) == 50


def test_a_refund_of_more_than_the_redemption_spent_is_refused():
    with pytest.raises(ValueError):
        plan_restore([("a", 10)], [], 11)


def test_restoring_never_gives_a_lot_more_than_the_redemption_took_from_it():
    spent = [("a", 5), ("b", 5)]
    for amount in range(1, 11):
        plan = plan_restore(spent, [], amount)
        assert restored_total(plan) == amount
        assert all(moved <= dict(spent)[lot_id] for lot_id, moved in plan)


# plan_burn at a moment: lots past their expiry are not spent


def test_plan_burn_at_a_moment_skips_every_lot_past_its_expiry_then():
    lots = [
        lot("promo-expired", LotKind.PROMOTIONAL, 300, expires_in_days=10),
        lot("refund-expiring-now", LotKind.REFUND, 200, expires_in_days=20),
        lot("paid", LotKind.PAID, 1000),
    ]
    now = T0 + timedelta(days=20)  # a lot expires at the instant of its expires_at

    assert plan_burn(lots, 500, at=now) == [("paid", 500)]
    assert plan_burn(lots, 500, at=now - timedelta(seconds=1)) == [
        ("refund-expiring-now", 200),
        ("paid", 300),
    ]
    # A hold capture passes no ``at``: expired value (kept for the hold) is spent first.
    assert plan_burn(lots, 500) == [("promo-expired", 300), ("refund-expiring-now", 200)]
    with pytest.raises(ValueError):
        plan_burn(lots, 1001, at=now)


def card_holding(balance: int, held: int) -> CardRecord:
    """A card with ``balance`` of which ``held`` is under open holds (only those two matter)."""
    return CardRecord(
        id="gc_test",
        type="digital",
        state=CardState.ACTIVE,
        currency="USD",
        balance=balance,
        held=held,
        version=1,
        expires_at=None,
        code_last4="0000",
        code_sealed="",
        pin_hash=None,
        pin_failures=0,
        pin_failures_since=None,
        initial_value=None,
        customer_id=None,
        recipient=None,
        issued_channel="api",
        issued_integration_id=None,
        issued_location_id=None,
        metadata={},
        created_at=T0,
        updated_at=T0,
    )


LOT_SPECS = st.lists(
    st.tuples(
        st.integers(0, 1000),
        st.sampled_from([None, 5, 10, 20, 40]),
        st.sampled_from(list(LotKind)),
    ),
    min_size=1,
    max_size=6,
)


@given(specs=LOT_SPECS, held_percent=st.integers(0, 100), day=st.sampled_from([0, 5, 10, 30, 50]))
def test_after_lapsing_the_lots_not_expired_always_cover_the_available_value(
    specs, held_percent, day
):
    lots = [
        lot(f"lot-{n}", kind, remaining, expires_in_days=expiry, created_day=n)
        for n, (remaining, expiry, kind) in enumerate(specs)
    ]
    balance = sum(one.remaining for one in lots)
    held = balance * held_percent // 100
    now = T0 + timedelta(days=day)

    plan = lapse_plan(card_holding(balance, held), lots, now)

    lapsed = -sum(moved for _, moved in plan)
    assert 0 <= lapsed <= balance - held  # value under holds is never expired
    moved = dict(plan)
    assert all(moved[one.id] < 0 and is_due(one, now) for one in lots if one.id in moved)
    after = [replace(one, remaining=one.remaining + moved.get(one.id, 0)) for one in lots]
    assert all(one.remaining >= 0 for one in after)
    still_due = sum(one.remaining for one in after if is_due(one, now))
    assert still_due <= held  # what stays of expired lots is what holds keep
    assert still_due == 0 or lapsed == balance - held
    available = balance - lapsed - held
    if available:  # so a redeem of everything available never needs an expired lot
        assert sum(taken for _, taken in plan_burn(after, available, at=now)) == available
    assert lapse_plan(card_holding(balance - lapsed, held), after, now) == []  # nothing twice
