"""Mirrors: a card's twin on a platform, and the queue of work that keeps it equal to the ledger.

The connectors follow the event log from their own position (the ``sync_position`` counter): each
event of a card bumps ``wanted`` on that card's mirror for every integration that pushes cards. A
worker claims a mirror whose ``wanted`` is ahead of ``done`` (one worker per mirror at a time, so
work for one card is serialized), converges it to the ledger as it stands then, and sets ``done``
to the ``wanted`` it claimed. A change that lands mid-push leaves ``wanted`` ahead: it runs again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.connectors.base import CardTarget, MirrorState
from omnigift.db import leases
from omnigift.db.counters import lock_counter, set_counter
from omnigift.db.engine import Database
from omnigift.db.tables import events, integrations, mirrors
from omnigift.events.catalogue import EventType
from omnigift.ids import new_id
from omnigift.ledger.cards import CardState
from omnigift.ledger.records import CardRecord
from omnigift.ledger.wallets import is_wallet_id

COUNTER = "sync_position"
BATCH = 1000
CARD_EVENTS = frozenset(
    {
        EventType.GIFT_CARD_CREATED,
        EventType.GIFT_CARD_UPDATED,
        EventType.GIFT_CARD_ACTIVITY_CREATED,
        EventType.HOLD_CREATED,
        EventType.HOLD_CAPTURED,
        EventType.HOLD_VOIDED,
        EventType.HOLD_EXPIRED,
    }
)


async def fan_out(db: Database, now: datetime) -> int:
    """Mark the mirrors of cards that changed since our position; how many events it read."""
    async with db.transaction() as conn:
        last = await lock_counter(conn, COUNTER)
        rows = (
            await conn.execute(
                select(events.c.position, events.c.type, events.c.account_id)
                .where(events.c.position > last)
                .order_by(events.c.position)
                .limit(BATCH)
            )
        ).all()
        if not rows:
            return 0
        changed = {
            r.account_id
            for r in rows
            if r.account_id and r.type in CARD_EVENTS and not is_wallet_id(r.account_id)
        }  # a store credit wallet's holds are events too, but web stores mirror cards only
        if changed:
            await want(conn, await pushing_integrations(conn), changed, now)
        await set_counter(conn, COUNTER, rows[-1].position)
    return len(rows)


async def pushing_integrations(conn: AsyncConnection) -> list[str]:
    rows = await conn.execute(
        select(integrations.c.id, integrations.c.settings).where(integrations.c.enabled.is_(True))
    )
    return [r.id for r in rows if r.settings.get("push_cards")]


async def want(
    conn: AsyncConnection, integration_ids: list[str], account_ids: set[str], now: datetime
) -> None:
    """Ask for these cards' mirrors to be brought up to date (creating the mirror rows)."""
    if not integration_ids or not account_ids:
        return
    pairs = {(i, a) for i in integration_ids for a in account_ids}
    found = (
        await conn.execute(
            select(mirrors.c.id, mirrors.c.integration_id, mirrors.c.account_id).where(
                mirrors.c.integration_id.in_(integration_ids),
                mirrors.c.account_id.in_(account_ids),
            )
        )
    ).all()
    existing = {(r.integration_id, r.account_id) for r in found}
    if found:
        await conn.execute(
            update(mirrors)
            .where(mirrors.c.id.in_([r.id for r in found]))
            .values(
                wanted=mirrors.c.wanted + 1,
                # A mirror backing off from a failing platform keeps its back-off.
                next_attempt_at=case(
                    (mirrors.c.attempts == 0, now), else_=mirrors.c.next_attempt_at
                ),
                updated_at=now,
            )
        )
    missing = sorted(pairs - existing)
    if missing:
        await conn.execute(
            mirrors.insert(),
            [
                {
                    "id": new_id("mir"),
                    "integration_id": integration_id,
                    "account_id": account_id,
                    "wanted": 1,
                    "done": 0,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "status": "ok",
                    "created_at": now,
                    "updated_at": now,
                }
                for integration_id, account_id in missing
            ],
        )


async def want_all(db: Database, integration_id: str, account_ids: set[str], now: datetime) -> None:
    """``want`` under the fan-out's lock, for work started outside the event log (an export of
    every existing card, a repair), so it never races the fan-out's inserts."""
    async with db.transaction() as conn:
        await lock_counter(conn, COUNTER)
        await want(conn, [integration_id], account_ids, now)


@dataclass(frozen=True, slots=True)
class Claimed:
    id: str
    integration_id: str
    account_id: str
    wanted: int
    attempts: int
    state: MirrorState


_DUE = leases.Due(
    select(mirrors)
    .join(integrations, integrations.c.id == mirrors.c.integration_id)
    .where(
        mirrors.c.wanted > mirrors.c.done,
        mirrors.c.next_attempt_at <= bindparam("b_now"),
        or_(mirrors.c.claimed_until.is_(None), mirrors.c.claimed_until < bindparam("b_now")),
        mirrors.c.status != "blocked",
        integrations.c.enabled.is_(True),
    )
    .order_by(mirrors.c.next_attempt_at)
    .limit(bindparam("b_limit")),
    mirrors,
)


async def claim_due(db: Database, now: datetime, limit: int, lease: float) -> list[Claimed]:
    """Lease up to ``limit`` mirrors with work due; each is held by one worker at a time."""
    rows = await leases.lease(db, _DUE, now, lease, {"b_now": now, "b_limit": limit})
    return [
        Claimed(
            r.id,
            r.integration_id,
            r.account_id,
            r.wanted,
            r.attempts,
            MirrorState(
                r.external_id, r.known_balance, r.known_state, r.known_expires_on, r.pending_write
            ),
        )
        for r in rows
    ]


def target_of(card: CardRecord, code: str) -> CardTarget | None:
    """What the mirror must be; None while the card is pending (not yet sellable anywhere)."""
    if card.state is CardState.PENDING:
        return None
    live = card.state in (CardState.ACTIVE, CardState.FROZEN)
    recipient = card.recipient or {}
    return CardTarget(
        account_id=card.id,
        code=code,
        currency=card.currency,
        balance=card.balance - card.held if card.state is CardState.ACTIVE else 0,
        state=card.state.value if live else "deactivated",
        expires_on=card.expires_at.date() if card.expires_at else None,
        customer_email=recipient.get("email"),
        recipient_name=recipient.get("name"),
        recipient_message=recipient.get("message"),
        shipping_name=card.metadata.get("shipping_name"),
    )


class MirrorJournal:
    """Records a push's progress on its mirror row.

    ``intend`` is committed before the write it announces is sent. What a write did (``created``,
    ``applied``, ``abandoned``) is kept until the next ``intend`` or the end of the push
    (``outcome``), and committed with it: one transaction fewer per write. That is safe because
    the announced write stays on the row until then — after a crash, the next push reads it back.
    """

    def __init__(self, db: Database, mirror_id: str) -> None:
        self._db = db
        self._id = mirror_id
        self._values: dict[str, Any] = {}
        self._delta = 0

    async def intend(self, write: dict[str, Any]) -> None:
        await _update(self._db, self._id, {**self.outcome(), "pending_write": write})

    async def created(
        self, external_id: str, balance: int, state: str, expires_on: str | None
    ) -> None:
        self._delta = 0
        self._values.update(
            external_id=external_id,
            known_balance=balance,
            known_state=state,
            known_expires_on=expires_on,
            pending_write=None,
        )

    async def applied(
        self, balance_delta: int = 0, state: str | None = None, expires_on: str | None = None
    ) -> None:
        self._delta += balance_delta
        self._values["pending_write"] = None
        if state is not None:
            self._values["known_state"] = state
        if expires_on is not None:
            self._values["known_expires_on"] = expires_on or None

    async def abandoned(self) -> None:
        self._values["pending_write"] = None

    def outcome(self) -> dict[str, Any]:
        """The column values of what the push did since the last ``intend``, taken out."""
        values = dict(self._values)
        if self._delta:
            base = values.get("known_balance", mirrors.c.known_balance)
            values["known_balance"] = base + self._delta
        self._values, self._delta = {}, 0
        return values


async def _update(db: Database, mirror_id: str, values: dict[str, Any]) -> None:
    async with db.write_one() as conn:
        await conn.execute(update(mirrors).where(mirrors.c.id == mirror_id).values(values))


async def finish(
    db: Database, claimed: Claimed, now: datetime, outcome: dict[str, Any] | None = None
) -> None:
    """The mirror converged to the ledger as of the claim (``outcome``: the journal's last)."""
    await _update(
        db,
        claimed.id,
        {
            **(outcome or {}),
            "done": claimed.wanted,
            "attempts": 0,
            "status": "ok",
            "last_error": None,
            "claimed_until": None,
            "synced_at": now,
            "updated_at": now,
        },
    )


async def retry_later(
    db: Database,
    claimed: Claimed,
    now: datetime,
    delay: float,
    error: str,
    status: str,
    outcome: dict[str, Any] | None = None,
) -> None:
    await _update(
        db,
        claimed.id,
        {
            **(outcome or {}),
            "attempts": mirrors.c.attempts + 1,
            "next_attempt_at": now + timedelta(seconds=delay),
            "claimed_until": None,
            "status": status,
            "last_error": error[:2000],
            "updated_at": now,
        },
    )


async def block(
    db: Database,
    claimed: Claimed,
    now: datetime,
    error: str,
    outcome: dict[str, Any] | None = None,
) -> None:
    """The platform can never take this card as it is: stop trying (staff see an exception)."""
    await _update(
        db,
        claimed.id,
        {
            **(outcome or {}),
            "done": claimed.wanted,
            "status": "blocked",
            "last_error": error[:2000],
            "claimed_until": None,
            "updated_at": now,
        },
    )


async def mirror_of_external(conn: AsyncConnection, integration_id: str, external_id: str) -> Any:
    """The mirror row holding this platform card id, or None."""
    return (
        await conn.execute(
            select(mirrors).where(
                and_(
                    mirrors.c.integration_id == integration_id, mirrors.c.external_id == external_id
                )
            )
        )
    ).first()
