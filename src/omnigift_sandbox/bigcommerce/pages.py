"""v2 paging: ``page`` from 1, ``limit`` default 50, at most 250 [C common-query-params]."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from starlette.responses import JSONResponse, Response

from .errors import ApiError

T = TypeVar("T")
DEFAULT_LIMIT = 50
MAX_LIMIT = 250


def page(items: Sequence[T], query: dict[str, str]) -> list[T]:
    """The requested page. A ``limit`` above 250 is clamped [U — real stores may answer 413]."""
    try:
        number = int(query.get("page", "1"))
        limit = int(query.get("limit", str(DEFAULT_LIMIT)))
    except ValueError as exc:
        raise ApiError(400, "The 'page' and 'limit' parameters must be integers.") from exc
    if number < 1 or limit < 1:
        raise ApiError(400, "The 'page' and 'limit' parameters must be positive.")
    limit = min(limit, MAX_LIMIT)
    start = (number - 1) * limit
    return list(items[start : start + limit])


def v2_list(rows: list[object]) -> Response:
    """A v2 collection: an empty one is ``204 No Content`` [O — BigCommerce v2 answers empty
    collections this way; official clients special-case 204], otherwise a JSON array."""
    if not rows:
        return Response(status_code=204)
    return JSONResponse(rows)
