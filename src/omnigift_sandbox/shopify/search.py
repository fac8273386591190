"""The subset of Shopify's search syntax the simulator understands, and opaque cursors.

Supported (giftcard-apis.md 2.4): free text (the full code, spaces ignored, or its last
characters), ``status:enabled|disabled|expired``, ``id:>N`` (and ``>=``, ``<``, ``<=``, ``=``),
``created_at:>'ISO'`` / ``updated_at:>'ISO'`` (same operators), ``last_characters:abcd`` (REST
search). Terms are ANDed; ``AND`` is ignored; unknown fields are ignored (unconfirmed: Shopify
may answer them differently).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

from .rules import normalise_code
from .state import GiftCard

TERM = re.compile(r"""(\w+):(>=|<=|>|<|=)?('[^']*'|"[^"]*"|\S+)|(\S+)""")


def _compare(left: Any, op: str, right: Any) -> bool:
    if op == ">":
        return bool(left > right)
    if op == ">=":
        return bool(left >= right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    return bool(left == right)


def parse_moment(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        try:
            moment = datetime.combine(date.fromisoformat(text), datetime.min.time())
        except ValueError:
            return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _code(text: str, card: GiftCard) -> bool:
    return card.code == text or (len(text) >= 4 and card.code.endswith(text))


def _status(wanted: str, today: date, card: GiftCard) -> bool:
    if wanted == "enabled":
        return card.enabled
    if wanted == "disabled":
        return not card.enabled
    return wanted == "expired" and card.expired(today)


def _number(op: str, value: int, card: GiftCard) -> bool:
    return _compare(card.id, op, value)


def _time(name: str, op: str, moment: datetime, card: GiftCard) -> bool:
    return _compare(getattr(card, name), op, moment)


def _last(value: str, card: GiftCard) -> bool:
    return card.code.endswith(value)


def card_filter(query: str | None, today: date) -> Callable[[GiftCard], bool]:
    """A predicate for cards matching ``query`` (None or blank matches all)."""
    tests: list[Callable[[GiftCard], bool]] = []
    words: list[str] = []
    for match in TERM.finditer(query or ""):
        name, op, raw, free = match.groups()
        if free is not None:
            if free.upper() not in ("AND", "OR"):
                words.append(free.strip("'\""))
            continue
        value = raw.strip("'\"")
        op = op or "="
        if name == "status":
            tests.append(partial(_status, value.lower(), today))
        elif name == "id" and value.isdigit():
            tests.append(partial(_number, op, int(value)))
        elif name in ("updated_at", "created_at"):
            moment = parse_moment(value)
            if moment is not None:
                tests.append(partial(_time, name, op, moment))
        elif name == "last_characters":
            tests.append(partial(_last, value.lower()))
    if words:
        # The free words together are one code written with spaces ("ABCD EFGH IJKL").
        tests.append(partial(_code, normalise_code("".join(words))))
    return lambda card: all(test(card) for test in tests)


def encode_cursor(data: dict[str, Any]) -> str:
    """An opaque cursor (base64 of JSON), like Shopify's page_info and GraphQL cursors."""
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any] | None:
    """The data in a cursor, or None if it is not one of ours."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
