"""REST cursor pagination (integrations.md 1.6): opaque ``page_info`` and a ``Link`` header."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from starlette.requests import Request

from .search import decode_cursor, encode_cursor

T = TypeVar("T")
MAX_LIMIT = 250


class BadPageInfo(ValueError):
    """The page_info is not one this simulator issued."""


def limit_of(request: Request, default: int = 50) -> int:
    """``limit`` clamped to 1..250 (Shopify's documented maximum is 250)."""
    raw = request.query_params.get("limit")
    try:
        value = int(raw) if raw else default
    except ValueError:
        value = default
    return max(1, min(MAX_LIMIT, value))


def page(
    request: Request,
    items: list[T],
    key: Callable[[T], int],
    filters: dict[str, Any],
    select: Callable[[dict[str, Any]], list[T]],
) -> tuple[list[T], dict[str, str]]:
    """One page of ``items`` (ordered by id) and the Link header.

    With ``page_info`` the filters come from the cursor and other parameters are ignored
    (Shopify forbids combining them; the simulator is lenient here).
    """
    limit = limit_of(request)
    info = request.query_params.get("page_info")
    after: int | None = None
    before: int | None = None
    if info:
        data = decode_cursor(info)
        if data is None:
            raise BadPageInfo(info)
        filters = data.get("filters", {})
        items = select(filters)
        after, before = data.get("after"), data.get("before")
    if after is not None:
        window = [i for i in items if key(i) > after]
        chosen = window[:limit]
        has_next, has_prev = len(window) > limit, True
    elif before is not None:
        window = [i for i in items if key(i) < before]
        chosen = window[-limit:]
        has_next, has_prev = True, len(window) > limit
    else:
        chosen = items[:limit]
        has_next, has_prev = len(items) > limit, False
    links = []
    base = str(request.url.replace(query=""))
    if has_prev and chosen:
        cursor = encode_cursor({"before": key(chosen[0]), "filters": filters})
        links.append(f'<{base}?{urlencode({"limit": limit, "page_info": cursor})}>; rel="previous"')
    if has_next and chosen:
        cursor = encode_cursor({"after": key(chosen[-1]), "filters": filters})
        links.append(f'<{base}?{urlencode({"limit": limit, "page_info": cursor})}>; rel="next"')
    return chosen, ({"Link": ", ".join(links)} if links else {})
