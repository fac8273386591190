"""Opaque, time-ordered identifiers with a type prefix (``gc_``, ``act_``, ``hold_`` ...)."""

from __future__ import annotations

from ulid import ULID


def new_id(prefix: str) -> str:
    """A new ULID-based id such as ``gc_01JD3...``; ids of one type sort by creation time."""
    return f"{prefix}_{ULID()}"
