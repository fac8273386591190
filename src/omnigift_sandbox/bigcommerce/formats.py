"""BigCommerce wire formats: 4-dp money strings, RFC 2822 dates, Unix-seconds strings."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

FOUR_DP = Decimal("0.0001")


class FormatError(ValueError):
    """A value in a request body or query could not be read."""


def money(value: Decimal) -> str:
    """Money as BigCommerce v2 answers it: a decimal string with four places, e.g. ``"10.0000"``."""
    return str(value.quantize(FOUR_DP))


def money_number(value: Decimal) -> float:
    """Money as v3 transactions answer it: a JSON number (``64.59``)."""
    return float(value)


def parse_money(value: object, field: str) -> Decimal:
    """Read a money field given as a string or a number; refuse NaN, infinities, booleans."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise FormatError(f"The field '{field}' is invalid.")
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise FormatError(f"The field '{field}' is invalid.") from exc
    if not parsed.is_finite():
        raise FormatError(f"The field '{field}' is invalid.")
    return parsed.quantize(FOUR_DP)


def rfc2822(moment: datetime) -> str:
    """``Tue, 20 Nov 2012 00:00:00 +0000`` — the v2 orders date format."""
    return email.utils.format_datetime(moment.astimezone(UTC))


def unix_string(moment: datetime | None) -> str:
    """Unix seconds as a string, the v2 gift certificate date format; ``"0"`` for no date [U]."""
    if moment is None:
        return "0"
    return str(int(moment.timestamp()))


def parse_date(value: object, field: str) -> datetime:
    """Read a date given as RFC 2822 (the documented input), ISO 8601 or Unix seconds.

    RFC 2822 is what BigCommerce documents for certificate input and order filters [C]; ISO 8601
    is documented for order filters [C]; Unix seconds are accepted for convenience [U].
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if not isinstance(value, str) or not value.strip():
        raise FormatError(f"The field '{field}' is invalid.")
    text = value.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text), UTC)
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise FormatError(f"The field '{field}' is not a valid date.") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
