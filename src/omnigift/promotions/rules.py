"""What a promotion is and whether it applies: pure rules, no database.

A promotion has a trigger, conditions and a reward:
- trigger: ``card_purchased``, ``refund_taken`` or ``order_completed`` (a web store order paid;
  its reward is always a ``new_card``);
- conditions (all optional): ``min_amount`` (minor units of the triggering amount), ``channels``
  (e.g. ``["online", "pos"]``), ``methods`` (for refunds: ``gift_card`` / ``store_credit``),
  ``starts_at`` / ``ends_at`` (a seasonal window, start included, end excluded),
  ``per_customer_limit`` (grants per customer);
- reward: ``{"type": "fixed", "amount": 2000}`` or ``{"type": "percent", "percent": 10}`` of the
  triggering amount (rounded down to the minor unit), granted on the ``same`` card or wallet or on
  a ``new_card``, as promotional value that expires ``expires_in_days`` after it is granted (or
  never).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Any

from omnigift.ledger.errors import InvalidRequest
from omnigift.money import MAX_AMOUNT, is_known_currency


class Trigger(StrEnum):
    CARD_PURCHASED = "card_purchased"
    REFUND_TAKEN = "refund_taken"
    ORDER_COMPLETED = "order_completed"


class Target(StrEnum):
    SAME = "same"
    NEW_CARD = "new_card"


@dataclass(frozen=True)
class Conditions:
    min_amount: int | None = None
    channels: tuple[str, ...] | None = None
    methods: tuple[str, ...] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    per_customer_limit: int | None = None


@dataclass(frozen=True)
class Reward:
    fixed: int | None
    percent: Decimal | None
    target: Target
    expires_in_days: int | None

    def amount_for(self, base: int) -> int:
        if self.fixed is not None:
            return self.fixed
        assert self.percent is not None
        return int((Decimal(base) * self.percent / 100).to_integral_value(ROUND_DOWN))

    def expiry(self, now: datetime) -> datetime | None:
        return now + timedelta(days=self.expires_in_days) if self.expires_in_days else None


@dataclass(frozen=True)
class Occasion:
    """What happened: the trigger, its amount and where it came from."""

    trigger: Trigger
    amount: int
    currency: str
    channel: str
    at: datetime
    reference: str  # unique per occasion: a promotion grants at most once for it
    customer_id: str | None = None
    method: str | None = None


def applies(conditions: Conditions, occasion: Occasion) -> bool:
    """Do the conditions hold for this occasion (all but the limits kept in the database)?"""
    c = conditions
    if c.min_amount is not None and occasion.amount < c.min_amount:
        return False
    if c.channels is not None and occasion.channel not in c.channels:
        return False
    if c.methods is not None and occasion.method not in c.methods:
        return False
    if c.starts_at is not None and occasion.at < c.starts_at:
        return False
    return not (c.ends_at is not None and occasion.at >= c.ends_at)


def parse_definition(
    trigger: str, currency: str, conditions: dict[str, Any], reward: dict[str, Any]
) -> tuple[Trigger, Conditions, Reward]:
    """Check a promotion as sent by staff; a clear 422 naming the field otherwise."""
    try:
        kind = Trigger(trigger)
    except ValueError:
        raise InvalidRequest(f"unknown trigger {trigger}", field="trigger") from None
    if not is_known_currency(currency):
        raise InvalidRequest(f"unknown currency {currency}", field="currency")
    parsed = parse_reward(reward)
    if kind is Trigger.ORDER_COMPLETED and parsed.target is not Target.NEW_CARD:
        # An order is no card or wallet: what it earns is a card of its own.
        raise InvalidRequest(
            "an order_completed promotion rewards a new_card", field="reward.target"
        )
    return kind, parse_conditions(conditions), parsed


def parse_conditions(data: dict[str, Any]) -> Conditions:
    unknown = set(data) - set(Conditions.__dataclass_fields__)
    if unknown:
        raise InvalidRequest(f"unknown condition {sorted(unknown)[0]}", field="conditions")
    limit = data.get("per_customer_limit")
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise InvalidRequest("per_customer_limit is a positive integer", field="conditions")
    minimum = data.get("min_amount")
    if minimum is not None and (not isinstance(minimum, int) or minimum < 0):
        raise InvalidRequest("min_amount is a non-negative integer", field="conditions")
    starts, ends = _moment(data.get("starts_at")), _moment(data.get("ends_at"))
    if starts and ends and ends <= starts:
        raise InvalidRequest("ends_at must come after starts_at", field="conditions.ends_at")
    return Conditions(
        min_amount=minimum,
        channels=tuple(data["channels"]) if data.get("channels") is not None else None,
        methods=tuple(data["methods"]) if data.get("methods") is not None else None,
        starts_at=starts,
        ends_at=ends,
        per_customer_limit=limit,
    )


def parse_reward(data: dict[str, Any]) -> Reward:
    kind = data.get("type")
    fixed, percent = data.get("amount"), data.get("percent")
    if kind == "fixed":
        if not isinstance(fixed, int) or not 0 < fixed <= MAX_AMOUNT:
            raise InvalidRequest("a fixed reward needs a positive amount", field="reward.amount")
        percent = None
    elif kind == "percent":
        try:
            percent = Decimal(str(percent))
        except ArithmeticError:
            percent = Decimal(0)
        if not Decimal(0) < percent <= Decimal(100):
            raise InvalidRequest("percent is above 0 and at most 100", field="reward.percent")
        fixed = None
    else:
        raise InvalidRequest("reward type is fixed or percent", field="reward.type")
    try:
        target = Target(data.get("target", Target.SAME))
    except ValueError:
        raise InvalidRequest("reward target is same or new_card", field="reward.target") from None
    days = data.get("expires_in_days")
    if days is not None and (not isinstance(days, int) or days < 1):
        raise InvalidRequest("expires_in_days is a positive integer", field="reward")
    return Reward(fixed, percent, target, days)


def _moment(value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"not a date and time: {value}", field="conditions") from None
    if moment.tzinfo is None:
        raise InvalidRequest("dates need a time zone", field="conditions")
    return moment
