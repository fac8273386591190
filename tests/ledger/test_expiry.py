"""The expiry job: cards, lots and holds past their expiry (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from omnigift.db.tables import activities, events, holds, lots, postings
from omnigift.ledger import expiry as expiry_job
from omnigift.ledger.cards import ActivityType, CardState
from omnigift.ledger.errors import CardExpired, InsufficientFunds, InvalidState
from omnigift.ledger.expiry import run_expiry
from omnigift.ledger.holds import capture_hold, place_hold, void_hold
from omnigift.ledger.issuing import LotSpec
from omnigift.ledger.lots import LotKind
from omnigift.ledger.origin import Origin
from omnigift.ledger.postings import SystemAccount, system_account_id
from omnigift.runtime import Runtime
from tests.ledger.factories import T0, act, card, issue, row_counts

DAY = timedelta(days=1)
FIVE_YEARS = timedelta(days=5 * 365)
BREAKAGE = system_account_id(SystemAccount.BREAKAGE, "USD")


async def load_promotion(
    runtime: Runtime, card_id: str, amount: int, expires_at: datetime, *, now: datetime = T0
) -> None:
    lot = LotSpec(kind=LotKind.PROMOTIONAL, expires_at=expires_at)
    await act(runtime, card_id, ActivityType.LOAD, amount, now=now, lot=lot)


async def hold(
    runtime: Runtime, card_id: str, amount: int, *, now: datetime = T0, expires_in: int = 60
) -> str:
    async with runtime.db.transaction() as conn:
        placed = await place_hold(
            conn, card_id, amount, "USD", runtime.policy, Origin(), now, expires_in=expires_in
        )
    return str(placed["id"])


async def lot_remaining(runtime: Runtime, card_id: str) -> dict[str, int]:
    """Remaining value per lot kind."""
    async with runtime.db.read() as conn:
        rows = await conn.execute(
            select(lots.c.kind, func.sum(lots.c.remaining))
            .where(lots.c.account_id == card_id)
            .group_by(lots.c.kind)
        )
        return {kind: int(total) for kind, total in rows}


async def hold_state(runtime: Runtime, hold_id: str) -> str:
    async with runtime.db.read() as conn:
        return str(
            (await conn.execute(select(holds.c.state).where(holds.c.id == hold_id))).scalar()
        )


async def posted_to(runtime: Runtime, account_id: str) -> int:
    async with runtime.db.read() as conn:
        query = select(func.coalesce(func.sum(postings.c.amount), 0)).where(
            postings.c.account_id == account_id
        )
        return int((await conn.execute(query)).scalar_one())


async def expire_activities(runtime: Runtime, card_id: str) -> list[Any]:
    async with runtime.db.read() as conn:
        query = (
            select(activities)
            .where(activities.c.account_id == card_id, activities.c.type == "expire")
            .order_by(activities.c.id)
        )
        return list((await conn.execute(query)).all())


async def activity_postings(runtime: Runtime, activity_id: str) -> dict[str, int]:
    async with runtime.db.read() as conn:
        rows = await conn.execute(
            select(postings.c.account_id, postings.c.amount).where(
                postings.c.activity_id == activity_id
            )
        )
        return {account: int(amount) for account, amount in rows}


async def snapshot(runtime: Runtime, card_ids: list[str]) -> tuple[Any, ...]:
    """Everything the expiry job may change: row counts, cards, lots, holds."""
    async with runtime.db.read() as conn:
        lot_rows = (await conn.execute(select(lots).order_by(lots.c.id))).all()
        hold_rows = (await conn.execute(select(holds).order_by(holds.c.id))).all()
    cards = [await card(runtime, card_id) for card_id in card_ids]
    return await row_counts(runtime), cards, lot_rows, hold_rows


# Cards past their expiry


async def test_a_card_past_its_expiry_is_expired_with_its_whole_balance_sent_to_breakage(runtime):
    expiry = T0 + FIVE_YEARS + DAY
    card_id = await issue(runtime, 5000, card_expires_at=expiry)
    await load_promotion(runtime, card_id, 700, T0 + FIVE_YEARS * 2)
    await act(runtime, card_id, ActivityType.REDEEM, 1200)

    report = await run_expiry(runtime.db, expiry + timedelta(seconds=1))

    assert report.cards == 1
    expired = await card(runtime, card_id)
    assert expired.state is CardState.EXPIRED
    assert expired.balance == 0 and expired.held == 0
    assert set((await lot_remaining(runtime, card_id)).values()) == {0}
    [activity] = await expire_activities(runtime, card_id)
    assert activity.amount == 4500 and activity.balance_after == 0
    assert activity.state_after == "expired" and activity.channel == "system"
    assert await activity_postings(runtime, activity.id) == {card_id: -4500, BREAKAGE: 4500}
    assert await posted_to(runtime, BREAKAGE) == 4500


async def test_expiring_a_card_ends_its_open_holds_as_expired(runtime):
    expiry = T0 + 10 * DAY
    card_id = await issue(runtime, 1000, kind=LotKind.PROMOTIONAL, card_expires_at=expiry)
    hold_id = await hold(runtime, card_id, 400, now=expiry - timedelta(hours=1), expires_in=86400)

    report = await run_expiry(runtime.db, expiry)

    assert report.cards == 1 and report.holds == 0  # the hold itself was not yet due
    assert await hold_state(runtime, hold_id) == "expired"
    expired = await card(runtime, card_id)
    assert expired.state is CardState.EXPIRED and expired.balance == 0 and expired.held == 0
    assert await posted_to(runtime, BREAKAGE) == 1000


async def test_a_card_is_not_expired_before_its_expiry_date(runtime):
    expiry = T0 + 10 * DAY
    card_id = await issue(runtime, 1000, kind=LotKind.PROMOTIONAL, card_expires_at=expiry)

    report = await run_expiry(runtime.db, expiry - timedelta(seconds=1))

    assert report.cards == 0
    assert (await card(runtime, card_id)).state is CardState.ACTIVE
    assert (await card(runtime, card_id)).balance == 1000


async def test_a_pending_card_past_its_expiry_is_expired_without_moving_value(runtime):
    expiry = T0 + FIVE_YEARS
    card_id = await issue(runtime, None, card_expires_at=expiry)

    await run_expiry(runtime.db, expiry)

    assert (await card(runtime, card_id)).state is CardState.EXPIRED
    [activity] = await expire_activities(runtime, card_id)
    assert activity.amount is None and await activity_postings(runtime, activity.id) == {}


async def test_a_redeem_on_a_card_past_its_expiry_is_refused_before_the_job_has_run(runtime):
    expiry = T0 + 10 * DAY
    card_id = await issue(runtime, 1000, kind=LotKind.PROMOTIONAL, card_expires_at=expiry)
    before = await row_counts(runtime)

    with pytest.raises(CardExpired):
        await act(runtime, card_id, ActivityType.REDEEM, 100, now=expiry)
    with pytest.raises(CardExpired):
        await hold(runtime, card_id, 100, now=expiry + DAY)

    assert await row_counts(runtime) == before
    still = await card(runtime, card_id)
    assert still.state is CardState.ACTIVE and still.balance == 1000


async def test_a_hold_placed_before_the_card_expired_cannot_be_captured_after(runtime):
    expiry = T0 + 10 * DAY
    card_id = await issue(runtime, 1000, kind=LotKind.PROMOTIONAL, card_expires_at=expiry)
    hold_id = await hold(runtime, card_id, 300, now=expiry - timedelta(minutes=1), expires_in=600)

    with pytest.raises(CardExpired):
        async with runtime.db.transaction() as conn:
            await capture_hold(conn, hold_id, None, Origin(), expiry)

    assert await hold_state(runtime, hold_id) == "open"
    assert (await card(runtime, card_id)).balance == 1000


# Lots past their expiry


async def test_a_promotional_lot_past_its_expiry_is_expired_alone_and_the_paid_lot_stays(runtime):
    card_id = await issue(runtime, 5000)
    await load_promotion(runtime, card_id, 1000, T0 + 30 * DAY)

    report = await run_expiry(runtime.db, T0 + 31 * DAY)

    assert report.lots == 1 and report.cards == 0
    after = await card(runtime, card_id)
    assert after.state is CardState.ACTIVE and after.balance == 5000
    assert await lot_remaining(runtime, card_id) == {"paid": 5000, "promotional": 0}
    [activity] = await expire_activities(runtime, card_id)
    assert activity.amount == 1000 and activity.state_after == "active"
    assert await activity_postings(runtime, activity.id) == {card_id: -1000, BREAKAGE: 1000}


async def test_only_what_is_left_of_an_expiring_lot_is_expired(runtime):
    card_id = await issue(runtime, 5000)
    await load_promotion(runtime, card_id, 1000, T0 + 30 * DAY)
    await act(runtime, card_id, ActivityType.REDEEM, 600)  # spends the promotion first

    await run_expiry(runtime.db, T0 + 30 * DAY)

    assert (await card(runtime, card_id)).balance == 5000  # 6000 - 600 spent - 400 expired
    assert await posted_to(runtime, BREAKAGE) == 400


async def test_a_lot_is_not_expired_before_its_expiry_date(runtime):
    card_id = await issue(runtime, 5000)
    await load_promotion(runtime, card_id, 1000, T0 + 30 * DAY)

    report = await run_expiry(runtime.db, T0 + 30 * DAY - timedelta(seconds=1))

    assert report.lots == 0 and (await card(runtime, card_id)).balance == 6000


async def test_value_under_an_open_hold_is_not_expired_until_the_hold_ends(runtime):
    lot_expiry = T0 + 30 * DAY
    card_id = await issue(runtime, 1000)
    await load_promotion(runtime, card_id, 500, lot_expiry)
    hold_id = await hold(runtime, card_id, 1200, now=lot_expiry - DAY, expires_in=3 * 86400)

    await run_expiry(runtime.db, lot_expiry)

    during = await card(runtime, card_id)
    assert during.balance == 1200 and during.held == 1200  # 300 expired, 200 kept for the hold
    assert await lot_remaining(runtime, card_id) == {"paid": 1000, "promotional": 200}

    async with runtime.db.transaction() as conn:
        await void_hold(conn, hold_id, lot_expiry + DAY)
    await run_expiry(runtime.db, lot_expiry + DAY)

    after = await card(runtime, card_id)
    assert after.balance == 1000 and after.held == 0
    assert await lot_remaining(runtime, card_id) == {"paid": 1000, "promotional": 0}
    assert await posted_to(runtime, BREAKAGE) == 500


async def test_cards_whose_expired_value_is_all_held_do_not_stop_the_job_reaching_others(
    runtime, monkeypatch
):
    monkeypatch.setattr(expiry_job, "BATCH", 2)  # a full batch of such cards, at small scale
    cards = []
    for _ in range(3):
        card_id = await issue(runtime, 1000)
        await load_promotion(runtime, card_id, 500, T0 + 30 * DAY)
        cards.append(card_id)
    for card_id in cards[:2]:  # the whole balance held: nothing of these can expire yet
        await hold(runtime, card_id, 1500, now=T0 + 29 * DAY, expires_in=7 * 86400)

    report = await run_expiry(runtime.db, T0 + 31 * DAY)

    assert report.lots == 1
    assert [(await card(runtime, card_id)).balance for card_id in cards] == [1500, 1500, 1000]


# Expire on touch: a command that takes value lapses due lots first, before the job has run


async def card_events(runtime: Runtime, card_id: str) -> list[tuple[int, str, str]]:
    """(sequence, event type, activity type) of the card's activity events, in order."""
    async with runtime.db.read() as conn:
        rows = await conn.execute(
            select(events.c.sequence, events.c.type, events.c.data)
            .where(events.c.account_id == card_id)
            .order_by(events.c.sequence)
        )
        return [
            (row.sequence, row.type, row.data["activity"]["type"])
            for row in rows
            if row.type == "gift_card.activity.created"
        ]


async def test_a_redeem_after_a_bonus_expired_cannot_spend_the_bonus_even_before_the_job_runs(
    runtime,
):
    bonus_expiry = T0 + 30 * DAY
    card_id = await issue(runtime, 5000)
    await load_promotion(runtime, card_id, 1000, bonus_expiry)
    before = await row_counts(runtime)

    with pytest.raises(InsufficientFunds):  # 6000 on the card, but only 5000 not expired
        await act(runtime, card_id, ActivityType.REDEEM, 5001, now=bonus_expiry)

    assert await row_counts(runtime) == before  # the lapse was rolled back with the refusal
    assert (await card(runtime, card_id)).balance == 6000

    redeemed = await act(runtime, card_id, ActivityType.REDEEM, 700, now=bonus_expiry)

    assert redeemed["type"] == "redeem"  # what the caller (and an idempotent replay) gets
    assert redeemed["amount"] == 700 and redeemed["balance_after"] == 4300
    assert await lot_remaining(runtime, card_id) == {"paid": 4300, "promotional": 0}
    assert await activity_postings(runtime, redeemed["id"]) == {
        card_id: -700,
        system_account_id(SystemAccount.REDEEMED, "USD"): 700,
    }
    [expired] = await expire_activities(runtime, card_id)
    assert expired.amount == 1000 and expired.balance_after == 5000
    assert expired.reason == "value expired" and expired.channel == "system"
    assert await activity_postings(runtime, expired.id) == {card_id: -1000, BREAKAGE: 1000}
    # Written in the redeem's transaction, just before it, each with its event in sequence.
    assert expired.id < redeemed["id"] and expired.created_at == redeemed["created_at"]
    assert [kind for _, _, kind in await card_events(runtime, card_id)][-2:] == [
        "expire",
        "redeem",
    ]
    after = await card(runtime, card_id)
    assert after.balance == 4300 and after.version == (await card_events(runtime, card_id))[-1][0]

    report = await run_expiry(runtime.db, bonus_expiry + DAY)  # the job finds nothing left

    assert report.lots == 0 and await posted_to(runtime, BREAKAGE) == 1000


async def test_a_bonus_is_still_spent_first_until_the_instant_it_expires(runtime):
    bonus_expiry = T0 + 30 * DAY
    card_id = await issue(runtime, 5000)
    await load_promotion(runtime, card_id, 1000, bonus_expiry)

    await act(runtime, card_id, ActivityType.REDEEM, 700, now=bonus_expiry - timedelta(seconds=1))

    assert await lot_remaining(runtime, card_id) == {"paid": 5000, "promotional": 300}
    assert await expire_activities(runtime, card_id) == []


async def test_a_partial_redeem_after_a_bonus_expired_takes_only_the_unexpired_value(runtime):
    bonus_expiry = T0 + 30 * DAY
    card_id = await issue(runtime, 500)
    await load_promotion(runtime, card_id, 1000, bonus_expiry)

    redeemed = await act(
        runtime, card_id, ActivityType.REDEEM, 2000, now=bonus_expiry, allow_partial=True
    )

    assert redeemed["amount"] == 500 and redeemed["balance_after"] == 0
    assert await posted_to(runtime, BREAKAGE) == 1000


async def test_an_adjust_decrement_after_a_bonus_expired_counts_only_unexpired_value(runtime):
    bonus_expiry = T0 + 30 * DAY
    card_id = await issue(runtime, 500)
    await load_promotion(runtime, card_id, 1000, bonus_expiry)
    await act(runtime, card_id, ActivityType.FREEZE)  # a frozen card may still be adjusted

    with pytest.raises(InsufficientFunds):
        await act(
            runtime, card_id, ActivityType.ADJUST_DECREMENT, 501, now=bonus_expiry, reason="x"
        )
    await act(runtime, card_id, ActivityType.ADJUST_DECREMENT, 500, now=bonus_expiry, reason="x")

    assert (await card(runtime, card_id)).balance == 0
    assert await posted_to(runtime, BREAKAGE) == 1000


async def test_a_hold_placed_after_a_bonus_expired_counts_only_unexpired_value(runtime):
    bonus_expiry = T0 + 30 * DAY
    card_id = await issue(runtime, 1000)
    await load_promotion(runtime, card_id, 500, bonus_expiry)
    before = await row_counts(runtime)

    with pytest.raises(InsufficientFunds):
        await hold(runtime, card_id, 1001, now=bonus_expiry)
    assert await row_counts(runtime) == before

    hold_id = await hold(runtime, card_id, 1000, now=bonus_expiry, expires_in=600)

    placed = await card(runtime, card_id)
    assert placed.balance == 1000 and placed.held == 1000  # nothing left available
    [expired] = await expire_activities(runtime, card_id)
    assert expired.amount == 500 and await posted_to(runtime, BREAKAGE) == 500
    async with runtime.db.transaction() as conn:
        await capture_hold(conn, hold_id, None, Origin(), bonus_expiry + timedelta(minutes=1))
    assert await lot_remaining(runtime, card_id) == {"paid": 0, "promotional": 0}


async def test_a_capture_after_a_bonus_expired_spends_only_expired_value_kept_for_holds(runtime):
    bonus_expiry = T0 + 30 * DAY
    small, large = await issue(runtime, 1000), await issue(runtime, 1000)
    for card_id in (small, large):
        await load_promotion(runtime, card_id, 500, bonus_expiry)
    small_hold = await hold(runtime, small, 200, now=bonus_expiry - DAY, expires_in=3 * 86400)
    large_hold = await hold(runtime, large, 1200, now=bonus_expiry - DAY, expires_in=3 * 86400)

    async with runtime.db.transaction() as conn:
        await capture_hold(conn, small_hold, None, Origin(), bonus_expiry)
        await capture_hold(conn, large_hold, None, Origin(), bonus_expiry)

    # The paid value alone covers the small hold: the whole bonus lapses, the capture spends paid.
    assert await lot_remaining(runtime, small) == {"paid": 800, "promotional": 0}
    [expired] = await expire_activities(runtime, small)
    assert expired.amount == 500
    # The large hold needed 200 of the bonus: that was kept for it, and the capture spent it.
    assert await lot_remaining(runtime, large) == {"paid": 0, "promotional": 0}
    [expired] = await expire_activities(runtime, large)
    assert expired.amount == 300
    assert await posted_to(runtime, BREAKAGE) == 800


# Holds past their expiry


async def test_a_hold_past_its_expiry_is_released_and_its_value_is_available_again(runtime):
    card_id = await issue(runtime, 1000)
    hold_id = await hold(runtime, card_id, 400, expires_in=60)
    assert (await card(runtime, card_id)).held == 400

    report = await run_expiry(runtime.db, T0 + timedelta(seconds=61))

    assert report.holds == 1
    assert await hold_state(runtime, hold_id) == "expired"
    after = await card(runtime, card_id)
    assert after.balance == 1000 and after.held == 0
    assert await posted_to(runtime, BREAKAGE) == 0


async def test_an_expired_hold_cannot_be_captured_or_voided(runtime):
    card_id = await issue(runtime, 1000)
    hold_id = await hold(runtime, card_id, 400, expires_in=60)
    later = T0 + timedelta(minutes=5)
    await run_expiry(runtime.db, later)

    async with runtime.db.transaction() as conn:
        with pytest.raises(InvalidState):
            await capture_hold(conn, hold_id, None, Origin(), later)
        with pytest.raises(InvalidState):
            await void_hold(conn, hold_id, later)


async def test_a_hold_past_its_expiry_cannot_be_captured_even_before_the_job_ran(runtime):
    card_id = await issue(runtime, 1000)
    hold_id = await hold(runtime, card_id, 400, expires_in=60)

    with pytest.raises(InvalidState):
        async with runtime.db.transaction() as conn:
            await capture_hold(conn, hold_id, None, Origin(), T0 + timedelta(seconds=60))

    assert (await card(runtime, card_id)).balance == 1000


async def test_a_hold_past_its_expiry_may_still_be_voided_before_the_job_ran(runtime):
    card_id = await issue(runtime, 1000)
    hold_id = await hold(runtime, card_id, 400, expires_in=60)
    async with runtime.db.transaction() as conn:
        await void_hold(conn, hold_id, T0 + timedelta(minutes=2))

    report = await run_expiry(runtime.db, T0 + timedelta(minutes=2))

    assert report.holds == 0 and await hold_state(runtime, hold_id) == "voided"
    assert (await card(runtime, card_id)).held == 0


# Idempotency


async def test_running_the_job_twice_changes_nothing_the_second_time(runtime):
    now = T0 + 40 * DAY
    short = await issue(runtime, 800, kind=LotKind.PROMOTIONAL, card_expires_at=T0 + 20 * DAY)
    mixed = await issue(runtime, 3000)
    # Due only after the hold is placed: placing it would lapse a lot already due.
    await load_promotion(runtime, mixed, 900, T0 + 39 * DAY + timedelta(hours=1))
    await hold(runtime, mixed, 100, now=T0 + 39 * DAY, expires_in=60)
    cards = [short, mixed]

    first = await run_expiry(runtime.db, now)
    after_first = await snapshot(runtime, cards)
    second = await run_expiry(runtime.db, now)

    assert (first.cards, first.lots, first.holds) == (1, 1, 1)
    assert (second.cards, second.lots, second.holds) == (0, 0, 0)
    assert await snapshot(runtime, cards) == after_first
    assert await posted_to(runtime, BREAKAGE) == 800 + 900
