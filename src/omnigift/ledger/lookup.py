"""Finding a card by its code, without helping anyone guess codes.

An unknown code, a wrong check digit and a wrong PIN get the same answer (not found). Misses are
counted per API key and per client address over a sliding window; past the limit the caller is
refused for a while. A surge of misses across all callers (a distributed guessing attack) raises
an event for staff and halves every limit until it passes. A card's PIN locks after a number of
wrong tries in a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift import codes
from omnigift.db.engine import Database
from omnigift.db.tables import events, gift_cards, lookup_misses
from omnigift.events.catalogue import EventType
from omnigift.events.outbox import PendingEvent, record
from omnigift.ledger.errors import NotFound, TooManyAttempts
from omnigift.ledger.policy import LedgerPolicy
from omnigift.ledger.records import CardRecord, card_query

PIN_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class LookupLimits:
    max_misses: int = 10
    window: timedelta = timedelta(minutes=15)
    surge_misses: int = 200
    pin_max_failures: int = 5


@dataclass(frozen=True)
class Caller:
    """Who is looking: the buckets their misses count against."""

    api_key_id: str
    address: str | None

    @property
    def buckets(self) -> list[str]:
        found = [f"key:{self.api_key_id}"]
        if self.address:
            found.append(f"ip:{self.address}")
        return found


async def guard(db: Database, caller: Caller, limits: LookupLimits, now: datetime) -> None:
    """Refuse (``TooManyAttempts``) a caller past its limit of misses."""
    async with db.read() as conn:
        await _check_limits(conn, caller, limits, now)


async def count_miss(db: Database, caller: Caller, limits: LookupLimits, now: datetime) -> None:
    """Count a miss against the caller: an unknown code, or an e-mail that holds no cards."""
    await _record_miss(db, caller, limits, now)


async def find_by_code(
    db: Database,
    code: str,
    pin: str | None,
    caller: Caller,
    policy: LedgerPolicy,
    limits: LookupLimits,
    now: datetime,
) -> CardRecord:
    """The card with this code (and PIN, if it has one), or ``NotFound``; misses are counted."""
    await guard(db, caller, limits, now)
    normalized = codes.normalize(code)
    card: CardRecord | None = None
    try:
        policy.codes.precheck(normalized)
    except codes.InvalidCode:
        pass
    else:
        async with db.read() as conn:
            query = card_query().where(
                gift_cards.c.code_hash == policy.vault.lookup_hash(normalized)
            )
            row = (await conn.execute(query)).first()
        card = CardRecord.from_row(row) if row else None
    if (
        card is not None
        and card.pin_hash is not None
        and not await _pin_ok(db, card, pin, limits, now)
    ):
        card = None
    if card is None:
        await _record_miss(db, caller, limits, now)
        raise NotFound("no gift card with that code")
    return card


async def _check_limits(
    conn: AsyncConnection, caller: Caller, limits: LookupLimits, now: datetime
) -> None:
    since = now - limits.window
    surge = await _misses(conn, None, since) >= limits.surge_misses
    allowed = max(1, limits.max_misses // 2) if surge else limits.max_misses
    for bucket in caller.buckets:
        count = await _misses(conn, bucket, since)
        if count >= allowed:
            oldest = (
                await conn.execute(
                    select(func.min(lookup_misses.c.created_at)).where(
                        lookup_misses.c.bucket == bucket, lookup_misses.c.created_at > since
                    )
                )
            ).scalar_one()
            retry_after = max(1, int((oldest + limits.window - now).total_seconds()) + 1)
            raise TooManyAttempts(
                "too many lookups of unknown codes; try again later", retry_after=retry_after
            )


async def _misses(conn: AsyncConnection, bucket: str | None, since: datetime) -> int:
    query = (
        select(func.count()).select_from(lookup_misses).where(lookup_misses.c.created_at > since)
    )
    if bucket is not None:
        query = query.where(lookup_misses.c.bucket == bucket)
    else:  # every miss writes exactly one key bucket row: count those
        query = query.where(lookup_misses.c.bucket.startswith("key:"))
    return int((await conn.execute(query)).scalar_one())


async def _record_miss(db: Database, caller: Caller, limits: LookupLimits, now: datetime) -> None:
    since = now - limits.window
    async with db.transaction() as conn:
        await conn.execute(
            lookup_misses.insert(),
            [{"bucket": bucket, "created_at": now} for bucket in caller.buckets],
        )
        await conn.execute(delete(lookup_misses).where(lookup_misses.c.created_at <= since))
        if await _misses(conn, None, since) >= limits.surge_misses:
            await _raise_surge_once(conn, limits, now)


async def _raise_surge_once(conn: AsyncConnection, limits: LookupLimits, now: datetime) -> None:
    already = (
        await conn.execute(
            select(func.count())
            .select_from(events)
            .where(
                events.c.type == EventType.LOOKUP_SURGE.value,
                events.c.created_at > now - limits.window,
            )
        )
    ).scalar_one()
    if not already:
        data = {
            "window_seconds": int(limits.window.total_seconds()),
            "threshold": limits.surge_misses,
        }
        await record(conn, [PendingEvent(EventType.LOOKUP_SURGE, data)], now)


async def _pin_ok(
    db: Database, card: CardRecord, pin: str | None, limits: LookupLimits, now: datetime
) -> bool:
    """Check a card's PIN, counting wrong tries; a locked PIN refuses even the right one."""
    assert card.pin_hash is not None
    in_window = card.pin_failures_since is not None and card.pin_failures_since > now - PIN_WINDOW
    failures = card.pin_failures if in_window else 0
    if failures >= limits.pin_max_failures:
        return False
    if pin is not None and codes.verify_pin(pin, card.pin_hash):
        return True
    async with db.transaction() as conn:
        values = (
            {"pin_failures": gift_cards.c.pin_failures + 1}
            if in_window
            else {"pin_failures": 1, "pin_failures_since": now}
        )
        await conn.execute(update(gift_cards).where(gift_cards.c.id == card.id).values(values))
    return False
