"""Merging a customer recorded twice (an e-mail online, a phone number at the till).

The survivor takes over every card of the duplicate (each card's ``gift_card.updated`` event
says so), its store credit (``store_credit.move_wallets``), and the e-mail, phone, name and
platform ids it lacked. The duplicate keeps its row,
pointing at the survivor, so ids held elsewhere still resolve; its e-mail and phone stop counting
as taken. A merge repeated is a no-op; one that contradicts an earlier merge is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.customers.profiles import customer_view, get_customer
from omnigift.customers.store_credit import move_wallets
from omnigift.db.tables import customers, gift_cards
from omnigift.events.catalogue import EventType
from omnigift.events.outbox import PendingEvent, record
from omnigift.ledger.errors import InvalidRequest, InvalidState
from omnigift.ledger.origin import Origin
from omnigift.ledger.policy import LedgerPolicy
from omnigift.ledger.records import lock_card, update_card

_TAKEN_OVER = ("email", "phone", "name")


async def merge_customers(
    conn: AsyncConnection,
    survivor_id: str,
    duplicate_id: str,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
) -> dict[str, Any]:
    """Fold ``duplicate_id`` into ``survivor_id``; the survivor as it stands after."""
    if survivor_id == duplicate_id:
        raise InvalidRequest("a customer can't be merged into itself", field="duplicate_id")
    locked = {
        c: await get_customer(conn, c, for_update=True) for c in sorted((survivor_id, duplicate_id))
    }
    survivor, duplicate = locked[survivor_id], locked[duplicate_id]
    if survivor["merged_into"]:
        raise InvalidState(f"customer {survivor_id} was merged into {survivor['merged_into']}")
    if duplicate["merged_into"] == survivor_id:
        return customer_view(survivor)  # merged before: the same answer
    if duplicate["merged_into"]:
        raise InvalidState(f"customer {duplicate_id} was merged into {duplicate['merged_into']}")

    moved = await _move_cards(conn, duplicate_id, survivor_id, now)
    wallets = await move_wallets(conn, duplicate_id, survivor_id, policy, origin, now)
    # The duplicate is retired first: its e-mail and phone are then free for the survivor.
    retired = {**duplicate, "merged_into": survivor_id, "updated_at": now}
    await conn.execute(
        update(customers)
        .where(customers.c.id == duplicate_id)
        .values(merged_into=survivor_id, updated_at=now)
    )
    fills = {f: duplicate[f] for f in _TAKEN_OVER if not survivor[f] and duplicate[f]}
    external_ids = {**(duplicate["external_ids"] or {}), **(survivor["external_ids"] or {})}
    after = {**survivor, **fills, "external_ids": external_ids, "updated_at": now}
    await conn.execute(
        update(customers)
        .where(customers.c.id == survivor_id)
        .values(**fills, external_ids=external_ids, updated_at=now)
    )
    view = customer_view(after)
    merged = {
        "customer": view,
        "merged": customer_view(retired),
        "gift_card_ids": moved,
        "store_credit_ids": wallets,
    }
    await record(conn, [PendingEvent(EventType.CUSTOMER_MERGED, merged)], now)
    return view


async def _move_cards(conn: AsyncConnection, from_id: str, to_id: str, now: datetime) -> list[str]:
    """Give every card of ``from_id`` to ``to_id`` (locked in id order), each with its event."""
    owned = select(gift_cards.c.id).where(gift_cards.c.customer_id == from_id)
    card_ids = list((await conn.execute(owned.order_by(gift_cards.c.id))).scalars())
    for card_id in card_ids:
        await update_card(conn, await lock_card(conn, card_id), {"customer_id": to_id}, now)
    return card_ids
