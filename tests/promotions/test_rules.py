"""Promotion rules: when a promotion applies and what it grants (pure, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from omnigift.ledger.errors import InvalidRequest
from omnigift.promotions.rules import (
    Occasion,
    Trigger,
    applies,
    parse_conditions,
    parse_reward,
)

NOON = datetime(2026, 12, 24, 12, 0, tzinfo=UTC)


def occasion(**changes: object) -> Occasion:
    fields: dict[str, object] = {
        "trigger": Trigger.REFUND_TAKEN,
        "amount": 10000,
        "currency": "USD",
        "channel": "returns",
        "at": NOON,
        "reference": "return:r-1",
        "method": "gift_card",
    }
    fields.update(changes)
    return Occasion(**fields)  # type: ignore[arg-type]


def test_a_seasonal_window_includes_its_start_and_excludes_its_end() -> None:
    window = parse_conditions(
        {"starts_at": NOON.isoformat(), "ends_at": (NOON + timedelta(days=1)).isoformat()}
    )

    assert applies(window, occasion(at=NOON))
    assert applies(window, occasion(at=NOON + timedelta(days=1, microseconds=-1)))
    assert not applies(window, occasion(at=NOON - timedelta(microseconds=1)))
    assert not applies(window, occasion(at=NOON + timedelta(days=1)))


def test_minimum_amount_channel_and_method_must_all_hold() -> None:
    conditions = parse_conditions(
        {"min_amount": 10000, "channels": ["returns"], "methods": ["gift_card"]}
    )

    assert applies(conditions, occasion())
    assert not applies(conditions, occasion(amount=9999))
    assert not applies(conditions, occasion(channel="pos"))
    assert not applies(conditions, occasion(method="store_credit"))


def test_a_percentage_reward_rounds_down_to_the_minor_unit() -> None:
    reward = parse_reward({"type": "percent", "percent": 10})

    assert reward.amount_for(10000) == 1000
    assert reward.amount_for(1999) == 199


def test_a_reward_expires_its_days_after_it_is_granted() -> None:
    reward = parse_reward({"type": "fixed", "amount": 2000, "expires_in_days": 60})

    assert reward.expiry(NOON) == NOON + timedelta(days=60)
    assert parse_reward({"type": "fixed", "amount": 1}).expiry(NOON) is None


@pytest.mark.parametrize(
    "reward",
    [
        {"type": "fixed", "amount": 0},
        {"type": "fixed", "amount": 12.5},
        {"type": "percent", "percent": 0},
        {"type": "percent", "percent": 101},
        {"type": "percent", "percent": "lots"},
        {"type": "gift"},
        {"type": "fixed", "amount": 100, "target": "elsewhere"},
        {"type": "fixed", "amount": 100, "expires_in_days": 0},
    ],
)
def test_a_malformed_reward_is_refused(reward: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest):
        parse_reward(reward)


@pytest.mark.parametrize(
    "conditions",
    [
        {"per_customer_limit": 0},
        {"min_amount": -1},
        {"starts_at": "2026-12-25T00:00:00+00:00", "ends_at": "2026-12-24T00:00:00+00:00"},
        {"starts_at": "2026-12-25T00:00:00"},
        {"colour": "red"},
    ],
)
def test_malformed_conditions_are_refused(conditions: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest):
        parse_conditions(conditions)
