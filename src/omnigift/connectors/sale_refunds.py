"""Which units of our gift card product an order's refunds gave back.

A web store refunds order lines by quantity; the ledger issued one card per unit. Units are given
back in order (the first refund of a line takes its first units), so a refund read again, or
with later refunds beside it, always names the same units.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from omnigift.connectors.base import PlatformSaleRefund


@dataclass(frozen=True, slots=True)
class LineGivenBack:
    """One refund giving back ``quantity`` units of an order line."""

    refund_id: str
    line_id: str
    quantity: int


def units_given_back(
    given_back: Iterable[LineGivenBack],
    sale_reference: Callable[[str, int], str],
    order: dict[str, Any],
) -> list[PlatformSaleRefund]:
    """Each unit refunded, earliest refund first; ``given_back`` is in the platform's refund
    order and ``sale_reference(line_id, unit)`` names the sale that issued the unit's card."""
    returned: dict[str, int] = {}
    undone = []
    for item in given_back:
        first = returned.get(item.line_id, 0)
        returned[item.line_id] = first + item.quantity
        undone += [
            PlatformSaleRefund(
                sale_reference=sale_reference(item.line_id, unit),
                reference=f"refund:{item.refund_id}:{item.line_id}:{unit}",
                order=order,
            )
            for unit in range(first, returned[item.line_id])
        ]
    return undone
