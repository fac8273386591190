"""Idempotent execution of every POST that creates or moves value (API.md, Idempotency).

The key and the response are written in ONE row, in the same database transaction as the work,
just before commit (one statement, not a claim and an update). So:
- a retry after success runs the work again, but its insert of the key conflicts with the stored
  row (or the work is refused, e.g. the balance is spent), so its transaction rolls back and the
  stored response is replayed. Retries are rare; looking the key up first would cost every first
  request a round trip;
- a duplicate of a request still running in this process is answered 409
  ``idempotency_key_in_use`` at once (a per-process registry of keys in flight);
- a duplicate running in another process does its work under the same row locks, then its insert
  of the key conflicts with the first's, its transaction rolls back, and it replays the first's
  response. If its work was refused instead (the first spent the balance), the refusal is checked
  against the stored keys before it is answered, so it replays too;
- a request that failed stored nothing, so its retry simply runs.
Keys are scoped to the API key that sent them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any, NoReturn

from fastapi import Depends, Header, Request
from fastapi.responses import Response
from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.api.deps import RuntimeDep
from omnigift.api.problems import ApiError, ApiErrorCode
from omnigift.api.turns import QueuedWrite, Send, Turn, card_turn
from omnigift.clock import utcnow
from omnigift.db.engine import Database
from omnigift.db.tables import idempotency_keys
from omnigift.keys import Principal
from omnigift.ledger.activities import ActivityRequest, apply_activity, plan_redeem_unlocked
from omnigift.ledger.cards import ActivityType
from omnigift.ledger.errors import LedgerError
from omnigift.ledger.one_statement import AlongRow
from omnigift.ledger.records import (
    CardWithLots,
    PlannedWrite,
    Written,
    read_card_with_lots_in_loop,
    write_planned,
    write_planned_in_group,
    write_planned_together,
)
from omnigift.metrics import ACTIVITIES, REDEEM_WAYS, WRITES_TOGETHER
from omnigift.runtime import Runtime


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
        # request.json() is the parse FastAPI already made for the body's model, kept.
        parsed = await request.json() if body else None
        canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":"))
    except ValueError:
        canonical = body.decode("utf-8", "replace")
    fingerprint = f"{request.method} {request.scope['path']}\n{canonical}"
    return IdempotencyKey(idempotency_key, hashlib.sha256(fingerprint.encode()).hexdigest())


IdempotencyDep = Annotated[IdempotencyKey, Depends(idempotency_key)]


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


_STORE = idempotency_keys.insert()
_FIND = select(idempotency_keys).where(
    idempotency_keys.c.api_key_id == bindparam("b_api_key_id"),
    idempotency_keys.c.key == bindparam("b_key"),
)
_IN_FLIGHT: set[tuple[str, str]] = set()


@contextmanager
def _in_flight(principal: Principal, idem: IdempotencyKey) -> Iterator[None]:
    """Mark the key as running in this process; a duplicate meanwhile gets 409."""
    token = (principal.key_id, idem.key)
    if token in _IN_FLIGHT:
        _still_running()
    _IN_FLIGHT.add(token)
    try:
        yield
    finally:
        _IN_FLIGHT.discard(token)


async def run_idempotent(
    runtime: RuntimeDep, principal: Principal, idem: IdempotencyKey, work: Work
) -> Response:
    """Run ``work`` once per (API key, Idempotency-Key); replay its response to any retry."""
    with _in_flight(principal, idem):
        return await _run_locked(runtime, principal, idem, work)


async def run_activity(
    runtime: RuntimeDep,
    principal: Principal,
    idem: IdempotencyKey,
    card_id: str,
    request: ActivityRequest,
    respond: Callable[[Written], Outcome],
) -> Response:
    """``run_idempotent`` for one activity on one card, answered by ``respond``.

    A redeem goes first the short way: one read of the card and its lots, then one write of the
    activity and the idempotency key, made only if the card has not moved since, each its own
    transaction. On PostgreSQL each is one statement (2 round trips, not 6, and the card's row
    is locked only while the write runs); on SQLite each is one trip to the driver's thread.
    Requests of this process on one card take turns (``turns``), so they do not move it under
    one another, and a busy card's writes go out together, one commit for several. When the
    card did move (a writer in another process), or the redeem is refused, or value is due to
    lapse first, it runs again the usual way, under the lock.
    """

    async def work(conn: AsyncConnection, now: datetime) -> Outcome:
        policy, origin = runtime.policy, principal.origin
        return respond(await apply_activity(conn, card_id, request, policy, origin, now))

    with _in_flight(principal, idem):
        async with card_turn(card_id) as turn:
            answered = await _run_unlocked(runtime, principal, idem, turn, request, respond)
            if answered is not None:
                REDEEM_WAYS.labels(way="short").inc()
                return answered
            if request.type is ActivityType.REDEEM:
                REDEEM_WAYS.labels(way="locked").inc()
            return await _run_locked(runtime, principal, idem, work)


async def _run_locked(
    runtime: Runtime, principal: Principal, idem: IdempotencyKey, work: Work
) -> Response:
    try:
        async with runtime.db.transaction() as conn:
            now = utcnow()
            outcome = await work(conn, now)
            content = _json(outcome.body)
            stored = _stored(runtime, principal, idem, outcome, content, now)
            await conn.execute(_STORE, stored)
    except IntegrityError as exc:
        return await _collided(runtime, principal, idem, exc)
    except (LedgerError, ApiError):
        # Refused, having written nothing; but if the key already succeeded elsewhere (a
        # duplicate that ran concurrently in another process), its answer is the replay.
        replayed = await _replay(runtime, principal, idem)
        if replayed is None:
            raise
        return replayed
    return _answer(outcome, content)


async def _run_unlocked(
    runtime: RuntimeDep,
    principal: Principal,
    idem: IdempotencyKey,
    turn: Turn,
    request: ActivityRequest,
    respond: Callable[[Written], Outcome],
) -> Response | None:
    """The short way of ``run_activity``; None when it wrote nothing and the usual way must run."""
    db = runtime.db
    now, planned_on = utcnow(), turn.known
    # Planned on what the card's last queued write leaves, or on SQLite's read in the loop.
    read = planned_on or read_card_with_lots_in_loop(db.loop_reader, turn.card_id)
    async with _planning(db, read) as conn:
        try:
            planned = await plan_redeem_unlocked(
                conn, turn.card_id, request, runtime.policy, principal.origin, now, known=read
            )
        except LedgerError:
            return None  # refusals are decided, and answered, under the lock; nothing moved
        if planned is None:
            turn.known = None  # the usual way may move the card: the next request reads it
            return None
        outcome, content = _answered(planned, respond)
        key_row = (idempotency_keys, _stored(runtime, principal, idem, outcome, content, now))
        write = QueuedWrite(planned, planned_on, now, key_row)
        if turn.queue_write(write):
            await turn.send_first(_first_sender(db, conn), partial(_sender, db))
    try:
        written = await write.done
    except IntegrityError as exc:
        return await _collided(runtime, principal, idem, exc)
    return _answer(outcome, content) if written else None


@asynccontextmanager
async def _planning(
    db: Database, read: CardWithLots | None
) -> AsyncIterator[AsyncConnection | None]:
    """The connection the short way plans on: on PostgreSQL an autocommit one, which also sends
    the card's first write; on SQLite a read connection only when the card was not read in the
    loop (its writes go through the group commit), so a waiting request holds none."""
    if db.is_sqlite and read is not None:
        yield None
        return
    async with db.read() as conn:
        yield conn


def _first_sender(db: Database, conn: AsyncConnection | None) -> Send:
    if conn is None or db.is_sqlite:
        return partial(_send_in_group, db)
    return partial(_send, conn)


async def _send(conn: AsyncConnection, writes: list[QueuedWrite]) -> bool:
    """A card's writes, each planned on what the one before it leaves: all written, or none."""
    if len(writes) == 1:
        (write,) = writes
        seen = write.planned.change.card.version
        WRITES_TOGETHER.observe(1)
        return await write_planned(
            conn, write.planned, write.now, seen_version=seen, along=write.along
        )
    return await _together(writes, partial(write_planned_together, conn))


async def _send_in_group(db: Database, writes: list[QueuedWrite]) -> bool:
    """SQLite: ``_send``, in one commit with the other cards' writes queued meanwhile."""
    assert db.commits is not None, "SQLite sends its writes in groups"
    return await _together(writes, partial(write_planned_in_group, db.commits))


async def _together(
    writes: list[QueuedWrite],
    send: Callable[[list[tuple[PlannedWrite, datetime, AlongRow]]], Awaitable[bool]],
) -> bool:
    WRITES_TOGETHER.observe(len(writes))
    try:
        return await send([(w.planned, w.now, w.along) for w in writes])
    except IntegrityError:
        if len(writes) == 1:
            raise  # its request finds out at once whether its key was stored by another
        return False  # one of them collided on its key: each finds out which the usual way


@asynccontextmanager
async def _sender(db: Database) -> AsyncIterator[Callable[[list[QueuedWrite]], Awaitable[bool]]]:
    """What a card's queue sends its batches with: on PostgreSQL one connection for them all."""
    if db.is_sqlite:
        yield partial(_send_in_group, db)
        return
    async with db.autocommit() as conn:
        yield partial(_send, conn)


def _answered(
    planned: PlannedWrite, respond: Callable[[Written], Outcome]
) -> tuple[Outcome, bytes]:
    outcome = respond(planned.written)
    return outcome, _json(outcome.body)


def _stored(
    runtime: Runtime,
    principal: Principal,
    idem: IdempotencyKey,
    outcome: Outcome,
    content: bytes,
    now: datetime,
) -> dict[str, Any]:
    """The idempotency key's row: the response to replay to a retry, sealed (it may carry a
    card's code)."""
    return {
        "api_key_id": principal.key_id,
        "key": idem.key,
        "request_hash": idem.request_hash,
        "status_code": outcome.status,
        "response_body": runtime.responses.seal(content.decode()),
        "response_sealed": True,
        "created_at": now,
    }


async def _collided(
    runtime: Runtime, principal: Principal, idem: IdempotencyKey, exc: IntegrityError
) -> Response:
    """The key was stored by another request: its response, once it has one."""
    if "idempotency" not in str(exc.orig).lower():
        raise exc
    # The request we collided with may yet roll back: then the caller simply retries.
    return await _replay(runtime, principal, idem) or _still_running()


def _answer(outcome: Outcome, content: bytes) -> Response:
    for kind in outcome.activity_types:  # counted once: replays are not new activities
        ACTIVITIES.labels(type=kind).inc()
    return Response(content, status_code=outcome.status, media_type="application/json")


def _still_running() -> NoReturn:
    raise ApiError(
        409,
        ApiErrorCode.IDEMPOTENCY_KEY_IN_USE,
        "a request with this Idempotency-Key is still running; retry shortly",
        headers={"Retry-After": "1"},
    )


async def _replay(runtime: Runtime, principal: Principal, idem: IdempotencyKey) -> Response | None:
    """The stored response of this key, or None if it has none."""
    async with runtime.db.read() as conn:
        found = await conn.execute(_FIND, {"b_api_key_id": principal.key_id, "b_key": idem.key})
        row = found.first()
    if row is None:
        return None
    if row.request_hash != idem.request_hash:
        raise ApiError(
            422,
            ApiErrorCode.IDEMPOTENCY_KEY_REUSED,
            "this Idempotency-Key was already used for a different request",
        )
    body = row.response_body
    if row.response_sealed:
        body = runtime.responses.unseal(body)
    return Response(
        body.encode(),
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
