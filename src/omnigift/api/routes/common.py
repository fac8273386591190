"""Small pieces every router shares: JSON answers, paging limits, the caller's address."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response

from omnigift.api.schemas import Problem
from omnigift.keys import Principal
from omnigift.ledger.errors import NotFound
from omnigift.ledger.lookup import Caller
from omnigift.ledger.wallets import is_wallet_id

# Every route may answer with a problem document; the OpenAPI document says so.
PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {
        "model": Problem,
        "description": description,
        "content": {"application/problem+json": {}},
    }
    for status, description in {
        400: "Bad request (for example a missing Idempotency-Key)",
        401: "Missing, unknown or revoked API key",
        403: "The API key lacks the scope",
        404: "Not found",
        409: "Refused by the ledger's rules (insufficient funds, wrong state, ...)",
        422: "Invalid input; `errors` names the fields",
        429: "Too many attempts; see Retry-After",
    }.items()
}

Limit = Annotated[int, Query(ge=1, le=200, description="page size, 1..200")]


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(content, status_code=status, media_type="application/json")


def caller_of(request: Request, principal: Principal) -> Caller:
    """Whose misses a code lookup counts against: the API key and the client address."""
    return Caller(principal.key_id, request.client.host if request.client else None)


def gift_card_only(card_id: str) -> None:
    """A card route refuses a store credit wallet's id as it would an unknown card (wallets are
    reached through their customer); checked without a database round trip."""
    if is_wallet_id(card_id):
        raise NotFound(f"no gift card {card_id}")
