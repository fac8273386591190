"""Requests on one card take turns within this process, and its writes go out together.

A redeem's short way (``idempotency.run_activity``) reads the card, then writes only if the card
has not moved since. Sixteen tills redeeming one card at once would mostly find it moved, and each
would then take the locked way: wasted round trips and a queue on the card's row lock inside
PostgreSQL, holding a connection each. Taking turns here first, the requests of this process
never move the card under one another, so the short way holds; only writers in other processes
(the worker, a second server process) can still send one the locked way. A turn costs an
uncontended lock when cards differ.

A request holds the turn only while it plans. It plans on what the write queued before it
leaves (``Turn.known``), so it need not read the card again, queues its own write and passes the
turn on (``Turn.queue_write``). One write of a card is on its way at a time: the first goes out
at once, on the connection its request planned on; the writes queued meanwhile go out together
once it has landed, in one transaction, all or none (``records.write_planned_together``), from
one task holding one connection. A busy card then waits for one commit per batch, not one per
redeem, and its waiting requests hold no connection.

A batch goes out only as a chain: each write planned on what the one before it leaves, the
first on what the last write to land left (``Turn.left``) or on its own read. A write planned on
something that did not land is not sent: its request takes the locked way. Every write stays
guarded by the card's version too, so a change made meanwhile by another process is never
missed. Nothing is kept once no request waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime

from omnigift.ledger.one_statement import AlongRow
from omnigift.ledger.records import CardWithLots, PlannedWrite

MAX_TOGETHER = 32  # writes in one batch: bounds how long the batch holds the card's row lock


def _future() -> asyncio.Future[bool]:
    return asyncio.get_running_loop().create_future()


@dataclass(eq=False)
class QueuedWrite:
    """A planned write waiting to go out; ``done`` says whether it was written."""

    planned: PlannedWrite
    planned_on: CardWithLots | None  # what it was planned on; None: its request read the card
    now: datetime
    along: AlongRow
    done: asyncio.Future[bool] = field(default_factory=_future)

    def settle(self, outcome: bool | BaseException) -> None:
        if self.done.done():  # its request was cancelled
            return
        if isinstance(outcome, BaseException):
            self.done.set_exception(outcome)
        else:
            self.done.set_result(outcome)


# Sends a chain of writes: all written (True), or none.
Send = Callable[[list[QueuedWrite]], Awaitable[bool]]


@dataclass(eq=False)
class Turn:
    """One card's turn: who waits for it, and the card's queue of writes."""

    card_id: str
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0  # requests holding or waiting for the turn, or waiting for their write
    held: bool = False
    known: CardWithLots | None = None  # what the last queued write leaves, to plan on
    left: CardWithLots | None = None  # what the last write to land left
    queue: list[QueuedWrite] = field(default_factory=list)
    sending: bool = False  # a write of this card is on its way
    drain: asyncio.Task[None] | None = None

    def queue_write(self, write: QueuedWrite) -> bool:
        """Queue the holder's planned write and pass the turn on. True: no write of this card is
        on its way, so the caller sends this one now (``send_first``); otherwise it goes out with
        the next batch and the caller awaits ``write.done``."""
        self.queue.append(write)
        self.known = write.planned.known_after
        first = not self.sending
        self.sending = True
        if self.held:
            self.held = False
            self.lock.release()
        return first

    async def send_first(
        self, send: Send, sender: Callable[[], AbstractAsyncContextManager[Send]]
    ) -> None:
        """Send the one queued write with ``send``; then the writes queued meanwhile go out in
        batches from a task, each batch sent with what ``sender`` opens."""
        try:
            await self._send_next(send)
        finally:  # even if its request was cancelled: the queue must not be stranded
            if self.queue:
                self.drain = asyncio.create_task(self._drain(sender))
            else:
                self.sending = False

    async def _drain(self, sender: Callable[[], AbstractAsyncContextManager[Send]]) -> None:
        try:
            async with sender() as send:
                while self.queue:
                    await self._send_next(send)
                # Checked and cleared with no await between: a write queued from now on is sent
                # by its own request.
                self.sending = False
        except BaseException as exc:  # no connection, or cancelled: what is queued cannot go
            self._not_landed(self.queue, _unsent(exc))
            self.queue = []
            self.sending = False
            if not isinstance(exc, Exception):
                raise
        finally:
            self.drain = None

    async def _send_next(self, send: Send) -> None:
        batch = self._next_chain()
        if not batch:
            return
        try:
            written = await send(batch)
        except BaseException as exc:
            self._not_landed(batch, _unsent(exc))
            if not isinstance(exc, Exception):
                # Cancelled: the request sending its own write is gone and will not await it.
                # Taken here, its outcome is not reported as "never retrieved"; requests that
                # do await theirs still get it.
                for write in batch:
                    if write.done.done() and not write.done.cancelled():
                        write.done.exception()
                raise
            return
        if not written:
            self._not_landed(batch, False)
            return
        self.left = batch[-1].planned.known_after
        for write in batch:
            write.settle(True)

    def _next_chain(self) -> list[QueuedWrite]:
        """Take the longest chain at the head of the queue; refuse writes that cannot start one."""
        batch: list[QueuedWrite] = []
        while self.queue and len(batch) < MAX_TOGETHER:
            write = self.queue[0]
            if batch and write.planned_on is not batch[-1].planned.known_after:
                break
            del self.queue[0]
            if not batch and write.planned_on is not None and write.planned_on is not self.left:
                self._not_landed([write], False)  # planned on a write that did not land
                continue
            batch.append(write)
        return batch

    def _not_landed(self, batch: list[QueuedWrite], outcome: bool | Exception) -> None:
        # What the card is now is unknown here: the next request reads it.
        self.left = self.known = None
        for write in batch:
            write.settle(outcome)


def _unsent(exc: BaseException) -> Exception:
    """What the requests of writes that did not go out, or whose outcome is unknown, are told."""
    if isinstance(exc, Exception):
        return exc
    return RuntimeError("the card's writer was stopped; the write's outcome is unknown")


_TURNS: dict[str, Turn] = {}


@asynccontextmanager
async def card_turn(card_id: str) -> AsyncIterator[Turn]:
    """Wait for this card's turn in this process, and hold it for the block (or until the block
    queues a write)."""
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
