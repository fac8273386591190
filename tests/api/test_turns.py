"""Requests on one card take turns within the process; different cards do not wait; a card's
writes queued while one is on its way go out together, as a chain."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from omnigift.api.turns import MAX_TOGETHER, QueuedWrite, Turn, card_turn, cards_in_turn
from tests.ledger.factories import T0


async def test_blocks_on_one_card_run_one_at_a_time_in_arrival_order():
    inside: list[str] = []
    seen_together = 0

    async def visit(name: str) -> None:
        nonlocal seen_together
        async with card_turn("gc_1"):
            inside.append(name)
            seen_together = max(seen_together, len(inside))
            await asyncio.sleep(0.01)
            inside.remove(name)

    order: list[str] = []

    async def tracked(name: str) -> None:
        await visit(name)
        order.append(name)

    await asyncio.gather(*(tracked(f"r{i}") for i in range(5)))
    assert seen_together == 1
    assert order == [f"r{i}" for i in range(5)]


async def test_different_cards_do_not_wait_for_each_other():
    both_inside = asyncio.Event()
    arrived = 0

    async def visit(card_id: str) -> None:
        nonlocal arrived
        async with card_turn(card_id):
            arrived += 1
            if arrived == 2:
                both_inside.set()
            await asyncio.wait_for(both_inside.wait(), timeout=1)

    await asyncio.gather(visit("gc_1"), visit("gc_2"))


async def test_nothing_is_kept_once_the_turns_end_even_after_an_error():
    async def fail() -> None:
        async with card_turn("gc_1"):
            raise ValueError("refused")

    results = await asyncio.gather(fail(), fail(), return_exceptions=True)
    assert all(isinstance(r, ValueError) for r in results)
    assert cards_in_turn() == 0


class Writer:
    """Sends a card's writes as the database would, recording each batch; holds every send until
    ``release`` (so writes can queue behind it) and answers ``outcomes`` in turn (default True)."""

    def __init__(self, *outcomes: bool | Exception) -> None:
        self.batches: list[list[str]] = []
        self.outcomes = list(outcomes)
        self.gate = asyncio.Event()
        self.connections = 0

    def release(self) -> None:
        self.gate.set()

    async def send(self, writes: list[QueuedWrite]) -> bool:
        self.batches.append([w.along[1]["name"] for w in writes])
        await self.gate.wait()
        outcome = self.outcomes.pop(0) if self.outcomes else True
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    @asynccontextmanager
    async def sender(self) -> AsyncIterator[Any]:
        self.connections += 1
        yield self.send


def queued(name: str, turn: Turn) -> QueuedWrite:
    """A redeem planned on what the card's last queued write leaves (a stand-in plan)."""
    planned: Any = SimpleNamespace(known_after=SimpleNamespace(after=name))
    return QueuedWrite(planned, turn.known, T0, (None, {"name": name}))  # type: ignore[arg-type]


async def redeem(name: str, writer: Writer, card_id: str = "gc_1") -> bool:
    """A request: plan in turn, queue the write, send it if none is on its way, await it."""
    async with card_turn(card_id) as turn:
        write = queued(name, turn)
        if turn.queue_write(write):
            await turn.send_first(writer.send, writer.sender)
        return await write.done


async def started(*requests: Any) -> list[asyncio.Task[bool]]:
    tasks = []
    for request in requests:
        tasks.append(asyncio.create_task(request))
        await asyncio.sleep(0)  # in arrival order
    await asyncio.sleep(0.01)
    return tasks


async def test_writes_queued_while_one_is_on_its_way_go_out_together_in_order():
    writer = Writer()
    tasks = await started(*(redeem(f"r{i}", writer) for i in range(5)))
    assert writer.batches == [["r0"]]  # the others queued behind it, not sent

    writer.release()

    assert await asyncio.gather(*tasks) == [True] * 5
    assert writer.batches == [["r0"], ["r1", "r2", "r3", "r4"]]
    assert writer.connections == 1  # the first went on its request's own connection
    assert cards_in_turn() == 0


async def test_at_most_max_together_writes_go_in_one_batch():
    writer = Writer()
    tasks = await started(*(redeem(f"r{i}", writer) for i in range(MAX_TOGETHER + 3)))
    writer.release()
    await asyncio.gather(*tasks)
    assert [len(batch) for batch in writer.batches] == [1, MAX_TOGETHER, 2]


async def test_writes_planned_on_a_write_that_did_not_land_are_not_sent():
    writer = Writer(False)  # the first finds its card moved by another process
    tasks = await started(redeem("r0", writer), redeem("r1", writer), redeem("r2", writer))
    writer.release()

    assert await asyncio.gather(*tasks) == [False] * 3  # each then takes the locked way
    assert writer.batches == [["r0"]]
    assert await redeem("r3", writer) is True  # planned on its own read: sent
    assert writer.batches == [["r0"], ["r3"]]


async def test_a_failed_send_reaches_its_own_writes_and_the_card_goes_on():
    writer = Writer(True, ConnectionError("database gone"))
    tasks = await started(*(redeem(f"r{i}", writer) for i in range(3)))
    writer.release()

    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert results[0] is True
    assert all(isinstance(r, ConnectionError) for r in results[1:])
    assert await redeem("r3", writer) is True
    assert cards_in_turn() == 0


async def test_a_cancelled_first_request_does_not_strand_the_writes_behind_it():
    reported: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(
        lambda _loop, context: reported.append(context)
    )
    writer = Writer()
    first, *rest = await started(*(redeem(f"r{i}", writer) for i in range(3)))
    first.cancel()
    writer.release()

    # The first's outcome is unknown, so what was planned on it is not sent: the locked way.
    assert await asyncio.gather(*rest) == [False, False]
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await redeem("r3", writer) is True
    assert cards_in_turn() == 0
    gc.collect()  # a future whose exception nobody took is reported as it is collected
    assert not [c for c in reported if "never retrieved" in c.get("message", "")]


async def test_different_cards_write_apart():
    writer = Writer()
    tasks = await started(redeem("a", writer, "gc_1"), redeem("b", writer, "gc_2"))
    writer.release()
    assert await asyncio.gather(*tasks) == [True, True]
    assert writer.batches == [["a"], ["b"]]
