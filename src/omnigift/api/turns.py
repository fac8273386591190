"""Requests on one card take turns within this process.

A redeem's short way (``idempotency.run_activity``) reads the card, then writes only if the card
has not moved since. Sixteen tills redeeming one card at once would mostly find it moved, and each
would then take the locked way: wasted round trips and a queue on the card's row lock inside
PostgreSQL, holding a connection each. Taking turns here first, the requests of this process
never move the card under one another, so the short way holds; only writers in other processes
(the worker, a second server process) can still send one the locked way. A turn costs an
uncontended lock when cards differ.

While requests wait, a turn also hands on what the last one writes: the card and its lots as its
write will leave them (``Turn.known``), so the next need not read them again. It hands them on as
soon as it has planned its write (``Turn.hand_on``): the next plans while this one writes, and
sends its own write only once this one's has landed (``Turn.landing``: what it left, or None), so
the card's writes reach the database in turn. A next that planned on something that did not land
plans again on what did. Every write stays guarded by the card's version, so a change made
meanwhile by another process is never missed. Nothing is kept once no request waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from omnigift.ledger.records import CardWithLots


@dataclass
class Turn:
    """One card's turn: who waits for it, and what the last holder's write leaves the card as."""

    card_id: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0  # requests holding or waiting for the turn, or still writing after it
    known: CardWithLots | None = None
    landing: asyncio.Future[CardWithLots | None] | None = None
    held: bool = False
    writing: int = 0  # requests that planned a write that has not landed yet

    def hand_on(
        self, known: CardWithLots | None, landing: asyncio.Future[CardWithLots | None]
    ) -> None:
        """The next request may plan on ``known``; ``landing`` will say what this holder's write
        actually left (None: nothing it knows of). The turn passes at once, unless
        ``WRITES_AHEAD`` writes are already on their way: each holds a database connection, so a
        very busy card keeps the rest of its requests waiting here, not in the pool's queue."""
        self.known, self.landing = known, landing
        if self.held and self.writing <= WRITES_AHEAD:
            self.held = False
            self.lock.release()


WRITES_AHEAD = 2
_TURNS: dict[str, Turn] = {}


@asynccontextmanager
async def card_turn(card_id: str) -> AsyncIterator[Turn]:
    """Wait for this card's turn in this process, and hold it for the block."""
    turn = _TURNS.get(card_id)
    if turn is None:
        turn = _TURNS[card_id] = Turn(card_id)
    turn.waiting += 1
    try:
        await turn.lock.acquire()
        turn.held = True
        yield turn
    finally:
        if turn.held:
            turn.held = False
            turn.lock.release()
        turn.waiting -= 1
        if not turn.waiting:
            del _TURNS[card_id]


def cards_in_turn() -> int:
    """How many cards have a request running or waiting (0 when idle: nothing is kept)."""
    return len(_TURNS)
