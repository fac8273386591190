"""Till transactions: each is keyed by the till's own transaction id, applied once, reversible once.

The id is unique per store location and terminal. A retry with the same id and the same request
answers what the first call answered (the till lost the answer); the same id with another request
is refused. A reversal undoes exactly that transaction (a redeem, a load, an activation, a hold or
its capture); a second reversal answers the first one's answer and changes nothing.

A redemption the till made while offline is submitted later with ``occurred_at``: the goods are
gone, so it is always recorded; what the card could not cover becomes an ``offline_overdraft``
sync exception for staff.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.db.engine import Database
from omnigift.db.tables import tender_transactions
from omnigift.ledger.activities import ActivityRequest, apply_activity
from omnigift.ledger.cards import ActivityType, CardState
from omnigift.ledger.errors import InsufficientFunds, InvalidState, LedgerError, NotFound
from omnigift.ledger.holds import capture_hold, place_hold, void_hold
from omnigift.ledger.origin import Origin
from omnigift.ledger.policy import LedgerPolicy
from omnigift.ledger.records import CardRecord, lock_card
from omnigift.ledger.views import money
from omnigift.promotions.granting import purchase_occasion
from omnigift.returns.undone_purchases import Undoing, withdraw_bonuses
from omnigift.sync.exceptions import ExceptionKind, raise_exception


class TransactionReused(Exception):
    """The till sent a transaction id it used before, for another request."""


@dataclass(frozen=True, slots=True)
class Till:
    """Who is asking: the store (from the API key), the terminal and the cashier."""

    location_id: str
    terminal_id: str
    cashier_id: str | None
    origin: Origin

    def stamp(self, transaction_id: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """What every activity of a till transaction records."""
        return {
            "terminal_id": self.terminal_id,
            "cashier_id": self.cashier_id,
            "till_transaction_id": transaction_id,
            **(extra or {}),
        }


@dataclass(frozen=True, slots=True)
class Done:
    """What a transaction did: the answer, and the rows it touched (for a later reversal)."""

    response: dict[str, Any]
    account_id: str | None = None
    activity_id: str | None = None
    hold_id: str | None = None


Work = Callable[[AsyncConnection, datetime], Awaitable[Done]]


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def run_once(
    db: Database,
    till: Till,
    transaction_id: str,
    kind: str,
    fingerprint: str,
    work: Work,
    now: datetime,
) -> dict[str, Any]:
    """Do ``work`` in one database transaction with the till transaction's row, or answer what
    was answered the first time."""
    try:
        async with db.transaction() as conn:
            before = await _row(conn, till, transaction_id)
            if before is not None:
                return _replayed(before, kind, fingerprint)
            done = await work(conn, now)
            await conn.execute(
                tender_transactions.insert().values(
                    location_id=till.location_id,
                    terminal_id=till.terminal_id,
                    transaction_id=transaction_id,
                    kind=kind,
                    request_hash=fingerprint,
                    api_key_id=till.origin.api_key_id or "",
                    account_id=done.account_id,
                    activity_id=done.activity_id,
                    hold_id=done.hold_id,
                    response=done.response,
                    created_at=now,
                )
            )
            return done.response
    except IntegrityError:
        # The same transaction id, at the same moment, from a retrying till: answer the first.
        async with db.read() as conn:
            first = await _row(conn, till, transaction_id)
        if first is None:
            raise
        return _replayed(first, kind, fingerprint)


def _replayed(row: Any, kind: str, fingerprint: str) -> dict[str, Any]:
    if row.kind != kind or row.request_hash != fingerprint:
        raise TransactionReused(
            f"transaction {row.transaction_id} of this terminal was a different {row.kind}"
        )
    return dict(row.response)


async def _row(conn: AsyncConnection, till: Till, transaction_id: str, lock: bool = False) -> Any:
    query = select(tender_transactions).where(
        tender_transactions.c.location_id == till.location_id,
        tender_transactions.c.terminal_id == till.terminal_id,
        tender_transactions.c.transaction_id == transaction_id,
    )
    if lock:
        query = query.with_for_update()
    return (await conn.execute(query)).first()


def card_summary(card: CardRecord) -> dict[str, Any]:
    """What a till shows: never the code."""
    return {
        "id": card.id,
        "last4": card.code_last4,
        "state": card.state.value,
        "balance": money(card.balance, card.currency),
        "available": money(card.balance - card.held, card.currency),
        "expires_at": card.expires_at.isoformat() if card.expires_at else None,
    }


async def answer(
    conn: AsyncConnection,
    transaction_id: str,
    kind: str,
    card_id: str,
    amount: int | None,
    **extra: Any,
) -> dict[str, Any]:
    card = await lock_card(conn, card_id)
    return {
        "transaction_id": transaction_id,
        "type": kind,
        "status": "approved",
        "amount": money(amount, card.currency) if amount is not None else None,
        "gift_card": card_summary(card),
        **extra,
    }


async def value_move(
    conn: AsyncConnection,
    card_id: str,
    request: ActivityRequest,
    policy: LedgerPolicy,
    till: Till,
    transaction_id: str,
    now: datetime,
) -> Done:
    """Activate, load or redeem, recorded with the terminal and cashier."""
    stamped = ActivityRequest(
        type=request.type,
        amount=request.amount,
        currency=request.currency,
        allow_partial=request.allow_partial,
        reference={"till_transaction_id": transaction_id, "terminal_id": till.terminal_id},
        metadata=till.stamp(transaction_id, request.metadata),
    )
    written = await apply_activity(conn, card_id, stamped, policy, till.origin, now)
    taken = written.activity["amount"]
    response = await answer(
        conn,
        transaction_id,
        request.type.value,
        card_id,
        taken,
        activity_id=written.activity["id"],
    )
    return Done(response, card_id, str(written.activity["id"]))


async def offline_redeem(
    conn: AsyncConnection,
    card_id: str,
    amount: int,
    currency: str,
    occurred_at: datetime,
    policy: LedgerPolicy,
    till: Till,
    transaction_id: str,
    now: datetime,
) -> Done:
    """A redemption the till already made offline: recorded whatever the card holds now."""
    request = ActivityRequest(
        type=ActivityType.REDEEM,
        amount=amount,
        currency=currency,
        allow_partial=True,
        reference={"till_transaction_id": transaction_id, "terminal_id": till.terminal_id},
        metadata=till.stamp(
            transaction_id, {"offline": True, "occurred_at": occurred_at.isoformat()}
        ),
    )
    taken, activity_id, refusal = 0, None, None
    try:
        async with conn.begin_nested():
            written = await apply_activity(conn, card_id, request, policy, till.origin, now)
        taken, activity_id = int(written.activity["amount"]), str(written.activity["id"])
    except LedgerError as exc:
        refusal = exc
    if taken < amount:
        overdrawn = refusal is None or isinstance(refusal, InsufficientFunds)
        await raise_exception(
            conn,
            now,
            kind=ExceptionKind.OFFLINE_OVERDRAFT if overdrawn else ExceptionKind.REJECTED_SPEND,
            integration_id=None,
            account_id=card_id,
            amount=amount - taken,
            currency=currency,
            reference=f"{till.location_id}/{till.terminal_id}/{transaction_id}",
            details={
                "redeemed_offline": amount,
                "taken_from_card": taken,
                "occurred_at": occurred_at.isoformat(),
                "terminal_id": till.terminal_id,
                "cashier_id": till.cashier_id,
                "ledger_refusal": str(refusal) if refusal else None,
            },
        )
    response = await answer(
        conn,
        transaction_id,
        "redeem",
        card_id,
        taken,
        activity_id=activity_id,
        offline=True,
        occurred_at=occurred_at.isoformat(),
        uncovered=money(amount - taken, currency) if taken < amount else None,
    )
    return Done(response, card_id, activity_id)


async def hold(
    conn: AsyncConnection,
    card_id: str,
    amount: int,
    currency: str,
    policy: LedgerPolicy,
    till: Till,
    transaction_id: str,
    now: datetime,
) -> Done:
    """Reserve value for a split tender; captured (or voided) by a later till transaction."""
    placed = await place_hold(
        conn,
        card_id,
        amount,
        currency,
        policy,
        till.origin,
        now,
        reference=till.stamp(transaction_id),
    )
    response = await answer(conn, transaction_id, "hold", card_id, amount, hold_id=placed["id"])
    return Done(response, card_id, None, str(placed["id"]))


async def capture(
    conn: AsyncConnection,
    till: Till,
    hold_transaction_id: str,
    amount: int | None,
    transaction_id: str,
    now: datetime,
) -> Done:
    """Take all or part of a hold this terminal placed."""
    held = await _row(conn, till, hold_transaction_id, lock=True)
    if held is None or held.kind != "hold":
        raise NotFound(f"no hold from transaction {hold_transaction_id} of this terminal")
    _, written = await capture_hold(conn, held.hold_id, amount, till.origin, now)
    response = await answer(
        conn,
        transaction_id,
        "capture",
        held.account_id,
        written.activity["amount"],
        activity_id=written.activity["id"],
    )
    return Done(response, held.account_id, str(written.activity["id"]), held.hold_id)


async def reverse(
    db: Database, till: Till, transaction_id: str, policy: LedgerPolicy, now: datetime
) -> dict[str, Any]:
    """Undo one till transaction, once; a second reversal answers the first one's answer."""
    async with db.transaction() as conn:
        row = await _row(conn, till, transaction_id, lock=True)
        if row is None:
            raise NotFound(f"no transaction {transaction_id} from this terminal")
        if row.reversal is not None:
            return dict(row.reversal)
        undo = _UNDO.get(row.kind)
        if undo is None:
            raise InvalidState(f"a {row.kind} can't be reversed")
        activity_id = await undo(conn, row, policy, till, now)
        reversal = await answer(
            conn,
            transaction_id,
            "reverse",
            row.account_id,
            None,
            reversed=row.kind,
            activity_id=activity_id,
        )
        await conn.execute(
            update(tender_transactions)
            .where(
                tender_transactions.c.location_id == till.location_id,
                tender_transactions.c.terminal_id == till.terminal_id,
                tender_transactions.c.transaction_id == transaction_id,
            )
            .values(reversal=reversal, reversed_at=now)
        )
        return reversal


def _amount_of(row: Any) -> int:
    return int((row.response.get("amount") or {}).get("amount") or 0)


async def _undo_redeem(
    conn: AsyncConnection, row: Any, policy: LedgerPolicy, till: Till, now: datetime
) -> str | None:
    """Put back what the redemption took, into the lots it took it from."""
    amount = _amount_of(row)
    if not amount or row.activity_id is None:
        return None
    card = await lock_card(conn, row.account_id)
    refund = ActivityRequest(
        type=ActivityType.REFUND,
        amount=amount,
        currency=card.currency,
        redeem_activity_id=row.activity_id,
        reason=f"reversal of till transaction {row.transaction_id}",
        metadata=till.stamp(row.transaction_id, {"reversal": True}),
    )
    written = await apply_activity(conn, row.account_id, refund, policy, till.origin, now)
    return str(written.activity["id"])


async def _undo_value(
    conn: AsyncConnection, row: Any, policy: LedgerPolicy, till: Till, now: datetime
) -> str | None:
    """Take back a load or an activation's value; an activated card is then deactivated (a
    voided sale of a card must not leave a live card behind)."""
    card = await lock_card(conn, row.account_id)
    amount = _amount_of(row)
    activity_id = None
    if amount:
        take_back = ActivityRequest(
            type=ActivityType.ADJUST_DECREMENT,
            amount=amount,
            currency=card.currency,
            reason=f"reversal of till transaction {row.transaction_id}",
            metadata=till.stamp(row.transaction_id, {"reversal": True}),
        )
        written = await apply_activity(conn, row.account_id, take_back, policy, till.origin, now)
        activity_id = str(written.activity["id"])
    if row.kind == "activate":
        await _undo_sale(conn, row, policy, till, now)
    return activity_id


async def _undo_sale(
    conn: AsyncConnection, row: Any, policy: LedgerPolicy, till: Till, now: datetime
) -> None:
    """A voided sale of a card must not leave a live card behind: what is left on it (a bonus
    lot on the same card) is cleared and it is deactivated; bonus cards it earned are
    withdrawn."""
    why = f"activation reversed by till transaction {row.transaction_id}"
    stamp = till.stamp(row.transaction_id, {"reversal": True})
    card = await lock_card(conn, row.account_id)
    if card.state is not CardState.DEACTIVATED:
        if card.balance - card.held > 0:
            clear = ActivityRequest(type=ActivityType.CLEAR_BALANCE, reason=why, metadata=stamp)
            await apply_activity(conn, row.account_id, clear, policy, till.origin, now)
        end = ActivityRequest(type=ActivityType.DEACTIVATE, reason=why, metadata=stamp)
        await apply_activity(conn, row.account_id, end, policy, till.origin, now)
    undoing = Undoing(reference=f"till:{till.terminal_id}:{row.transaction_id}", why=why)
    occasion = purchase_occasion(row.account_id)
    await withdraw_bonuses(conn, occasion, row.account_id, undoing, policy, till.origin, now)


async def _undo_hold(
    conn: AsyncConnection, row: Any, policy: LedgerPolicy, till: Till, now: datetime
) -> str | None:
    await void_hold(conn, row.hold_id, now)
    return None


_UNDO: dict[str, Callable[..., Awaitable[str | None]]] = {
    "redeem": _undo_redeem,
    "capture": _undo_redeem,
    "load": _undo_value,
    "activate": _undo_value,
    "hold": _undo_hold,
}
