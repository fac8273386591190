"""The JSON shapes of cards, activities and holds, shared by the API and event payloads.

Codes appear only when the caller passes the plain code (the response that created the card, or a
caller with ``cards:reveal``); event payloads never carry one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from omnigift.clock import rfc3339
from omnigift.codes import format_code, mask
from omnigift.ledger.lots import Lot
from omnigift.ledger.wallets import is_wallet_id

if TYPE_CHECKING:  # records imports this module to build event payloads
    from omnigift.ledger.records import CardRecord


def money(amount: int | None, currency: str) -> dict[str, Any] | None:
    return None if amount is None else {"amount": amount, "currency": currency}


def card_view(
    card: CardRecord, *, lots: list[Lot] | None = None, code: str | None = None
) -> dict[str, Any]:
    """The GiftCard object of API.md."""
    view: dict[str, Any] = {
        "id": card.id,
        "type": card.type,
        "state": card.state.value,
        "code_last4": card.code_last4,
        "masked_code": mask(card.code_last4),
    }
    if code is not None:
        view["code"] = format_code(code)
    view.update(
        {
            "balance": money(card.balance, card.currency),
            "available": money(card.balance - card.held, card.currency),
            "initial_value": money(card.initial_value, card.currency),
            "currency": card.currency,
            "expires_at": rfc3339(card.expires_at),
            "customer_id": card.customer_id,
            "recipient": card.recipient,
            "issued_via": {
                "channel": card.issued_channel,
                "integration_id": card.issued_integration_id,
                "location_id": card.issued_location_id,
            },
            "pin_required": card.pin_hash is not None,
            "metadata": card.metadata,
            "created_at": rfc3339(card.created_at),
            "updated_at": rfc3339(card.updated_at),
            "version": card.version,
        }
    )
    if lots is not None:
        view["lots"] = _lots(lots, card.currency)
    return view


def wallet_view(wallet: CardRecord, *, lots: list[Lot] | None = None) -> dict[str, Any]:
    """The StoreCredit object: a customer's wallet in one currency."""
    view: dict[str, Any] = {
        "id": wallet.id,
        "customer_id": wallet.customer_id,
        "currency": wallet.currency,
        "balance": money(wallet.balance, wallet.currency),
        "available": money(wallet.balance - wallet.held, wallet.currency),
        "created_at": rfc3339(wallet.created_at),
        "updated_at": rfc3339(wallet.updated_at),
        "version": wallet.version,
    }
    if lots is not None:
        view["lots"] = _lots(lots, wallet.currency)
    return view


def _lots(lots: list[Lot], currency: str) -> list[dict[str, Any]]:
    return [
        {
            "id": lot.id,
            "kind": lot.kind.value,
            "remaining": money(lot.remaining, currency),
            "expires_at": rfc3339(lot.expires_at),
        }
        for lot in lots
        if lot.remaining > 0
    ]


def owner(account_id: str) -> dict[str, str]:
    """``{"gift_card_id": id}`` or, for a store credit wallet, ``{"store_credit_id": id}``."""
    return {"store_credit_id" if is_wallet_id(account_id) else "gift_card_id": account_id}


def activity_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The Activity object of API.md, from an ``activities`` row."""
    currency = row["currency"]
    return {
        "id": row["id"],
        **owner(row["account_id"]),
        "type": row["type"],
        "amount": money(row["amount"], currency),
        "balance_after": money(row["balance_after"], currency),
        "state_after": row["state_after"],
        "reference": row["reference"],
        "reason": row["reason"],
        "metadata": row["metadata"] or {},
        "redeem_activity_id": row["redeem_activity_id"],
        "hold_id": row["hold_id"],
        "origin": {
            "channel": row["channel"],
            "integration_id": row["integration_id"],
            "location_id": row["location_id"],
            "api_key_id": row["api_key_id"],
            "staff_user_id": row["staff_user_id"],
        },
        "created_at": rfc3339(row["created_at"]),
    }


def hold_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The Hold object of API.md, from a ``holds`` row."""
    currency = row["currency"]
    return {
        "id": row["id"],
        **owner(row["account_id"]),
        "state": row["state"],
        "amount": money(row["amount"], currency),
        "captured_amount": money(row["captured_amount"], currency),
        "capture_activity_id": row["capture_activity_id"],
        "reference": row["reference"],
        "origin": {
            "channel": row["channel"],
            "location_id": row["location_id"],
            "api_key_id": row["api_key_id"],
        },
        "expires_at": rfc3339(row["expires_at"]),
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }
