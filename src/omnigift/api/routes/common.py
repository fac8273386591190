"""Small pieces every router shares: JSON answers, paging limits, the caller's address."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import Response

from omnigift.keys import Principal
from omnigift.ledger.lookup import Caller

Limit = Annotated[int, Query(ge=1, le=200, description="page size, 1..200")]


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    content = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return Response(content, status_code=status, media_type="application/json")


def caller_of(request: Request, principal: Principal) -> Caller:
    """Whose misses a code lookup counts against: the API key and the client address."""
    return Caller(principal.key_id, request.client.host if request.client else None)
