"""Refunding a return as a gift card or store credit (seed 001).

One call does it all in one transaction: find or create the customer, issue a card with a
``refund`` lot (or credit the customer's store credit with one), grant the promotions of the
``refund_taken`` trigger (e.g. 10% extra for choosing a gift card), and record the refund under
its ``return_id``. The same ``return_id`` again answers the same refund (a returns platform
retrying its webhook gets the same card back, never a second one); with a different amount,
currency or method it is refused. Card codes are never stored in the clear: a replay unseals
them again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.clock import rfc3339
from omnigift.codes import format_code
from omnigift.customers.profiles import (
    CustomerFields,
    find_or_create_customer,
    normalize_email,
)
from omnigift.customers.store_credit import credit_or_debit
from omnigift.db.tables import refunds
from omnigift.ids import new_id
from omnigift.ledger.activities import ActivityRequest
from omnigift.ledger.cards import ActivityType, CardType
from omnigift.ledger.errors import InvalidRequest, NotFound, ReturnIdReused
from omnigift.ledger.issuing import IssueCard, LotSpec, issue_card
from omnigift.ledger.lots import LotKind
from omnigift.ledger.origin import Origin
from omnigift.ledger.policy import LedgerPolicy
from omnigift.ledger.records import find_card, open_lots
from omnigift.ledger.views import card_view, money, wallet_view
from omnigift.mail.outbox import queue_email
from omnigift.money import display
from omnigift.promotions.granting import grant, kept_bonus, reveal_bonus_codes
from omnigift.promotions.rules import Occasion, Trigger

METHODS = ("gift_card", "store_credit")


@dataclass(frozen=True)
class RefundRequest:
    return_id: str
    amount: int
    currency: str
    method: str
    order_id: str | None = None
    customer: CustomerFields | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None

    def fingerprint(self) -> str:
        what = [self.return_id, self.amount, self.currency, self.method, self.order_id]
        return hashlib.sha256(json.dumps(what).encode()).hexdigest()


async def refund_return(
    conn: AsyncConnection,
    request: RefundRequest,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
) -> tuple[dict[str, Any], bool]:
    """The refund of this return, made now or before; True when it was made before."""
    earlier = await find_refund(conn, request.return_id)
    if earlier is not None:
        # Only the caller that made it sees it again (a code is in the answer): another key's
        # return with the same id is refused, as a different request would be.
        if (
            earlier["request_hash"] != request.fingerprint()
            or earlier["api_key_id"] != origin.api_key_id
        ):
            raise ReturnIdReused(
                f"return {request.return_id} was refunded with another amount, currency, method "
                "or order",
                field="return_id",
            )
        return await with_codes(conn, earlier["answer"], policy), True
    if request.method not in METHODS:
        raise InvalidRequest("method is gift_card or store_credit", field="method")
    if request.amount <= 0:
        raise InvalidRequest("amounts must be positive", field="amount.amount")
    customer_id = await find_or_create_customer(conn, request.customer, now)
    if request.method == "store_credit" and customer_id is None:
        raise InvalidRequest("store credit needs a customer (an e-mail or phone)", field="customer")
    refunded = await _issue(conn, request, customer_id, policy, origin, now)
    occasion = Occasion(
        trigger=Trigger.REFUND_TAKEN,
        amount=request.amount,
        currency=request.currency,
        channel=origin.channel,
        at=now,
        reference=f"return:{request.return_id}",
        customer_id=customer_id,
        method=request.method,
    )
    bonuses = await grant(conn, occasion, refunded["account_id"], policy, origin, now)
    answer = await _answer(conn, request, customer_id, refunded, bonuses, now)
    await _email(conn, request, refunded["account_id"], bonuses, now)
    await conn.execute(
        insert(refunds).values(
            id=answer["id"],
            return_id=request.return_id,
            order_id=request.order_id,
            customer_id=customer_id,
            method=request.method,
            amount=request.amount,
            currency=request.currency,
            account_id=refunded["account_id"],
            activity_id=refunded["activity_id"],
            request_hash=request.fingerprint(),
            answer=answer,
            api_key_id=origin.api_key_id,
            created_at=now,
        )
    )
    return await with_codes(conn, answer, policy), False


async def find_refund(conn: AsyncConnection, return_id: str) -> dict[str, Any] | None:
    row = (await conn.execute(select(refunds).where(refunds.c.return_id == return_id))).first()
    return dict(row._mapping) if row else None


async def get_refund(conn: AsyncConnection, refund_id: str) -> dict[str, Any]:
    row = (await conn.execute(select(refunds).where(refunds.c.id == refund_id))).first()
    if row is None:
        raise NotFound(f"no refund {refund_id}")
    return dict(row._mapping)


async def with_codes(
    conn: AsyncConnection, answer: dict[str, Any], policy: LedgerPolicy
) -> dict[str, Any]:
    """The stored answer with the codes of the cards it issued, unsealed for the caller."""
    shown: dict[str, Any] = json.loads(json.dumps(answer))
    if shown.get("gift_card"):
        shown["gift_card"]["code"] = await _code(conn, shown["gift_card"]["id"], policy)
    await reveal_bonus_codes(conn, shown.get("bonuses", []), policy)
    return shown


async def _code(conn: AsyncConnection, card_id: str, policy: LedgerPolicy) -> str:
    card = await find_card(conn, card_id)
    assert card is not None
    return format_code(policy.vault.unseal(card.code_sealed))


async def _issue(
    conn: AsyncConnection,
    request: RefundRequest,
    customer_id: str | None,
    policy: LedgerPolicy,
    origin: Origin,
    now: datetime,
) -> dict[str, str]:
    """The card issued, or the store credit credited, with a ``refund`` lot."""
    about = {"return_id": request.return_id, "order_id": request.order_id}
    if request.method == "gift_card":
        contact = request.customer
        recipient = (
            {k: v for k, v in (("email", contact.email), ("name", contact.name)) if v}
            if contact
            else None
        )
        command = IssueCard(
            type=CardType.DIGITAL,
            currency=request.currency,
            initial_value=request.amount,
            initial_lot=LotSpec(kind=LotKind.REFUND),
            customer_id=customer_id,
            recipient=recipient or None,
            metadata={"refund": about},
        )
        issued = await issue_card(conn, command, policy, origin, now)
        return {"account_id": issued.written.card.id, "activity_id": issued.written.activity["id"]}
    assert customer_id is not None
    credit = ActivityRequest(
        ActivityType.REFUND,
        request.amount,
        request.currency,
        reason=request.reason,
        reference={k: v for k, v in about.items() if v},
    )
    done = await credit_or_debit(conn, customer_id, request.currency, credit, policy, origin, now)
    return {"account_id": done["store_credit"]["id"], "activity_id": done["activity"]["id"]}


async def _email(
    conn: AsyncConnection,
    request: RefundRequest,
    account_id: str,
    bonuses: list[dict[str, Any]],
    now: datetime,
) -> None:
    """Tell the customer at once: the card (its code drawn in at sending) or the store credit."""
    contact = request.customer
    if contact is None or not contact.email:
        return
    on_it = [b for b in bonuses if b["account_id"] == account_id]
    extra = sum(b["amount"]["amount"] for b in on_it)
    expires = next((b["expires_at"] for b in on_it if b["expires_at"]), None)
    context = {
        "name": contact.name,
        "order_id": request.order_id,
        "method": request.method,
        "amount": display(request.amount, request.currency),
        "bonus": display(extra, request.currency) if extra else None,
        "bonus_expires_at": expires[:10] if expires else None,
    }
    await queue_email(
        conn,
        "refund_issued",
        f"return:{request.return_id}",
        normalize_email(contact.email),
        context,
        now,
        account_id=account_id,
    )


async def _answer(
    conn: AsyncConnection,
    request: RefundRequest,
    customer_id: str | None,
    refunded: dict[str, str],
    bonuses: list[dict[str, Any]],
    now: datetime,
) -> dict[str, Any]:
    """What was issued, as the API shows it (codes added by ``with_codes``)."""
    account = await find_card(conn, refunded["account_id"])
    assert account is not None
    lots = await open_lots(conn, account.id)
    return {
        "id": new_id("rf"),
        "return_id": request.return_id,
        "order_id": request.order_id,
        "method": request.method,
        "amount": money(request.amount, request.currency),
        "customer_id": customer_id,
        "reason": request.reason,
        "items": request.items,
        "activity_id": refunded["activity_id"],
        "gift_card": None if account.is_wallet else card_view(account, lots=lots),
        "store_credit": wallet_view(account, lots=lots) if account.is_wallet else None,
        "bonuses": [kept_bonus(b) for b in bonuses],
        "created_at": rfc3339(now),
    }
