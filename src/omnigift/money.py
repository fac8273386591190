"""Money: integer minor units and an ISO 4217 currency. Never floats.

Exponents come from Babel's currency data; loyalty points use the pseudo-currency ``PTS`` with
no decimals.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import format_currency, get_currency_precision, list_currencies

POINTS = "PTS"
MAX_AMOUNT = 10**12  # one hundred million dollars in cents: far above any card, far below int64


@lru_cache(maxsize=512)
def is_known_currency(code: str) -> bool:
    """True for ISO 4217 codes Babel knows, and for loyalty points."""
    return code == POINTS or code in list_currencies()


@lru_cache(maxsize=512)
def exponent(currency: str) -> int:
    """Number of decimal places of the currency's minor unit (USD 2, JPY 0, PTS 0)."""
    if currency == POINTS:
        return 0
    return int(get_currency_precision(currency))


@dataclass(frozen=True, slots=True)
class Money:
    """An exact amount in minor units of one currency."""

    amount: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("Money.amount must be an int of minor units")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} and {other.currency}")

    def as_dict(self) -> dict[str, int | str]:
        """The API's JSON form: ``{"amount": 2500, "currency": "USD"}``."""
        return {"amount": self.amount, "currency": self.currency}


def decimal_string(amount: int, currency: str) -> str:
    """Minor units as the decimal string platforms use: ``2050, "USD"`` -> ``"20.50"``."""
    places = exponent(currency)
    return str((Decimal(amount) / (10**places)).quantize(Decimal(1).scaleb(-places)))


def display(amount: int, currency: str, locale: str = "en_US") -> str:
    """An amount as a customer reads it: ``8800, "USD"`` -> ``"$88.00"``."""
    if currency == POINTS:
        return f"{amount} points"
    value = Decimal(amount) / (10 ** exponent(currency))
    return str(format_currency(value, currency, locale=locale))


def minor_units(text: str | int | float, currency: str) -> int:
    """A platform's decimal amount (``"20.5"``, ``"10.0000"``, ``64.59``) in minor units, exactly.

    Refuses a value with more precision than the currency has (``"1.005"`` USD): guessing a
    rounding would create or destroy money."""
    try:
        value = Decimal(str(text)) * (10 ** exponent(currency))
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    if value != value.to_integral_value():
        raise ValueError(f"{text!r} has more decimals than {currency} allows")
    return int(value)
