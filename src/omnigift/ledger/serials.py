"""Attaching a code to a card whose code nobody knows.

A card imported from a platform that reveals only the last characters of its codes (Shopify)
enters the ledger with ``metadata.code_known: false``. Staff may give it a physical serial, once:
from then on the serial finds it at the till. A known code never changes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift import codes
from omnigift.ledger.errors import CodeTaken, InvalidCodeError, InvalidState
from omnigift.ledger.policy import LedgerPolicy
from omnigift.ledger.records import CardRecord, lock_card, update_card


async def attach_code(
    conn: AsyncConnection, card_id: str, raw: str, policy: LedgerPolicy, now: datetime
) -> CardRecord:
    """Give a code-unknown card this serial; the same serial again is a no-op."""
    card = await lock_card(conn, card_id)
    code = codes.normalize(raw)
    try:
        policy.codes.validate_imported(code)
    except codes.InvalidCode as exc:
        raise InvalidCodeError(str(exc), field="code") from None
    code_hash = policy.vault.lookup_hash(code)
    if card.metadata.get("code_known", True):
        if (
            card.metadata.get("serial_attached_at")
            and policy.vault.unseal(card.code_sealed) == code
        ):
            return card  # this serial was attached before: nothing to do
        raise InvalidState("this card's code is known, and a known code never changes")
    metadata = {**card.metadata, "code_known": True, "serial_attached_at": now.isoformat()}
    try:
        return await update_card(
            conn,
            card,
            {
                "code_hash": code_hash,
                "code_sealed": policy.vault.seal(code),
                "code_last4": code[-4:],
                "metadata": metadata,
            },
            now,
        )
    except IntegrityError:
        raise CodeTaken("a card with this code already exists", field="code") from None
