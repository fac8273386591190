"""Opaque, time-ordered identifiers with a type prefix (``gc_``, ``act_``, ``hold_`` ...).

ULIDs, made monotonic within this process: two ids made in the same millisecond still sort in the
order they were made, so the events one transaction writes keep their order.
"""

from __future__ import annotations

import os
import threading
import time

from ulid import ULID

_lock = threading.Lock()
_last_ms = 0
_last_random = 0
_RANDOM_MAX = (1 << 80) - 1


def _next_ulid() -> ULID:
    global _last_ms, _last_random
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms, _last_random = now_ms, int.from_bytes(os.urandom(10), "big") >> 1
        elif _last_random < _RANDOM_MAX:
            _last_random += 1
        else:  # 2^79 ids in one millisecond: borrow the next one
            _last_ms, _last_random = _last_ms + 1, 0
        return ULID.from_bytes(_last_ms.to_bytes(6, "big") + _last_random.to_bytes(10, "big"))


def new_id(prefix: str) -> str:
    """A new ULID-based id such as ``gc_01JD3...``; ids of one type sort by creation time."""
    return f"{prefix}_{_next_ulid()}"
