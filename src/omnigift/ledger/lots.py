"""Value lots and the order in which a redemption spends them. Pure rules, no database.

Redemption spends the lot with the soonest expiry first, then promotional before refund before
paid, then the oldest first. A refund of a redemption gives value back to the lots it spent, in
the reverse order, so the last-spent (most durable) value comes back first.

A lot past its expiry is never spent by a plain redemption: the command lapses it first (see
``lapsing``), and ``plan_burn(..., at=now)`` skips what is left of it. Only the capture of a hold
spends such value, the part of it that was kept for open holds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum


class LotKind(StrEnum):
    PAID = "paid"
    PROMOTIONAL = "promotional"
    REFUND = "refund"


_KIND_RANK = {LotKind.PROMOTIONAL: 0, LotKind.REFUND: 1, LotKind.PAID: 2}
_NEVER = datetime.max.replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class Lot:
    """One portion of a card's balance with its own kind and expiry."""

    id: str
    kind: LotKind
    remaining: int
    expires_at: datetime | None
    created_at: datetime


Movement = tuple[str, int]  # (lot id, amount moved)


def burn_order(lots: list[Lot]) -> list[Lot]:
    """The lots in the order a redemption spends them."""

    def key(lot: Lot) -> tuple[datetime, int, datetime, str]:
        expiry = lot.expires_at.replace(tzinfo=None) if lot.expires_at else _NEVER
        return (expiry, _KIND_RANK[lot.kind], lot.created_at.replace(tzinfo=None), lot.id)

    return sorted(lots, key=key)


def is_due(lot: Lot, at: datetime) -> bool:
    """The lot is past its expiry at ``at`` (a lot expires at the instant ``expires_at``)."""
    return lot.expires_at is not None and lot.expires_at <= at


def plan_burn(lots: list[Lot], amount: int, *, at: datetime | None = None) -> list[Movement]:
    """How much to take from each lot to spend ``amount``. The caller has checked the balance.

    With ``at``, lots past their expiry at that moment are not spent at all (a plain redemption).
    Without it every lot may be spent, expired ones first as they expire soonest (a hold capture:
    the expired value still on the card is exactly what was kept back for open holds).
    """
    plan: list[Movement] = []
    left = amount
    for lot in burn_order(lots):
        if left == 0:
            break
        if at is not None and is_due(lot, at):
            continue
        take = min(lot.remaining, left)
        if take > 0:
            plan.append((lot.id, take))
            left -= take
    if left:
        raise ValueError(f"lots hold {amount - left} less than the {amount} to spend")
    return plan


def after_movements(lots: list[Lot], movements: list[Movement]) -> list[Lot]:
    """The lots still holding value once the (signed) movements are applied."""
    moved: dict[str, int] = {}
    for lot_id, amount in movements:
        moved[lot_id] = moved.get(lot_id, 0) + amount
    after = [replace(lot, remaining=lot.remaining + moved.get(lot.id, 0)) for lot in lots]
    return [lot for lot in after if lot.remaining > 0]


def plan_restore(
    spent: list[Movement], already_restored: list[Movement], amount: int
) -> list[Movement]:
    """Which lots a refund of ``amount`` gives back to, given what a redemption spent from each
    and what earlier refunds of it already restored. The caller has checked the amount."""
    outstanding: dict[str, int] = {}
    for lot_id, moved in spent:
        outstanding[lot_id] = outstanding.get(lot_id, 0) + moved
    for lot_id, moved in already_restored:
        outstanding[lot_id] = outstanding.get(lot_id, 0) - moved
    plan: list[Movement] = []
    left = amount
    for lot_id, _ in reversed(spent):
        give = min(outstanding[lot_id], left)
        if give > 0:
            plan.append((lot_id, give))
            outstanding[lot_id] -= give
            left -= give
    if left:
        raise ValueError("refund exceeds what the redemption spent")
    return plan
