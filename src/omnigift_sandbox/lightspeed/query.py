"""V3 query parameters: field filters with operators, ``archived``, ``sort``, ``limit``,
cursor pagination with ``after`` / ``before``, ``count=1`` and ``load_relations``
(integrations.md 3.2-3.3 [C]; docs/introduction/query-parameters.md and pagination.md)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request

from .errors import ApiError
from .values import parse_stamp

T = TypeVar("T")
MAX_LIMIT = 100
PAGING = {"limit", "sort", "after", "before", "count", "load_relations", "archived"}
TIME_FIELDS = {"timeStamp", "createTime", "completeTime"}
# Longest first, so ">=" is not read as ">".
OPERATORS = ("><", ">=", "<=", "!=", "!~", ">", "<", "~", "IN", "=")


def split_operator(raw: str) -> tuple[str, str]:
    """``">,2025-07-02T00:00:00-00:00"`` → ``(">", "2025-...")``; no operator → ``"="``."""
    for op in OPERATORS:
        if raw.startswith(op + ","):
            return op, raw[len(op) + 1 :]
    return "=", raw


def _typed(field: str, value: str) -> Any:
    if field in TIME_FIELDS:
        return parse_stamp(value) if value else None
    try:
        return Decimal(value)
    except InvalidOperation:
        return value


def matches(field: str, record_value: str, op: str, operand: str) -> bool:
    """Whether ``record_value`` (as Lightspeed renders it) passes ``field=op,operand``."""
    if op in ("~", "!~"):
        pattern = "^" + ".*".join(re.escape(part) for part in operand.split("%")) + "$"
        found = re.match(pattern, record_value, re.IGNORECASE) is not None
        return found if op == "~" else not found
    if op == "IN":
        text = operand.strip()
        values = json.loads(text) if text.startswith("[") else text.split(",")
        return any(_equal(field, record_value, str(v)) for v in values)
    if op == "=":
        return _equal(field, record_value, operand)
    if op == "!=":
        return not _equal(field, record_value, operand)
    left = _typed(field, record_value)
    if op == "><":
        low, _, high = operand.partition(",")
        lo, hi = _typed(field, low), _typed(field, high)
        return _cmp(left, lo, ">=") and _cmp(left, hi, "<=")
    return _cmp(left, _typed(field, operand), op)


def _equal(field: str, record_value: str, operand: str) -> bool:
    left, right = _typed(field, record_value), _typed(field, operand)
    if type(left) is type(right):
        return bool(left == right)
    return record_value == operand


def _cmp(left: Any, right: Any, op: str) -> bool:
    if left is None or right is None or type(left) is not type(right):
        return False
    ops: dict[str, Callable[[Any, Any], bool]] = {
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
    }
    return ops[op](left, right)


def relations(request: Request) -> set[str]:
    """``load_relations=["SalePayments","SaleLines"]`` or ``all``: the top-level names."""
    raw = request.query_params.get("load_relations")
    if not raw:
        return set()
    if raw == "all":
        return {"all"}
    try:
        names = json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "load_relations must be a JSON array of relation names.") from exc
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ApiError(400, "load_relations must be a JSON array of relation names.")
    return {n.split(".")[0] for n in names}


@dataclass
class Resource(Generic[T]):
    """How one resource is listed: its key, primary id, sortable and filterable fields."""

    key: str
    primary: str
    sortable: Sequence[str]
    fields: Sequence[str]  # the filterable fields (an unknown one is refused [U])
    flat: Callable[[T], dict[str, str]]  # unmasked rendering used for filters and cursors
    equals_only: Sequence[str] = ()
    has_archived: bool = True


@dataclass
class Page(Generic[T]):
    """The records of one page, and the adjacent page URLs."""

    items: list[T]
    next: str
    previous: str
    count: int | None = None


def _encode(value: str, ident: int) -> str:
    raw = json.dumps([value, ident]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode(cursor: str, field: str) -> tuple[Any, int]:
    try:
        value, ident = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return _sort_value(field, str(value)), int(ident)
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "Invalid pagination cursor.") from exc


def _sort_value(field: str, value: str) -> Any:
    typed = _typed(field, value)
    # Unset timestamps sort first.
    return ("", typed) if typed is None else (typed.__class__.__name__, typed)


def select(request: Request, resource: Resource[T], records: list[T]) -> Page[T]:
    """Filter, sort and cut one page of ``records`` per the request's query."""
    params = request.query_params
    if "offset" in params or "orderby" in params:
        raise ApiError(400, "offset and orderby were removed in V3: use after/before and sort.")
    counting = params.get("count") == "1"
    if counting and any(k in params for k in ("limit", "sort", "after", "before")):
        raise ApiError(400, "count cannot be combined with limit, sort, after or before.")
    archived = params.get("archived", "false")
    if resource.has_archived and archived not in ("true", "false", "only"):
        raise ApiError(400, "archived must be true, false or only.")
    flats = [(record, resource.flat(record)) for record in records]
    if resource.has_archived and archived != "true":
        want = "true" if archived == "only" else "false"
        flats = [(r, f) for r, f in flats if f.get("archived") == want]
    for name, raw in params.multi_items():
        if name in PAGING:
            continue
        if name not in resource.fields:
            raise ApiError(400, f"Invalid query parameter: {name}.")
        op, operand = split_operator(raw)
        if name in resource.equals_only and op != "=":
            raise ApiError(400, f"Only the = operator can be used with {name}.")
        flats = [(r, f) for r, f in flats if matches(name, f[name], op, operand)]
    if counting:
        return Page(items=[], next="", previous="", count=len(flats))
    sort = params.get("sort", resource.primary)
    field = sort.lstrip("-")
    descending = sort.startswith("-")
    if field not in resource.sortable:
        raise ApiError(
            400, f"Invalid sort field {field}; sortable fields: {', '.join(resource.sortable)}."
        )
    try:
        limit = int(params.get("limit", MAX_LIMIT))
    except ValueError as exc:
        raise ApiError(400, "limit must be an integer.") from exc
    if not 0 <= limit <= MAX_LIMIT:
        raise ApiError(400, f"limit must be between 0 and {MAX_LIMIT}.")

    def key(flat: dict[str, str]) -> tuple[Any, int]:
        return _sort_value(field, flat[field]), int(flat[resource.primary])

    ordered = sorted(flats, key=lambda pair: key(pair[1]), reverse=descending)
    keys = [key(f) for _, f in ordered]

    def beyond(k: tuple[Any, int], cursor: tuple[Any, int]) -> bool:
        return k < cursor if descending else k > cursor

    if "after" in params:
        cursor = _decode(params["after"], field)
        start = next((i for i, k in enumerate(keys) if beyond(k, cursor)), len(keys))
        end = start + limit
    elif "before" in params:
        cursor = _decode(params["before"], field)
        end = next((i for i, k in enumerate(keys) if not beyond(cursor, k)), len(keys))
        start = max(0, end - limit)
    else:
        start, end = 0, limit
    chosen = ordered[start:end]
    base = {k: v for k, v in params.multi_items() if k not in ("after", "before")}
    base["limit"] = str(limit)
    base["sort"] = sort
    url = str(request.url.replace(query=""))
    nxt = prev = ""
    if chosen and end < len(ordered):
        last = ordered[end - 1][1]
        nxt = url + "?" + urlencode({**base, "after": _encode(last[field], keys[end - 1][1])})
    if chosen and start > 0:
        first = ordered[start][1]
        prev = url + "?" + urlencode({**base, "before": _encode(first[field], keys[start][1])})
    return Page(items=[r for r, _ in chosen], next=nxt, previous=prev)
