"""Gift card rules (integrations.md 1.2, 1.3, 1.7): code format, limits, one-way deactivation,
credit and debit. Plain functions over the Store; they return the record or a list of user
errors, and never emit webhooks (the callers do)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from .state import CardTransaction, GiftCard, Store

CODE_PATTERN = re.compile(r"^[a-z0-9]+$")


@dataclass(frozen=True)
class UserError:
    """One entry of a mutation's ``userErrors``: business errors are HTTP 200, not exceptions."""

    code: str
    field: list[str] | None
    message: str


def normalise_code(raw: str) -> str:
    """Shopify strips whitespace and lower-cases codes: ``"ABCD EFGH"`` → ``"abcdefgh"`` [C]."""
    return "".join(raw.split()).lower()


def check_code(store: Store, code: str, field: list[str]) -> UserError | None:
    """8-20 characters a-z0-9, unique regardless of case [C]."""
    if len(code) < 8:
        return UserError("TOO_SHORT", field, "Code is too short (minimum is 8 characters)")
    if len(code) > 20:
        return UserError("TOO_LONG", field, "Code is too long (maximum is 20 characters)")
    if not CODE_PATTERN.match(code):
        return UserError("INVALID", field, "Code can only contain letters(a-z) and numbers(0-9)")
    if store.card_by_code(code) is not None:
        return UserError("TAKEN", field, "Code has already been taken")
    return None


def _limit(store: Store) -> Decimal:
    return Decimal(store.config.issue_limit)


def _cents_only(amount: Decimal) -> bool:
    # Unconfirmed: Shopify's answer to sub-cent amounts is not documented; we refuse them.
    return amount == amount.quantize(Decimal("0.01"))


def create_card(
    store: Store,
    *,
    initial_value: Decimal,
    code: str | None = None,
    customer_id: int | None = None,
    expires_on: date | None = None,
    note: str | None = None,
    template_suffix: str | None = None,
    order_id: int | None = None,
    line_item_id: int | None = None,
    api_client_id: int | None = None,
    user_id: int | None = None,
    enforce_limit: bool = True,
    field_prefix: tuple[str, ...] = ("input",),
) -> GiftCard | list[UserError]:
    """Issue a card, generating a 16-character code when none is given [C]."""
    prefix = list(field_prefix)
    errors: list[UserError] = []
    normalised = None
    if code is not None:
        normalised = normalise_code(code)
        error = check_code(store, normalised, [*prefix, "code"])
        if error:
            errors.append(error)
    if initial_value < 0 or not _cents_only(initial_value):
        errors.append(UserError("INVALID", [*prefix, "initialValue"], "Initial value is invalid"))
    elif enforce_limit and initial_value > _limit(store):
        # Since 2024-05-15 an issued card may hold at most $2,000 or equivalent (giftcard-apis 2.5).
        errors.append(
            UserError(
                "GIFT_CARD_LIMIT_EXCEEDED",
                [*prefix, "initialValue"],
                f"Initial value must be less than or equal to {store.config.issue_limit}",
            )
        )
    if customer_id is not None and customer_id not in store.customers:
        errors.append(
            UserError("CUSTOMER_NOT_FOUND", [*prefix, "customerId"], "Customer could not be found")
        )
    if errors:
        return errors
    now = store.clock.now()
    card = GiftCard(
        id=store.next_id("card"),
        code=normalised or store.new_code(),
        initial_value=initial_value,
        balance=initial_value,
        currency=store.config.currency,
        created_at=now,
        updated_at=now,
        expires_on=expires_on,
        note=note,
        template_suffix=template_suffix,
        customer_id=customer_id,
        order_id=order_id,
        line_item_id=line_item_id,
        api_client_id=api_client_id,
        user_id=user_id,
    )
    store.cards[card.id] = card
    return card


def update_card(
    store: Store, card_id: int, changes: dict[str, object]
) -> GiftCard | list[UserError]:
    """Change customer, expiry, note or template; the balance is never writable [C]."""
    card = store.cards.get(card_id)
    if card is None:
        return [UserError("GIFT_CARD_NOT_FOUND", ["id"], "Gift card not found")]
    if "customer_id" in changes:
        customer_id = changes["customer_id"]
        if customer_id is not None and customer_id not in store.customers:
            return [UserError("CUSTOMER_NOT_FOUND", ["input", "customerId"], "Customer not found")]
        card.customer_id = customer_id if isinstance(customer_id, int) else None
    if "expires_on" in changes:
        value = changes["expires_on"]
        card.expires_on = value if isinstance(value, date) else None
    if "note" in changes:
        card.note = changes["note"] if isinstance(changes["note"], str) else None
    if "template_suffix" in changes:
        suffix = changes["template_suffix"]
        card.template_suffix = suffix if isinstance(suffix, str) else None
    card.updated_at = store.clock.now()
    return card


def deactivate_card(store: Store, card_id: int) -> GiftCard | list[UserError]:
    """Deactivation is one-way; deactivating twice leaves the first timestamp [C]."""
    card = store.cards.get(card_id)
    if card is None:
        return [UserError("GIFT_CARD_NOT_FOUND", ["id"], "Gift card not found")]
    if card.disabled_at is None:
        card.disabled_at = store.clock.now()
        card.updated_at = card.disabled_at
    return card


def _record(
    store: Store,
    card: GiftCard,
    kind: Literal["credit", "debit"],
    signed: Decimal,
    note: str | None,
    processed_at: datetime | None,
) -> CardTransaction:
    now = store.clock.now()
    txn = CardTransaction(
        id=store.next_id("card_txn"),
        kind=kind,
        amount=signed,
        currency=card.currency,
        note=note,
        processed_at=processed_at or now,
        created_at=now,
        gift_card_id=card.id,
    )
    card.balance += signed
    card.updated_at = now
    card.transactions.append(txn)
    return txn


def adjust(
    store: Store,
    card_id: int,
    kind: Literal["credit", "debit"],
    amount: Decimal,
    currency: str,
    note: str | None = None,
    processed_at: datetime | None = None,
    enforce_limit: bool = True,
) -> CardTransaction | list[UserError]:
    """giftCardCredit / giftCardDebit. Not idempotent: every call that passes makes a transaction.

    Debit amounts are stored and shown negative (unconfirmed: Shopify's docs example is read that
    way; the connector should compare absolute values).
    """
    field = ["creditInput" if kind == "credit" else "debitInput"]
    money_field = [*field, "creditAmount" if kind == "credit" else "debitAmount"]
    card = store.cards.get(card_id)
    if card is None:
        return [UserError("GIFT_CARD_NOT_FOUND", ["id"], "The gift card could not be found.")]
    if amount <= 0:
        return [
            UserError(
                "NEGATIVE_OR_ZERO_AMOUNT", [*money_field, "amount"], "The amount must be positive."
            )
        ]
    if not _cents_only(amount):
        return [UserError("INVALID", [*money_field, "amount"], "The amount is invalid.")]
    if currency != card.currency:
        return [
            UserError(
                "MISMATCHING_CURRENCY",
                [*money_field, "currencyCode"],
                "The currency provided does not match the currency of the gift card.",
            )
        ]
    if not card.enabled:
        return [UserError("INVALID", ["id"], "The gift card is deactivated.")]
    if card.expired(store.clock.today()):
        return [UserError("INVALID", ["id"], "The gift card is expired.")]
    if kind == "debit" and amount > card.balance:
        return [
            UserError(
                "INSUFFICIENT_FUNDS",
                [*money_field, "amount"],
                "The gift card does not have sufficient funds to satisfy the request.",
            )
        ]
    if kind == "credit" and enforce_limit and card.balance + amount > _limit(store):
        # Unconfirmed: the code exists for transactions; the exact trigger is our reading.
        return [
            UserError(
                "GIFT_CARD_LIMIT_EXCEEDED",
                [*money_field, "amount"],
                "The gift card's value exceeds the allowed limits.",
            )
        ]
    signed = amount if kind == "credit" else -amount
    return _record(store, card, kind, signed, note, processed_at)


def spend_at_checkout(store: Store, card: GiftCard, amount: Decimal) -> CardTransaction:
    """A checkout redemption: a debit with no note, already checked by the checkout."""
    return _record(store, card, "debit", -amount, None, None)


def refund_to_card(store: Store, card: GiftCard, amount: Decimal) -> CardTransaction:
    """A refund back to the card that paid: a credit, allowed past the issue limit."""
    return _record(store, card, "credit", amount, None, None)
