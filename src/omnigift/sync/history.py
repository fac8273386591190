"""Historical sync, both ways: every platform card into the ledger (import), every ledger card
out to the platform (export). Each reports the cards whose codes the other side can't take,
never changing a code to make it fit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from omnigift import codes
from omnigift.clock import utcnow
from omnigift.connectors.base import CardRefused, Connector, PlatformCard
from omnigift.connectors.registry import Platform
from omnigift.db.engine import Database
from omnigift.db.tables import gift_cards
from omnigift.ledger.policy import LedgerPolicy
from omnigift.sync import mirrors
from omnigift.sync.ingest import LedgerSink

EXPORT_BATCH = 1000
Progress = Callable[[int], Awaitable[None]]


async def import_cards(
    connector: Connector, sink: LedgerSink, ledger: LedgerPolicy, progress: Progress
) -> dict[str, Any]:
    """Every platform card into the ledger, once; the ones the ledger can't take are reported."""
    imported, existing, seen = 0, 0, 0
    refused: list[dict[str, str]] = []
    cursor: str | None = None
    while True:
        cards, cursor = await connector.list_cards(cursor)
        for card in cards:
            reason = _refusal(card, ledger)
            if reason is None:
                try:
                    if await sink.native_card(card):
                        imported += 1
                    else:
                        existing += 1
                    continue
                except CardRefused as exc:
                    reason = str(exc)
            refused.append({"external_id": card.external_id, "reason": reason})
        seen += len(cards)
        await progress(seen)
        if cursor is None:
            break
    return {"seen": seen, "imported": imported, "already_in_ledger": existing, "refused": refused}


def _refusal(card: PlatformCard, ledger: LedgerPolicy) -> str | None:
    if card.code is None:
        return None  # imported with code_known false
    try:
        ledger.codes.validate_imported(codes.normalize(card.code))
    except codes.InvalidCode as exc:
        return f"code {codes.mask(card.code[-4:])}: {exc}"
    return None


async def export_cards(
    db: Database,
    ledger: LedgerPolicy,
    platform: Platform,
    integration_id: str,
    progress: Progress,
) -> dict[str, Any]:
    """Queue every live ledger card for mirroring; list the codes the platform can't take."""
    queued, after = 0, ""
    refused: list[dict[str, str]] = []
    while True:
        async with db.read() as conn:
            batch = (
                await conn.execute(
                    select(gift_cards.c.id, gift_cards.c.code_sealed, gift_cards.c.code_last4)
                    .where(gift_cards.c.id > after, gift_cards.c.state.in_(("active", "frozen")))
                    .order_by(gift_cards.c.id)
                    .limit(EXPORT_BATCH)
                )
            ).all()
        if not batch:
            return {"queued": queued, "refused": refused}
        fine = set()
        for row in batch:
            length = len(ledger.vault.unseal(row.code_sealed))
            if platform.min_code_length <= length <= platform.max_code_length:
                fine.add(row.id)
            else:
                refused.append(
                    {
                        "gift_card_id": row.id,
                        "reason": f"code {codes.mask(row.code_last4)} has {length} characters; "
                        f"{platform.name} takes {platform.min_code_length} to "
                        f"{platform.max_code_length}",
                    }
                )
        await mirrors.want_all(db, integration_id, fine, utcnow())
        queued += len(fine)
        after = batch[-1].id
        await progress(queued + len(refused))
