"""Idempotent execution of every POST that creates or moves value (API.md, Idempotency).

The key is claimed in the same database transaction as the work, and the response is stored in
it before commit. So a retry after success replays the stored response; a duplicate arriving while
the first is still running waits on the key's row (PostgreSQL) or on the write lock (SQLite) and
then replays it; and a request that failed stored nothing, so its retry simply runs. Keys are
scoped to the API key that sent them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import Response
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.api.deps import RuntimeDep
from omnigift.api.problems import ApiError, ApiErrorCode
from omnigift.clock import utcnow
from omnigift.db.engine import Database
from omnigift.db.tables import idempotency_keys
from omnigift.keys import Principal
from omnigift.metrics import ACTIVITIES


@dataclass
class Outcome:
    """What a piece of work answers: status, JSON body, and the activity types it recorded."""

    status: int
    body: dict[str, Any]
    activity_types: list[str] = field(default_factory=list)


Work = Callable[[AsyncConnection, datetime], Awaitable[Outcome]]


@dataclass(frozen=True)
class IdempotencyKey:
    key: str
    request_hash: str


async def idempotency_key(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", description="1..255 characters, unique per operation"),
    ] = None,
) -> IdempotencyKey:
    """The request's Idempotency-Key (required) and a fingerprint of what it asks."""
    if idempotency_key is None or not 1 <= len(idempotency_key) <= 255:
        raise ApiError(
            400,
            ApiErrorCode.IDEMPOTENCY_KEY_REQUIRED,
            "this request moves value: send an Idempotency-Key header of 1 to 255 characters",
        )
    body = await request.body()
    try:
        canonical = json.dumps(json.loads(body or b"null"), sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    fingerprint = f"{request.method} {request.url.path}\n{canonical}"
    return IdempotencyKey(idempotency_key, hashlib.sha256(fingerprint.encode()).hexdigest())


IdempotencyDep = Annotated[IdempotencyKey, Depends(idempotency_key)]


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


async def run_idempotent(
    runtime: RuntimeDep, principal: Principal, idem: IdempotencyKey, work: Work
) -> Response:
    """Run ``work`` once per (API key, Idempotency-Key); replay its response to any retry."""
    db = runtime.db
    try:
        async with db.transaction() as conn:
            now = utcnow()
            await conn.execute(
                idempotency_keys.insert().values(
                    api_key_id=principal.key_id,
                    key=idem.key,
                    request_hash=idem.request_hash,
                    created_at=now,
                )
            )
            outcome = await work(conn, now)
            content = _json(outcome.body)
            await conn.execute(
                update(idempotency_keys)
                .where(
                    idempotency_keys.c.api_key_id == principal.key_id,
                    idempotency_keys.c.key == idem.key,
                )
                .values(status_code=outcome.status, response_body=content.decode())
            )
    except IntegrityError as exc:
        if "idempotency" not in str(exc.orig).lower():
            raise
        return await _replay(db, principal, idem)
    for kind in outcome.activity_types:  # counted once: replays are not new activities
        ACTIVITIES.labels(type=kind).inc()
    return Response(content, status_code=outcome.status, media_type="application/json")


async def _replay(db: Database, principal: Principal, idem: IdempotencyKey) -> Response:
    async with db.read() as conn:
        row = (
            await conn.execute(
                select(idempotency_keys).where(
                    idempotency_keys.c.api_key_id == principal.key_id,
                    idempotency_keys.c.key == idem.key,
                )
            )
        ).first()
    if row is None or row.status_code is None:
        raise ApiError(
            409,
            ApiErrorCode.IDEMPOTENCY_KEY_IN_USE,
            "a request with this Idempotency-Key is still running; retry shortly",
            headers={"Retry-After": "1"},
        )
    if row.request_hash != idem.request_hash:
        raise ApiError(
            422,
            ApiErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this Idempotency-Key was already used for a different request",
        )
    return Response(
        row.response_body.encode(),
        status_code=row.status_code,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


async def purge_expired(db: Database, now: datetime, retention: timedelta) -> int:
    """Forget keys older than the retention (at least 24 hours)."""
    async with db.transaction() as conn:
        result = await conn.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_at < now - retention)
        )
    return int(result.rowcount or 0)
