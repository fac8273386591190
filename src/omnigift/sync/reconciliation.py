"""Reconciliation: compare every mirror with the ledger, list drift, repair it safely.

Drift is a difference in balance, state or expiry between what the platform holds and what the
ledger says the mirror must be. A mirror with work still queued is counted as ``pending``, not
drift: it is on its way. Repair never writes the platform directly: it first catches up on the
platform's orders (so an unrecorded checkout spend is taken in, not undone), re-reads the mirror,
re-bases what we know it holds, and queues the mirror for the ordinary push.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from omnigift.connectors.base import CardTarget, Connector, PlatformCard
from omnigift.db.engine import Database
from omnigift.db.tables import mirrors
from omnigift.ledger.policy import LedgerPolicy
from omnigift.ledger.records import find_card
from omnigift.sync.mirrors import target_of, want_all


@dataclass(frozen=True, slots=True)
class Drift:
    gift_card_id: str
    external_id: str | None
    field: str  # balance | state | expiry | missing
    ledger: Any
    platform: Any

    def as_dict(self) -> dict[str, Any]:
        return {
            "gift_card_id": self.gift_card_id,
            "external_id": self.external_id,
            "field": self.field,
            "ledger": self.ledger,
            "platform": self.platform,
        }


@dataclass
class Comparison:
    checked: int = 0
    pending: int = 0
    drift: list[Drift] = field(default_factory=list)
    # mirror id -> (what we know it holds, what the platform holds): for re-basing on repair
    observed: dict[str, tuple[int | None, int]] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        drift = self.drift
        return {
            "checked": self.checked,
            "pending": self.pending,
            "drift_count": len(drift),
            "drift": [d.as_dict() for d in drift],
        }


async def compare(
    db: Database, connector: Connector, integration_id: str, ledger: LedgerPolicy
) -> Comparison:
    """Read every mirror of the integration from the platform and compare it with the ledger."""
    async with db.read() as conn:
        rows = (
            await conn.execute(
                select(mirrors).where(
                    mirrors.c.integration_id == integration_id, mirrors.c.status != "blocked"
                )
            )
        ).all()
    result = Comparison()
    for row in rows:
        if row.wanted > row.done or row.pending_write:
            result.pending += 1
            continue
        async with db.read() as conn:
            card = await find_card(conn, row.account_id)
        if card is None:
            continue
        target = target_of(card, "")
        result.checked += 1
        if target is None:
            continue
        if row.external_id is None:
            if target.state == "active" and target.balance > 0:
                result.drift.append(Drift(card.id, None, "missing", target.balance, None))
            continue
        platform = await connector.read(row.external_id)
        if platform is None:
            result.drift.append(Drift(card.id, row.external_id, "missing", target.balance, None))
            continue
        result.observed[row.id] = (row.known_balance, platform.balance)
        result.drift.extend(differences(target, platform))
    return result


def differences(target: CardTarget, platform: PlatformCard) -> list[Drift]:
    """How a mirror differs from what it must be."""
    found = []
    if platform.balance != target.balance:
        found.append(
            Drift(
                target.account_id, platform.external_id, "balance", target.balance, platform.balance
            )
        )
    if target.state == "deactivated" and platform.enabled:
        found.append(
            Drift(target.account_id, platform.external_id, "state", "deactivated", "enabled")
        )
    if target.state == "active" and not platform.enabled:
        found.append(Drift(target.account_id, platform.external_id, "state", "active", "disabled"))
    if target.state != "deactivated" and platform.expires_on != target.expires_on:
        found.append(
            Drift(
                target.account_id,
                platform.external_id,
                "expiry",
                target.expires_on.isoformat() if target.expires_on else None,
                platform.expires_on.isoformat() if platform.expires_on else None,
            )
        )
    return found


async def repair(db: Database, integration_id: str, comparison: Comparison, now: datetime) -> int:
    """Queue every drifted mirror for the ordinary push, having re-based what we know it holds on
    what the platform holds (only if nothing moved it since it was read). Call it after catching
    up on the platform's orders. How many mirrors it queued."""
    drifted = {d.gift_card_id for d in comparison.drift}
    if not drifted:
        return 0
    async with db.transaction() as conn:
        rows = (
            await conn.execute(
                select(mirrors.c.id, mirrors.c.account_id).where(
                    mirrors.c.integration_id == integration_id,
                    mirrors.c.account_id.in_(drifted),
                )
            )
        ).all()
        for row in rows:
            seen = comparison.observed.get(row.id)
            if seen is None:
                continue
            known, on_platform = seen
            await conn.execute(
                update(mirrors)
                .where(mirrors.c.id == row.id, mirrors.c.known_balance == known)
                .values(known_balance=on_platform, status="ok", attempts=0)
            )
    await want_all(db, integration_id, drifted, now)
    return len(drifted)
