"""Store credit: a customer's wallet per currency, on the same ledger as cards.

A wallet is a value account (``accounts.kind = store_credit``) with lots, holds, activities,
postings and events exactly like a card's (``ledger/``: its ``sc_`` id routes it), but no code: it
is reached through its customer. It is opened by its first credit and never closed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.customers.profiles import get_customer
from omnigift.db.tables import accounts, store_credit_wallets
from omnigift.ids import new_id
from omnigift.ledger.activities import ActivityRequest, apply_activity
from omnigift.ledger.cards import ActivityType
from omnigift.ledger.errors import InvalidRequest, InvalidState, NotFound
from omnigift.ledger.issuing import LotSpec
from omnigift.ledger.lots import LotKind
from omnigift.ledger.origin import Origin
from omnigift.ledger.policy import LedgerPolicy
from omnigift.ledger.records import (
    CardRecord,
    ensure_system_accounts,
    find_card,
    lock_card,
    open_lots,
)
from omnigift.ledger.views import activity_view, wallet_view
from omnigift.ledger.wallets import WALLET_PREFIX
from omnigift.money import is_known_currency


async def wallet_id(conn: AsyncConnection, customer_id: str, currency: str) -> str | None:
    """The customer's wallet in ``currency``, if it has one."""
    query = select(store_credit_wallets.c.id).where(
        store_credit_wallets.c.customer_id == customer_id,
        store_credit_wallets.c.currency == currency,
    )
    return (await conn.execute(query)).scalar()


async def open_wallet(conn: AsyncConnection, customer_id: str, currency: str, now: datetime) -> str:
    """The customer's wallet in ``currency``, opened empty if it has none yet."""
    customer = await get_customer(conn, customer_id)
    if customer["merged_into"]:
        raise InvalidState(f"customer {customer_id} was merged into {customer['merged_into']}")
    if not is_known_currency(currency):
        raise InvalidRequest(f"unknown currency {currency}", field="currency")
    existing = await wallet_id(conn, customer_id, currency)
    if existing:
        return existing
    await ensure_system_accounts(conn, currency, now)
    new = new_id(WALLET_PREFIX.rstrip("_"))
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(accounts).values(
                    id=new, kind="store_credit", currency=currency, created_at=now, updated_at=now
                )
            )
            await conn.execute(
                insert(store_credit_wallets).values(
                    id=new, customer_id=customer_id, currency=currency, created_at=now
                )
            )
    except IntegrityError:  # opened by a concurrent first credit
        found = await wallet_id(conn, customer_id, currency)
        if found is None:
            raise
        return found
    return new


async def wallets_of(conn: AsyncConnection, customer_id: str) -> list[dict[str, Any]]:
    """Every wallet of a customer (one per currency), with its open lots."""
    await get_customer(conn, customer_id)
    query = (
        select(store_credit_wallets.c.id)
        .where(store_credit_wallets.c.customer_id == customer_id)
        .order_by(store_credit_wallets.c.currency)
    )
    views = []
    for found in (await conn.execute(query)).scalars():
        wallet = await find_card(conn, found)
        assert wallet is not None
        views.append(wallet_view(wallet, lots=await open_lots(conn, wallet.id)))
    return views


async def credit_or_debit(
    conn: AsyncConnection,
    customer_id: str,
    currency: str,
    request: ActivityRequest,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
) -> dict[str, Any]:
    """One activity on the customer's wallet in ``currency`` (opened by a first credit)."""
    taking = request.type in (ActivityType.REDEEM, ActivityType.ADJUST_DECREMENT)
    wallet = await wallet_id(conn, customer_id, currency) if taking else None
    if taking and wallet is None:
        await get_customer(conn, customer_id)
        raise NotFound(f"customer {customer_id} has no {currency} store credit")
    wallet = wallet or await open_wallet(conn, customer_id, currency, now)
    written = await apply_activity(conn, wallet, request, policy, origin, now)
    return {
        "activity": activity_view(written.activity),
        "store_credit": wallet_view(written.card, lots=await open_lots(conn, wallet)),
    }


async def move_wallets(
    conn: AsyncConnection,
    from_customer: str,
    to_customer: str,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
) -> list[str]:
    """On a merge: each wallet of ``from_customer`` goes to ``to_customer``. Where the survivor
    already holds that currency, the value moves over lot by lot (kind and expiry kept): an
    ``adjust_decrement`` off the duplicate's wallet, an ``adjust_increment`` per lot onto the
    survivor's, both through the ``adjustments`` account, so the books stay balanced."""
    query = select(store_credit_wallets.c.id, store_credit_wallets.c.currency).where(
        store_credit_wallets.c.customer_id == from_customer
    )
    moved = []
    for row in (await conn.execute(query.order_by(store_credit_wallets.c.id))).all():
        target = await wallet_id(conn, to_customer, row.currency)
        if target is None:
            await conn.execute(
                store_credit_wallets.update()
                .where(store_credit_wallets.c.id == row.id)
                .values(customer_id=to_customer)
            )
        else:
            await _transfer(conn, row.id, target, policy, origin, now)
        moved.append(str(row.id))
    return moved


async def _transfer(
    conn: AsyncConnection,
    source: str,
    target: str,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
) -> None:
    first, second = sorted((source, target))  # lock order: ids ascending, as everywhere
    wallets: dict[str, CardRecord] = {w: await lock_card(conn, w) for w in (first, second)}
    held = wallets[source]
    if held.held:
        raise InvalidState(f"store credit {source} has open holds; capture or void them first")
    # Value past its expiry is not moved: the decrement below lapses it to breakage first.
    lots = [
        lot
        for lot in await open_lots(conn, source)
        if lot.remaining > 0 and (lot.expires_at is None or lot.expires_at > now)
    ]
    if not lots:
        return
    reason = f"customers merged: store credit moved to {target}"
    total = sum(lot.remaining for lot in lots)
    await apply_activity(
        conn,
        source,
        ActivityRequest(ActivityType.ADJUST_DECREMENT, total, held.currency, reason=reason),
        policy,
        origin,
        now,
    )
    for lot in lots:
        # Paid value keeps no expiry: its legal minimum counts from the day it was paid, which
        # a new lot can't say; never expiring is the customer's side of that doubt.
        expiry = None if lot.kind is LotKind.PAID else lot.expires_at
        spec = LotSpec(kind=lot.kind, expires_at=expiry)
        request = ActivityRequest(
            ActivityType.ADJUST_INCREMENT,
            lot.remaining,
            held.currency,
            reason=f"customers merged: store credit moved from {source}",
            lot=spec,
        )
        await apply_activity(conn, target, request, policy, origin, now)
