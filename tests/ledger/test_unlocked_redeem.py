"""A redeem planned from one read, without the card's lock, and written only if the card has not
moved since (the API's short way for redeems), on both engines."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from omnigift.db.tables import idempotency_keys, lots
from omnigift.ledger.activities import ActivityRequest, plan_redeem_unlocked
from omnigift.ledger.cards import ActivityType
from omnigift.ledger.errors import InsufficientFunds
from omnigift.ledger.issuing import LotSpec
from omnigift.ledger.lots import LotKind
from omnigift.ledger.origin import Origin
from omnigift.ledger.records import (
    PlannedWrite,
    open_lots,
    read_card_with_lots,
    write_planned,
    write_planned_together,
)
from omnigift.runtime import Runtime
from tests.ledger.factories import T0, act, card, issue, row_counts

DAY = timedelta(days=1)


def promotional(expires_at: datetime) -> LotSpec:
    return LotSpec(kind=LotKind.PROMOTIONAL, expires_at=expires_at)


def redeem(amount: int) -> ActivityRequest:
    return ActivityRequest(type=ActivityType.REDEEM, amount=amount, currency="USD")


async def plan(runtime: Runtime, card_id: str, amount: int, now: datetime = T0) -> Any:
    async with runtime.db.autocommit() as conn:
        return await plan_redeem_unlocked(
            conn, card_id, redeem(amount), runtime.policy, Origin(), now
        )


async def write(
    runtime: Runtime, planned: PlannedWrite, along: Any = None, now: datetime = T0
) -> bool:
    async with runtime.db.autocommit() as conn:
        seen = planned.change.card.version
        return await write_planned(conn, planned, now, seen_version=seen, along=along)


def key_row(key: str) -> Any:
    row = {
        "api_key_id": "key_test",
        "key": key,
        "request_hash": "0" * 64,
        "status_code": 201,
        "response_body": "{}",
        "created_at": T0,
    }
    return (idempotency_keys, row)


async def test_a_card_and_its_lots_read_in_one_statement_match_the_locked_read(runtime):
    card_id = await issue(runtime, 5_000)
    promo = promotional(T0 + timedelta(days=30))
    await act(runtime, card_id, ActivityType.LOAD, 700, lot=promo)
    async with runtime.db.autocommit() as conn:
        read = await read_card_with_lots(conn, card_id)
        assert read is not None
        assert read[1] == await open_lots(conn, card_id)
    assert read[0] == await card(runtime, card_id)


async def test_an_unmoved_card_takes_the_redeem_and_the_row_along_with_it(runtime):
    card_id = await issue(runtime, 5_000)
    planned = await plan(runtime, card_id, 1_200)

    assert await write(runtime, planned, key_row("k1")) is True

    assert (await card(runtime, card_id)).balance == 3_800
    assert planned.written.card.balance == 3_800
    async with runtime.db.read() as conn:
        kept = (await conn.execute(select(idempotency_keys.c.key))).scalars().all()
        remaining = (await conn.execute(select(lots.c.remaining))).scalars().all()
    assert kept == ["k1"]
    assert remaining == [3_800]


async def test_a_card_that_moved_since_the_read_is_left_alone_and_nothing_is_written(runtime):
    card_id = await issue(runtime, 5_000)
    planned = await plan(runtime, card_id, 4_000)
    await act(runtime, card_id, ActivityType.REDEEM, 3_000)  # another till, in between
    before = await row_counts(runtime)

    assert await write(runtime, planned, key_row("k1")) is False

    assert await row_counts(runtime) == before  # no activity, posting, event, lot or key
    assert (await card(runtime, card_id)).balance == 2_000  # never 5,000 - 3,000 - 4,000


async def test_a_key_already_stored_refuses_the_whole_write(runtime):
    card_id = await issue(runtime, 5_000)
    assert await write(runtime, await plan(runtime, card_id, 100), key_row("k1"))
    before = await row_counts(runtime)

    with pytest.raises(IntegrityError):
        await write(runtime, await plan(runtime, card_id, 100), key_row("k1"))

    assert await row_counts(runtime) == before
    assert (await card(runtime, card_id)).balance == 4_900


async def test_value_due_to_lapse_sends_the_redeem_the_locked_way(runtime):
    card_id = await issue(runtime, 5_000)
    await act(runtime, card_id, ActivityType.LOAD, 700, lot=promotional(T0 + DAY))

    assert await plan(runtime, card_id, 100, now=T0 + 2 * DAY) is None


async def test_other_activities_and_unknown_cards_are_not_planned_unlocked(runtime):
    card_id = await issue(runtime, 5_000)
    load = ActivityRequest(type=ActivityType.LOAD, amount=100, currency="USD")
    async with runtime.db.autocommit() as conn:
        assert await plan_redeem_unlocked(conn, card_id, load, runtime.policy, Origin(), T0) is None
    assert await plan(runtime, "gc_missing", 100) is None


async def test_a_refusal_is_raised_as_under_the_lock(runtime):
    card_id = await issue(runtime, 5_000)
    with pytest.raises(InsufficientFunds):
        await plan(runtime, card_id, 5_001)


async def test_the_card_a_write_left_is_planned_on_without_a_read(runtime):
    card_id = await issue(runtime, 5_000)
    first = await plan(runtime, card_id, 1_000)
    assert await write(runtime, first)

    async with runtime.db.autocommit() as conn:
        second = await plan_redeem_unlocked(
            conn, card_id, redeem(500), runtime.policy, Origin(), T0, known=first.known_after
        )
        assert first.known_after == await read_card_with_lots(conn, card_id)
    assert second is not None
    assert await write(runtime, second)
    assert (await card(runtime, card_id)).balance == 3_500


async def test_what_a_write_left_is_still_checked_against_the_card(runtime):
    card_id = await issue(runtime, 5_000)
    first = await plan(runtime, card_id, 1_000)
    assert await write(runtime, first)
    await act(runtime, card_id, ActivityType.REDEEM, 3_900)  # by someone else since
    before = await row_counts(runtime)

    async with runtime.db.autocommit() as conn:
        stale = await plan_redeem_unlocked(
            conn, card_id, redeem(500), runtime.policy, Origin(), T0, known=first.known_after
        )
    assert stale is not None
    assert await write(runtime, stale) is False
    assert await row_counts(runtime) == before
    assert (await card(runtime, card_id)).balance == 100


async def chain(runtime: Runtime, card_id: str, amounts: list[int]) -> list[PlannedWrite]:
    """Redeems planned one on what the one before leaves, as a busy card's queue plans them."""
    planned: list[PlannedWrite] = []
    async with runtime.db.autocommit() as conn:
        for amount in amounts:
            on = planned[-1].known_after if planned else None
            step = await plan_redeem_unlocked(
                conn, card_id, redeem(amount), runtime.policy, Origin(), T0, known=on
            )
            assert step is not None
            planned.append(step)
    return planned


async def together(runtime: Runtime, planned: list[PlannedWrite], keys: list[str]) -> bool:
    async with runtime.db.autocommit() as conn:
        writes = [(p, T0, key_row(k)) for p, k in zip(planned, keys, strict=True)]
        return await write_planned_together(conn, writes)


async def test_a_chain_of_redeems_is_written_together_in_order(runtime):
    card_id = await issue(runtime, 5_000)
    planned = await chain(runtime, card_id, [1_000, 700, 300])

    assert await together(runtime, planned, ["k1", "k2", "k3"]) is True

    after = await card(runtime, card_id)
    assert after.balance == 3_000
    assert after == planned[-1].known_after[0]
    async with runtime.db.read() as conn:
        kept = (await conn.execute(select(idempotency_keys.c.key))).scalars().all()
    assert sorted(kept) == ["k1", "k2", "k3"]


async def test_a_chain_whose_card_moved_is_written_not_at_all_even_if_a_later_guard_matches(
    runtime,
):
    card_id = await issue(runtime, 5_000)
    planned = await chain(runtime, card_id, [1_000, 700])
    # Another writer moves the card exactly as many versions as the first redeem would: the
    # second's guard now matches, though it was planned on a balance the card never had.
    await act(runtime, card_id, ActivityType.REDEEM, 2_000)
    assert (await card(runtime, card_id)).version == planned[1].change.card.version
    before = await row_counts(runtime)

    assert await together(runtime, planned, ["k1", "k2"]) is False

    assert await row_counts(runtime) == before
    assert (await card(runtime, card_id)).balance == 3_000


async def test_a_key_already_stored_refuses_the_whole_chain(runtime):
    card_id = await issue(runtime, 5_000)
    assert await write(runtime, await plan(runtime, card_id, 100), key_row("k1"))
    planned = await chain(runtime, card_id, [200, 300])
    before = await row_counts(runtime)

    with pytest.raises(IntegrityError):
        await together(runtime, planned, ["k2", "k1"])

    assert await row_counts(runtime) == before
    assert (await card(runtime, card_id)).balance == 4_900
