"""Requests on one card take turns within the process; different cards do not wait."""

from __future__ import annotations

import asyncio

from omnigift.api.turns import WRITES_AHEAD, card_turn, cards_in_turn


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


async def test_a_holder_that_hands_on_lets_the_next_in_while_it_finishes():
    landing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    seen: list[object] = []

    async def first() -> None:
        async with card_turn("gc_1") as turn:
            turn.hand_on(None, landing)
            await asyncio.sleep(0.05)  # still writing
            landing.set_result(None)

    async def second() -> None:
        await asyncio.sleep(0.01)
        async with card_turn("gc_1") as turn:
            seen.append(turn.landing)
            assert not landing.done()  # in before the first ended

    await asyncio.gather(first(), second())
    assert seen == [landing]
    assert cards_in_turn() == 0


async def test_the_turn_passes_early_only_while_few_writes_are_on_their_way():
    done = asyncio.Event()
    kept_turn: list[bool] = []

    async def writer() -> None:
        async with card_turn("gc_1") as turn:
            turn.writing += 1
            landing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            turn.hand_on(None, landing)
            kept_turn.append(turn.held)
            await done.wait()  # its write is on its way
            turn.writing -= 1
            landing.set_result(None)

    writers = [asyncio.create_task(writer()) for _ in range(WRITES_AHEAD + 2)]
    await asyncio.sleep(0.01)
    # The first WRITES_AHEAD pass the turn on; the next keeps it, so the last still waits.
    assert kept_turn == [False] * WRITES_AHEAD + [True]
    done.set()
    await asyncio.gather(*writers)
    # Once those writes landed, the last one in found none on their way: it passed early again.
    assert kept_turn == [False] * WRITES_AHEAD + [True, False]
    assert cards_in_turn() == 0
