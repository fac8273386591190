"""The outbox: no event without its committed change, no committed change without its event."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from omnigift.clock import utcnow
from omnigift.config import Settings
from omnigift.db.tables import accounts, activities, events, holds
from omnigift.events.delivery import claim
from omnigift.events.dispatch import dispatch
from omnigift.ledger import holds as hold_service
from omnigift.ledger.activities import ActivityRequest, apply_activity
from omnigift.ledger.cards import ActivityType, CardType
from omnigift.ledger.errors import LedgerError
from omnigift.ledger.issuing import IssueCard, issue_card
from omnigift.ledger.origin import Origin
from omnigift.runtime import Runtime
from tests.conftest import SECRET

OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "issue",
                "redeem",
                "load",
                "hold",
                "capture",
                "void",
                "freeze",
                "unfreeze",
                "clear",
                "deactivate",
            ]
        ),
        st.integers(min_value=0, max_value=3),  # which card / hold
        st.integers(min_value=1, max_value=3000),  # amount
    ),
    min_size=1,
    max_size=30,
)


async def _apply(
    runtime: Runtime,
    operation: tuple[str, int, int],
    cards: list[str],
    open_holds: list[str],
    now: datetime,
) -> None:
    kind, which, amount = operation
    policy, origin = runtime.policy, Origin()
    async with runtime.db.transaction() as conn:
        if kind == "issue" or not cards:
            issued = await issue_card(
                conn, IssueCard(CardType.DIGITAL, "USD", initial_value=amount), policy, origin, now
            )
            cards.append(issued.written.card.id)
            return
        card_id = cards[which % len(cards)]
        if kind == "hold":
            hold = await hold_service.place_hold(conn, card_id, amount, "USD", policy, origin, now)
            open_holds.append(hold["id"])
        elif kind in ("capture", "void") and open_holds:
            hold_id = open_holds.pop(which % len(open_holds))
            if kind == "capture":
                await hold_service.capture_hold(conn, hold_id, None, origin, now)
            else:
                await hold_service.void_hold(conn, hold_id, now)
        elif kind in ("capture", "void"):
            return
        else:
            types = {
                "redeem": ActivityType.REDEEM,
                "load": ActivityType.LOAD,
                "freeze": ActivityType.FREEZE,
                "unfreeze": ActivityType.UNFREEZE,
                "clear": ActivityType.CLEAR_BALANCE,
                "deactivate": ActivityType.DEACTIVATE,
            }
            needs_amount = kind in ("redeem", "load")
            request = ActivityRequest(
                types[kind], amount if needs_amount else None, "USD" if needs_amount else None
            )
            await apply_activity(conn, card_id, request, policy, origin, now)


async def _check(runtime: Runtime) -> None:
    async with runtime.db.read() as conn:
        activity_ids = set((await conn.execute(select(activities.c.id))).scalars())
        announced = [
            row.data["activity"]["id"]
            for row in await conn.execute(
                select(events.c.data).where(events.c.type == "gift_card.activity.created")
            )
        ]
        assert sorted(announced) == sorted(activity_ids)  # one event per activity, no stray one
        hold_events = (
            await conn.execute(
                select(func.count()).select_from(events).where(events.c.type.like("hold.%"))
            )
        ).scalar_one()
        holds_made = (await conn.execute(select(func.count()).select_from(holds))).scalar_one()
        holds_ended = (
            await conn.execute(
                select(func.count()).select_from(holds).where(holds.c.state != "open")
            )
        ).scalar_one()
        assert hold_events == holds_made + holds_ended
        for account_id, version in await conn.execute(
            select(accounts.c.id, accounts.c.version).where(accounts.c.kind == "gift_card")
        ):
            sequences = sorted(
                (
                    await conn.execute(
                        select(events.c.sequence).where(events.c.account_id == account_id)
                    )
                ).scalars()
            )
            assert sequences == list(range(1, version + 1))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=OPERATIONS)
def test_every_committed_change_has_its_events_and_every_event_its_change(operations):
    folder = Path(tempfile.mkdtemp())
    try:
        asyncio.run(_scenario(folder, operations))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def _scenario(folder: Path, operations: list[tuple[str, int, int]]) -> None:
    from omnigift.db.migrate import upgrade

    runtime = Runtime.from_settings(Settings(data_dir=folder, secret_key=SECRET))
    await upgrade(runtime.db)
    cards: list[str] = []
    open_holds: list[str] = []
    now = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        for step, operation in enumerate(operations):
            # A refused operation must leave nothing behind, which _check proves.
            with contextlib.suppress(LedgerError):
                await _apply(runtime, operation, cards, open_holds, now + timedelta(seconds=step))
        await _check(runtime)
    finally:
        await runtime.db.dispose()


async def test_two_workers_never_claim_the_same_delivery(app_client, admin):
    from tests.support.receiver import Receiver

    receiver = Receiver().start()
    try:
        await app_client.post(
            "/v1/webhook-endpoints", headers=admin, json={"url": receiver.url, "event_types": ["*"]}
        )
        from tests.factories import issue

        for _ in range(20):
            await issue(app_client, admin, 100)
        runtime = app_client.app.state.runtime
        await dispatch(runtime.db, utcnow())
        first, second = await asyncio.gather(
            claim(runtime.db, runtime.delivery, utcnow()),
            claim(runtime.db, runtime.delivery, utcnow()),
        )
        assert {j["id"] for j in first}.isdisjoint({j["id"] for j in second})
        assert len(first) + len(second) == 20  # the first event of each card is due
    finally:
        receiver.stop()
