"""The Event object of the API, webhooks and the live stream."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omnigift.clock import rfc3339


def event_view(row: Mapping[Any, Any]) -> dict[str, Any]:
    """``{"id", "type", "created_at", "sequence", "data"}``: ``sequence`` counts per card."""
    return {
        "id": row["id"],
        "type": row["type"],
        "created_at": rfc3339(row["created_at"]),
        "sequence": row["sequence"],
        "data": row["data"],
    }
