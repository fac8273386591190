"""Taking in what a platform did on its own: checkout spends, refunds back to a card, sales of our
gift card product, cards made on the platform.

Each platform transaction is applied once: its reference is written first, in the same database
transaction as the activity, so a duplicate or replayed notification — even one processed at the
same moment by another worker — fails on that row and changes nothing. A spend also moves what
we know the mirror holds (the platform already did it), so the next push doesn't repeat it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift import codes
from omnigift.clock import utcnow
from omnigift.connectors.base import (
    CardRefused,
    PlatformCard,
    PlatformOrder,
    PlatformRefund,
    PlatformSale,
    PlatformSaleRefund,
    PlatformSpend,
)
from omnigift.connectors.registry import PLATFORMS
from omnigift.customers.profiles import CustomerFields, find_or_create_customer
from omnigift.db.engine import Database
from omnigift.db.tables import external_references, gift_cards, mirrors
from omnigift.ids import new_id
from omnigift.ledger.activities import ActivityRequest, apply_activity
from omnigift.ledger.cards import ActivityType, CardType
from omnigift.ledger.errors import InsufficientFunds, InvalidRequest, LedgerError
from omnigift.ledger.issuing import IssueCard, issue_card
from omnigift.ledger.origin import Channel, Origin
from omnigift.ledger.policy import LedgerPolicy
from omnigift.promotions.granting import (
    grant,
    has_candidates,
    on_card_purchased,
    on_card_sold,
    order_occasion,
    purchase_occasion,
)
from omnigift.promotions.rules import Occasion, Trigger
from omnigift.returns.refunds import RefundRequest, find_refund, refund_return
from omnigift.returns.undone_purchases import Undoing, withdraw_bonuses, withdraw_card
from omnigift.sync.exceptions import ExceptionKind, raise_exception
from omnigift.sync.mirrors import mirror_of_external


class _OursInFlight(Exception):
    """Rolls back a native card's claim: it is our own mirror, not yet recorded as such."""


class MirrorNotReady(Exception):
    """A spend of a platform card we may be creating right now: take it in a moment later."""


@dataclass(frozen=True)
class LedgerSink:
    """The ``Sink`` of one integration: platform doings become ledger activities."""

    db: Database
    policy: LedgerPolicy
    integration_id: str
    platform: str
    settings: dict[str, Any]

    @property
    def origin(self) -> Origin:
        channel = Channel(PLATFORMS[self.platform].channel)
        return Origin(channel=channel, integration_id=self.integration_id)

    async def spend(self, spend: PlatformSpend) -> None:
        """A checkout spend (or a refund back to the card) made on the platform."""
        try:
            async with self.db.transaction() as conn:
                if not await self._claim_reference(conn, spend.reference):
                    return
                mirror = await mirror_of_external(conn, self.integration_id, spend.external_card_id)
                if mirror is None:
                    if await self._creating(conn):
                        # Maybe one of ours whose creation is not recorded yet: try again soon
                        # (this rolls back the reference, so nothing is consumed).
                        raise MirrorNotReady(spend.external_card_id)
                    return  # a platform card we don't mirror: not the ledger's money
                if await self._in_imported_balance(conn, mirror.account_id, spend):
                    return  # the reference is kept: this transaction is never applied again
                now = utcnow()
                if spend.amount > 0:
                    activity_id = await self._redeem(conn, mirror.account_id, spend, now)
                else:
                    activity_id = await self._refund(conn, mirror.account_id, spend, now)
                await conn.execute(
                    update(mirrors)
                    .where(mirrors.c.id == mirror.id)
                    .values(known_balance=mirrors.c.known_balance - spend.amount)
                )
                await self._note_reference(
                    conn, spend.reference, mirror.account_id, activity_id, spend.amount
                )
        except IntegrityError:
            if not await self._seen(spend.reference):
                raise  # not the duplicate we guard against

    async def _in_imported_balance(
        self, conn: AsyncConnection, account_id: str, spend: PlatformSpend
    ) -> bool:
        """Did this platform transaction happen before the card was imported from the platform
        (by the platform's own clock)? Then the imported balance already holds it."""
        metadata = (
            await conn.execute(select(gift_cards.c.metadata).where(gift_cards.c.id == account_id))
        ).scalar() or {}
        source = metadata.get("imported_from") or {}
        as_of = source.get("as_of")
        return bool(
            as_of
            and spend.occurred_at
            and source.get("external_id") == spend.external_card_id
            and spend.occurred_at <= datetime.fromisoformat(as_of)
        )

    async def _redeem(
        self, conn: AsyncConnection, account_id: str, spend: PlatformSpend, now: datetime
    ) -> str | None:
        request = ActivityRequest(
            type=ActivityType.REDEEM,
            amount=spend.amount,
            currency=spend.currency,
            reference=self._reference(spend),
            allow_partial=True,
        )
        taken, activity_id, refusal = await self._apply(conn, account_id, request, now)
        if taken < spend.amount:
            overdrawn = refusal is None or isinstance(refusal, InsufficientFunds)
            await raise_exception(
                conn,
                now,
                kind=ExceptionKind.OVERDRAFT if overdrawn else ExceptionKind.REJECTED_SPEND,
                integration_id=self.integration_id,
                account_id=account_id,
                amount=spend.amount - taken,
                currency=spend.currency,
                reference=spend.reference,
                details={
                    "platform": self.platform,
                    "spent_on_platform": spend.amount,
                    "taken_from_card": taken,
                    "activity_id": activity_id,
                    "ledger_refusal": str(refusal) if refusal else None,
                    "order": spend.order,
                },
            )
        return activity_id

    async def _refund(
        self, conn: AsyncConnection, account_id: str, spend: PlatformSpend, now: datetime
    ) -> str | None:
        parent = None
        if spend.parent_reference:
            parent = (
                await conn.execute(
                    select(external_references.c.activity_id).where(
                        external_references.c.integration_id == self.integration_id,
                        external_references.c.reference == spend.parent_reference,
                    )
                )
            ).scalar()
        request = ActivityRequest(
            type=ActivityType.LOAD if spend.loaded else ActivityType.REFUND,
            amount=-spend.amount,
            currency=spend.currency,
            reference=self._reference(spend),
            redeem_activity_id=None if spend.loaded else parent,
        )
        _, activity_id, refusal = await self._apply(conn, account_id, request, now)
        if refusal is not None:
            await raise_exception(
                conn,
                now,
                kind=ExceptionKind.REJECTED_SPEND,
                integration_id=self.integration_id,
                account_id=account_id,
                amount=-spend.amount,
                currency=spend.currency,
                reference=spend.reference,
                details={
                    "platform": self.platform,
                    "refunded_on_platform": -spend.amount,
                    "ledger_refusal": str(refusal),
                    "order": spend.order,
                },
            )
        return activity_id

    async def _apply(
        self, conn: AsyncConnection, account_id: str, request: ActivityRequest, now: datetime
    ) -> tuple[int, str | None, LedgerError | None]:
        """Apply in a savepoint: a refusal undoes only this, not the reference or exception."""
        try:
            async with conn.begin_nested():
                written = await apply_activity(
                    conn, account_id, request, self.policy, self.origin, now
                )
        except LedgerError as refusal:
            return 0, None, refusal
        return int(written.activity["amount"] or 0), str(written.activity["id"]), None

    def _reference(self, spend: PlatformSpend) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "transaction_id": spend.reference,
            **({"order_id": spend.order["id"]} if spend.order.get("id") else {}),
        }

    async def sale(self, sale: PlatformSale) -> None:
        """Our gift card product sold on the platform: issue the card (mirrored back by push)."""
        if not self.settings.get("sell_cards"):
            return
        try:
            async with self.db.transaction() as conn:
                if not await self._claim_reference(conn, sale.reference):
                    return
                now = utcnow()
                metadata: dict[str, Any] = {
                    "sold_on": {"platform": self.platform, "order": sale.order},
                }
                if sale.shipping_name:
                    metadata["shipping_name"] = sale.shipping_name
                if sale.physical:
                    # Hook for the order lifecycle: a physical card is activated with its value
                    # when it is fulfilled, not when it is paid.
                    metadata["awaiting_fulfilment"] = {"amount": sale.amount}
                command = IssueCard(
                    type=CardType.PHYSICAL if sale.physical else CardType.DIGITAL,
                    currency=sale.currency,
                    initial_value=None if sale.physical else sale.amount,
                    recipient={
                        k: v
                        for k, v in (("email", sale.customer_email), ("name", sale.recipient_name))
                        if v
                    }
                    or None,
                    metadata=metadata,
                    activate=not sale.physical,
                )
                issued = await issue_card(conn, command, self.policy, self.origin, now)
                await on_card_purchased(conn, command, issued, self.policy, self.origin, now)
                await self._note_reference(
                    conn,
                    sale.reference,
                    issued.written.card.id,
                    str(issued.written.activity["id"]),
                    sale.amount,
                )
        except IntegrityError:
            if not await self._seen(sale.reference):
                raise

    async def order_paid(self, order: PlatformOrder) -> None:
        """A web store order paid earns its ``order_completed`` promotions (e.g. "spend $200,
        get a $20 card"), once. Refunded in full, the bonus cards it earned are withdrawn as a
        refunded card purchase's are: cleared and deactivated if unused, flagged if used."""
        occasion = order_occasion(self.integration_id, order.reference)
        now = utcnow()
        try:
            async with self.db.transaction() as conn:
                if order.refunded_in_full:
                    undone = PlatformSaleRefund(occasion, f"refunded:{occasion}", order.order)
                    if await self._claim_reference(conn, undone.reference):
                        why = f"the order that earned it was refunded ({order.reference})"
                        undoing = self._undoing(undone, why)
                        await withdraw_bonuses(
                            conn, occasion, "", undoing, self.policy, self.origin, now
                        )
                    return
                if order.amount <= 0 or not await has_candidates(
                    conn, Trigger.ORDER_COMPLETED, order.currency
                ):
                    return
                occurred = Occasion(
                    trigger=Trigger.ORDER_COMPLETED,
                    amount=order.amount,
                    currency=order.currency,
                    channel=self.origin.channel,
                    at=order.occurred_at or now,
                    reference=occasion,
                    customer_id=await self._buyer(conn, order, now),
                )
                await grant(conn, occurred, None, self.policy, self.origin, now)
        except IntegrityError:
            if not await self._seen(f"refunded:{occasion}"):
                raise

    async def _buyer(
        self, conn: AsyncConnection, order: PlatformOrder, now: datetime
    ) -> str | None:
        """The order's customer in the ledger (found or created by e-mail), to e-mail the
        bonus to and count per-customer limits against."""
        if not order.email:
            return None
        try:
            given = CustomerFields(email=order.email, name=order.name)
            return await find_or_create_customer(conn, given, now)
        except InvalidRequest:
            return None  # an address the store took and we can't: the bonus still stands

    async def sale_refunded(self, undone: PlatformSaleRefund) -> None:
        """The buyer of our card got their money back (giftcard-apis.md 5: a bug in many
        shops). An unused card is cleared and deactivated; one already used, even in part, is
        left as it is and flagged for staff (``refunded_card_spent``)."""
        if not self.settings.get("sell_cards"):
            return
        try:
            async with self.db.transaction() as conn:
                sold = await conn.execute(
                    select(external_references.c.account_id).where(
                        external_references.c.integration_id == self.integration_id,
                        external_references.c.reference == undone.sale_reference,
                    )
                )
                card_id = sold.scalar()
                if card_id is None or not await self._claim_reference(conn, undone.reference):
                    return  # never issued, or this refund was taken in before
                await self._undo_sale(conn, card_id, undone, utcnow())
        except IntegrityError:
            if not await self._seen(undone.reference):
                raise

    async def _undo_sale(
        self, conn: AsyncConnection, card_id: str, undone: PlatformSaleRefund, now: datetime
    ) -> None:
        """Withdraw the card, and the bonus cards its purchase earned."""
        why = f"the order that bought it was refunded ({undone.reference})"
        undoing = self._undoing(undone, why)
        await withdraw_card(conn, card_id, undoing, self.policy, self.origin, now)
        await withdraw_bonuses(
            conn, purchase_occasion(card_id), card_id, undoing, self.policy, self.origin, now
        )

    def _undoing(self, undone: PlatformSaleRefund, why: str) -> Undoing:
        return Undoing(
            reference=undone.reference,
            why=why,
            integration_id=self.integration_id,
            details={"platform": self.platform, "order": undone.order},
        )

    async def refund(self, refund: PlatformRefund) -> None:
        """A return to refund as a gift card or store credit: once per return (the refund's own
        ``return_id`` rule), booked to the returns channel of this integration."""
        request = RefundRequest(
            return_id=refund.return_id,
            amount=refund.amount,
            currency=refund.currency,
            method=refund.method,
            order_id=refund.order_id,
            customer=CustomerFields(email=refund.email, name=refund.name) if refund.email else None,
            items=refund.items,
            reason=refund.reason,
        )
        origin = Origin(channel=Channel.RETURNS, integration_id=self.integration_id)
        try:
            async with self.db.transaction() as conn:
                await refund_return(conn, request, self.policy, origin, utcnow())
        except IntegrityError:
            async with self.db.read() as conn:
                if await find_refund(conn, refund.return_id) is None:
                    raise  # not the concurrent duplicate we guard against

    async def refund_cancelled(self, return_id: str, why: str) -> None:
        """Staff see it: the card (or store credit) issued for the return may already be spent,
        so nothing is taken back on its own."""
        async with self.db.transaction() as conn:
            refunded = await find_refund(conn, return_id)
            if refunded is None:
                return  # cancelled before any refund: nothing was issued
            if not await self._claim_reference(conn, f"cancelled:{return_id}"):
                return  # told before
            await raise_exception(
                conn,
                utcnow(),
                kind=ExceptionKind.REFUND_CANCELLED,
                integration_id=self.integration_id,
                account_id=refunded["account_id"],
                amount=refunded["amount"],
                currency=refunded["currency"],
                reference=return_id,
                details={"platform": self.platform, "return_id": return_id, "why": why},
            )

    async def native_card(self, card: PlatformCard, *, sold: bool = False) -> bool:
        """A card made on the platform itself enters the ledger (``pull_cards``), once; False
        if the ledger already had it. One just ``sold`` there earns purchase promotions."""
        reference = f"card:{card.external_id}"
        try:
            async with self.db.transaction() as conn:
                if not await self._claim_reference(conn, reference):
                    return False
                if await mirror_of_external(conn, self.integration_id, card.external_id):
                    return False  # one of ours, mirrored out
                if await self._ours_by_code(conn, card):
                    # One of ours whose creation there is not recorded yet (the mirror worker
                    # made it moments ago): nothing is claimed, the mirror row will name it.
                    raise _OursInFlight
                now = utcnow()
                account_id = await self._import(conn, card, now)
                await conn.execute(
                    mirrors.insert().values(
                        id=new_id("mir"),
                        integration_id=self.integration_id,
                        account_id=account_id,
                        external_id=card.external_id,
                        known_balance=card.balance,
                        known_state="active" if card.enabled else "deactivated",
                        known_expires_on=card.expires_on.isoformat() if card.expires_on else None,
                        wanted=0,
                        done=0,
                        attempts=0,
                        next_attempt_at=now,
                        status="ok",
                        created_at=now,
                        updated_at=now,
                    )
                )
                await self._note_reference(conn, reference, account_id, None, card.balance)
                if sold and card.balance > 0:
                    value = card.balance
                    await on_card_sold(conn, account_id, value, self.policy, self.origin, now)
        except _OursInFlight:
            return False
        except IntegrityError:
            if not await self._seen(reference):
                raise
            return False
        except LedgerError as refusal:
            await self._refused(card, reference, refusal)
            raise CardRefused(str(refusal)) from None
        return True

    async def _refused(self, card: PlatformCard, reference: str, refusal: LedgerError) -> None:
        """Record, once, that a platform card can't enter the ledger, for staff to decide."""
        async with self.db.transaction() as conn:
            if not await self._claim_reference(conn, reference):
                return
            await raise_exception(
                conn,
                utcnow(),
                kind=ExceptionKind.CODE_INCOMPATIBLE,
                integration_id=self.integration_id,
                account_id=None,
                amount=card.balance,
                currency=card.currency,
                reference=reference,
                details={
                    "platform": self.platform,
                    "external_id": card.external_id,
                    "last_characters": card.last_characters,
                    "reason": str(refusal),
                },
            )

    async def _import(self, conn: AsyncConnection, card: PlatformCard, now: datetime) -> str:
        code_known = card.code is not None
        metadata: dict[str, Any] = {
            "imported_from": {
                "platform": self.platform,
                "external_id": card.external_id,
                "as_of": card.as_of.isoformat() if card.as_of else None,
            },
            "code_known": code_known,
        }
        if not code_known:
            # The platform shows only the last characters (Shopify): the card gets an internal
            # code nobody knows, is found by last 4 and customer, and staff may attach a serial.
            metadata["platform_last_characters"] = card.last_characters
        command = IssueCard(
            type=CardType.DIGITAL,
            currency=card.currency,
            initial_value=card.balance or None,
            code=card.code,  # None: a generated code, known to nobody
            expires_at=None,
            recipient=_recipient(card),
            metadata=metadata,
            activate=True,
            imported=True,
        )
        issued = await issue_card(conn, command, self.policy, self.origin, now)
        if not code_known and card.last_characters:
            # Staff find it by the last characters the platform shows (and the customer).
            await conn.execute(
                update(gift_cards)
                .where(gift_cards.c.id == issued.written.card.id)
                .values(code_last4=card.last_characters[-4:].upper())
            )
        return issued.written.card.id

    async def _ours_by_code(self, conn: AsyncConnection, card: PlatformCard) -> bool:
        """Is this platform card's code a ledger card this integration mirrors?"""
        if card.code is None:
            return False
        hashed = self.policy.vault.lookup_hash(codes.normalize(card.code))
        row = (
            await conn.execute(
                select(mirrors.c.id)
                .select_from(mirrors.join(gift_cards, gift_cards.c.id == mirrors.c.account_id))
                .where(
                    mirrors.c.integration_id == self.integration_id,
                    gift_cards.c.code_hash == hashed,
                )
            )
        ).first()
        return row is not None

    async def _creating(self, conn: AsyncConnection) -> bool:
        """Is any mirror of this integration being created right now?"""
        row = (
            await conn.execute(
                select(mirrors.c.id)
                .where(
                    mirrors.c.integration_id == self.integration_id,
                    mirrors.c.external_id.is_(None),
                    mirrors.c.wanted > mirrors.c.done,
                )
                .limit(1)
            )
        ).first()
        return row is not None

    async def _claim_reference(self, conn: AsyncConnection, reference: str) -> bool:
        """Write the reference first; False when it was applied before."""
        if (await conn.execute(self._reference_query(reference))).first():
            return False
        await conn.execute(
            external_references.insert().values(
                integration_id=self.integration_id, reference=reference, created_at=utcnow()
            )
        )
        return True

    async def _note_reference(
        self,
        conn: AsyncConnection,
        reference: str,
        account_id: str,
        activity_id: str | None,
        amount: int,
    ) -> None:
        await conn.execute(
            update(external_references)
            .where(
                external_references.c.integration_id == self.integration_id,
                external_references.c.reference == reference,
            )
            .values(account_id=account_id, activity_id=activity_id, amount=amount)
        )

    async def _seen(self, reference: str) -> bool:
        async with self.db.read() as conn:
            return (await conn.execute(self._reference_query(reference))).first() is not None

    def _reference_query(self, reference: str) -> Any:
        return select(external_references.c.reference).where(
            external_references.c.integration_id == self.integration_id,
            external_references.c.reference == reference,
        )


def _recipient(card: PlatformCard) -> dict[str, str] | None:
    """Who the platform says the card belongs to: whom a web store may e-mail about it."""
    known = {"email": card.customer_email, "name": card.customer_name}
    return {k: v for k, v in known.items() if v} or None
