"""Platform cards entering the ledger: our own mirrors are never taken for the platform's."""

from __future__ import annotations

import dataclasses
import io

import pytest
from sqlalchemy import Table, func, select

from omnigift.clock import utcnow
from omnigift.connectors.base import CardRefused, PlatformCard
from omnigift.db.tables import external_references, gift_cards, sync_exceptions
from omnigift.ledger.imports import import_csv
from omnigift.ledger.records import CardRecord, card_query
from omnigift.promotions.catalogue import create_promotion
from omnigift.runtime import Runtime
from omnigift.sync import mirrors
from omnigift.sync.ingest import LedgerSink
from omnigift.sync.integrations import create_integration

CODE = "8800000000042"


async def _lightspeed_sink(runtime: Runtime) -> LedgerSink:
    rules = dataclasses.replace(runtime.integration_rules, allow_private=True)
    async with runtime.db.transaction() as conn:
        integration = await create_integration(
            conn,
            rules,
            utcnow(),
            platform="lightspeed",
            name="Store 12",
            base_url="http://127.0.0.1:9",
            credentials={"access_token": "t"},
            settings={"pull_cards": True},
        )
    return LedgerSink(
        runtime.db, runtime.policy, integration["id"], "lightspeed", integration["settings"]
    )


async def _card_in_ledger(runtime: Runtime) -> str:
    csv = f"code,balance,currency,expires_at,customer_email,note\n{CODE},20.00,USD,,,\n"
    await import_csv(runtime.db, runtime.policy, io.StringIO(csv))
    async with runtime.db.read() as conn:
        return str((await conn.execute(select(gift_cards.c.id))).scalar_one())


def _platform_card(code: str) -> PlatformCard:
    return PlatformCard(
        external_id="1622", balance=2000, currency="USD", enabled=True, expires_on=None, code=code
    )


async def _count(runtime: Runtime, table: Table) -> int:
    async with runtime.db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def test_our_mirror_read_before_its_creation_is_recorded_is_not_a_platform_card(
    runtime: Runtime,
) -> None:
    # The mirror worker has created the card on the platform but not yet written down its id;
    # a historical import or a poll reading the platform at that moment sees a card with our code.
    sink = await _lightspeed_sink(runtime)
    card_id = await _card_in_ledger(runtime)
    await mirrors.want_all(runtime.db, sink.integration_id, {card_id}, utcnow())

    assert await sink.native_card(_platform_card(CODE)) is False

    assert await _count(runtime, sync_exceptions) == 0
    # Nothing claimed: once the mirror names the platform id, that is what recognises it.
    assert await _count(runtime, external_references) == 0
    assert await _count(runtime, gift_cards) == 1


async def test_a_platform_card_with_the_code_of_a_card_it_does_not_mirror_is_refused(
    runtime: Runtime,
) -> None:
    sink = await _lightspeed_sink(runtime)
    await _card_in_ledger(runtime)

    with pytest.raises(CardRefused):
        await sink.native_card(_platform_card(CODE))

    assert await _count(runtime, sync_exceptions) == 1
    assert await _count(runtime, gift_cards) == 1


async def test_a_card_found_by_an_import_earns_no_purchase_promotion_but_one_just_sold_does(
    runtime: Runtime,
) -> None:
    async with runtime.db.transaction() as conn:
        await create_promotion(
            conn,
            {
                "name": "10% on every card bought",
                "trigger": "card_purchased",
                "currency": "USD",
                "conditions": {},
                "reward": {"type": "percent", "percent": 10},
                "budget": None,
            },
            utcnow(),
        )
    sink = await _lightspeed_sink(runtime)

    found = PlatformCard("1", 2000, "USD", enabled=True, expires_on=None, code="7700000000001")
    sold = PlatformCard("2", 2000, "USD", enabled=True, expires_on=None, code="7700000000002")
    assert await sink.native_card(found) is True
    assert await sink.native_card(sold, sold=True) is True

    async with runtime.db.read() as conn:
        cards = [CardRecord.from_row(row) for row in await conn.execute(card_query())]
        balances = {card.code_last4: card.balance for card in cards}
    assert balances == {"0001": 2000, "0002": 2200}
