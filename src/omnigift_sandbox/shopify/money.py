"""Money as Decimal, formatted the two ways Shopify writes it. Never floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

CENT = Decimal("0.01")


def parse_amount(value: object) -> Decimal | None:
    """A Decimal from a string or integer (floats are refused); None when it is not a number."""
    if isinstance(value, bool | float):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if not isinstance(value, str):
        return None
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def rest_amount(amount: Decimal) -> str:
    """REST writes money with two decimals: ``"20.00"``."""
    return str(amount.quantize(CENT))


def graphql_amount(amount: Decimal) -> str:
    """GraphQL's Decimal drops trailing zeros but keeps one decimal: ``"20.0"``, ``"12.5"``."""
    text = format(amount.quantize(CENT).normalize(), "f")
    return text if "." in text else f"{text}.0"
