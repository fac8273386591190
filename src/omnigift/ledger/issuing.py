"""Issuing a gift card: a new account, its sealed code, and (with a value) its first lot."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift import codes
from omnigift.db.tables import accounts, gift_cards
from omnigift.ids import new_id
from omnigift.ledger.cards import ActivityType, CardState, CardType, check_lot_expiry
from omnigift.ledger.errors import CodeTaken, InvalidCodeError, InvalidRequest
from omnigift.ledger.lots import LotKind
from omnigift.ledger.origin import Origin
from omnigift.ledger.policy import LedgerPolicy
from omnigift.ledger.postings import SOURCE_OF_LOT, credit_card
from omnigift.ledger.records import (
    CardRecord,
    Change,
    NewLot,
    Written,
    ensure_system_accounts,
    write_activity,
)
from omnigift.money import is_known_currency


@dataclass(frozen=True, slots=True)
class LotSpec:
    """The kind and expiry of value being added (default: paid, never expires)."""

    kind: LotKind = LotKind.PAID
    expires_at: datetime | None = None


@dataclass(frozen=True)
class IssueCard:
    """A request to issue one card."""

    type: CardType
    currency: str
    initial_value: int | None = None
    initial_lot: LotSpec = field(default_factory=LotSpec)
    code: str | None = None
    pin: str | None = None
    expires_at: datetime | None = None
    customer_id: str | None = None
    recipient: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    activate: bool | None = None
    imported: bool = False  # historical import: the first activity is ``import``


@dataclass(frozen=True, slots=True)
class Issued:
    written: Written
    code: str  # the plain code, for the one response that may show it


def check_issue(command: IssueCard, policy: LedgerPolicy, now: datetime) -> None:
    """Refuse an issue request that breaks a rule, before anything is written."""
    if not is_known_currency(command.currency):
        raise InvalidRequest(f"unknown currency {command.currency}", field="currency")
    if command.initial_value is not None and command.initial_value <= 0:
        raise InvalidRequest("initial_value must be positive", field="initial_value.amount")
    if command.pin is not None and not (command.pin.isdigit() and 4 <= len(command.pin) <= 8):
        raise InvalidRequest("a PIN is 4 to 8 digits", field="pin")
    check_lot_expiry(
        command.initial_lot.kind, command.initial_lot.expires_at, now, policy.min_paid_expiry
    )
    # The card's own expiry ends all of its value, so it obeys the rule for paid value unless
    # the card starts with promotional value only.
    card_kind = (
        LotKind.PAID
        if command.initial_lot.kind is not LotKind.PROMOTIONAL
        else (LotKind.PROMOTIONAL)
    )
    check_lot_expiry(card_kind, command.expires_at, now, policy.min_paid_expiry)


def choose_code(command: IssueCard, policy: LedgerPolicy) -> str:
    """The given code (normalized and checked) or a freshly generated one."""
    if command.code is None:
        return policy.codes.generate()
    code = codes.normalize(command.code)
    try:
        policy.codes.validate_imported(code)
    except codes.InvalidCode as exc:
        raise InvalidCodeError(str(exc), field="code") from None
    return code


async def issue_card(
    conn: AsyncConnection, command: IssueCard, policy: LedgerPolicy, origin: Origin, now: datetime
) -> Issued:
    """Issue a card: active with its value, or pending with none. The code is returned once."""
    check_issue(command, policy, now)
    code = choose_code(command, policy)
    activate = (
        command.activate if command.activate is not None else (command.initial_value is not None)
    )
    card = CardRecord(
        id=new_id("gc"),
        type=command.type.value,
        state=CardState.ACTIVE if activate else CardState.PENDING,
        currency=command.currency,
        balance=0,
        held=0,
        version=0,
        expires_at=command.expires_at,
        code_last4=code[-4:],
        code_sealed=policy.vault.seal(code),
        pin_hash=codes.hash_pin(command.pin) if command.pin else None,
        pin_failures=0,
        pin_failures_since=None,
        initial_value=command.initial_value,
        customer_id=command.customer_id,
        recipient=command.recipient,
        issued_channel=origin.channel,
        issued_integration_id=origin.integration_id,
        issued_location_id=origin.location_id,
        metadata=command.metadata,
        created_at=now,
        updated_at=now,
    )
    await ensure_system_accounts(conn, command.currency, now)
    await insert_card(conn, card, policy.vault.lookup_hash(code))
    written = await write_activity(conn, first_activity(card, command, origin), now)
    return Issued(written=written, code=code)


def first_activity(card: CardRecord, command: IssueCard, origin: Origin) -> Change:
    """The activity that opens a card's history: ``issue`` (or ``import``), with its value."""
    kind = ActivityType.IMPORT if command.imported else ActivityType.ISSUE
    change = Change(card=card, type=kind, origin=origin, created=True)
    value = command.initial_value
    if value and card.state is CardState.ACTIVE:
        lot = command.initial_lot
        change.amount = value
        change.new_lot = NewLot(lot.kind, value, lot.expires_at)
        change.postings = credit_card(card.id, card.currency, value, SOURCE_OF_LOT[lot.kind])
    return change


async def insert_card(conn: AsyncConnection, card: CardRecord, code_hash: str) -> None:
    """Insert the account and card rows; a code already in use is refused."""
    await conn.execute(
        accounts.insert().values(
            id=card.id,
            kind="gift_card",
            currency=card.currency,
            balance=0,
            held=0,
            version=0,
            created_at=card.created_at,
            updated_at=card.updated_at,
        )
    )
    try:
        await conn.execute(
            gift_cards.insert().values(
                id=card.id,
                type=card.type,
                state=card.state.value,
                currency=card.currency,
                code_hash=code_hash,
                code_sealed=card.code_sealed,
                code_last4=card.code_last4,
                pin_hash=card.pin_hash,
                initial_value=card.initial_value,
                expires_at=card.expires_at,
                customer_id=card.customer_id,
                recipient=card.recipient,
                recipient_email=_email_of(card.recipient),
                issued_channel=card.issued_channel,
                issued_integration_id=card.issued_integration_id,
                issued_location_id=card.issued_location_id,
                metadata=card.metadata,
                created_at=card.created_at,
            )
        )
    except IntegrityError as exc:
        if "code_hash" in str(exc.orig) or "uq_gift_cards_code_hash" in str(exc.orig):
            raise CodeTaken("a card with this code already exists", field="code") from None
        raise


def _email_of(recipient: dict[str, Any] | None) -> str | None:
    email = (recipient or {}).get("email")
    return str(email).strip().lower() if email else None
