"""Lightspeed writes every JSON value as a string (integrations.md 3.1 [C]): these helpers
format and read them. Money is Decimal, never float."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation


def money(amount: Decimal) -> str:
    """``"-100"``, ``"11.49"``, ``"0"``: no trailing zeros, as in the documented samples."""
    text = format(amount.quantize(Decimal("0.01")).normalize(), "f")
    return "0" if text in ("-0", "0") else text


def flag(value: bool) -> str:
    """``"true"`` / ``"false"``."""
    return "true" if value else "false"


def stamp(moment: datetime | None) -> str:
    """``2021-10-11T18:21:08+00:00``; empty string when unset [U for the empty string]."""
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else ""


def parse_money(value: object) -> Decimal | None:
    """A Decimal from a string or integer (floats refused); ``None`` when not a number."""
    if isinstance(value, bool | float):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if not isinstance(value, str):
        return None
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def parse_int(value: object) -> int | None:
    """An id from ``5`` or ``"5"``; ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def parse_bool(value: object) -> bool | None:
    """``true``/``"true"``/``1``/``"1"`` and the opposites; ``None`` otherwise."""
    if isinstance(value, bool):
        return value
    if value in ("true", "1", 1):
        return True
    if value in ("false", "0", 0):
        return False
    return None


def parse_stamp(value: str) -> datetime | None:
    """A query timestamp (``2025-07-02T00:00:00-00:00``, ``...-0400``); a ``+`` that arrived
    unencoded reads as a space and is put back."""
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "+"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
