"""Opaque, time-ordered identifiers with a type prefix (``gc_``, ``act_``, ``hold_`` ...).

ULIDs, made monotonic within this process: two ids made in the same millisecond still sort in the
order they were made, so the events one transaction writes keep their order.
"""

from __future__ import annotations

import os
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_last_random = 0
_RANDOM_MAX = (1 << 80) - 1
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # the base32 alphabet ULIDs are written in
# Two digits (10 bits) per lookup: every id a request makes is encoded, so this is kept fast.
CROCKFORD_PAIRS = [high + low for high in CROCKFORD for low in CROCKFORD]


def _next_ulid() -> str:
    global _last_ms, _last_random
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms > _last_ms:
            _last_ms, _last_random = now_ms, int.from_bytes(os.urandom(10), "big") >> 1
        elif _last_random < _RANDOM_MAX:
            _last_random += 1
        else:  # 2^79 ids in one millisecond: borrow the next one
            _last_ms, _last_random = _last_ms + 1, 0
        return ulid_text(_last_ms << 80 | _last_random)


def crockford(value: int, digits: int) -> str:
    """``value`` as ``digits`` (even) Crockford base32 digits, most significant first."""
    pairs = CROCKFORD_PAIRS
    return "".join(pairs[value >> shift & 1023] for shift in range(5 * digits - 10, -1, -10))


def ulid_text(value: int) -> str:
    """The 26 characters of a 128-bit ULID (130 bits of digits, the top two zero)."""
    return crockford(value, 26)


def new_id(prefix: str) -> str:
    """A new ULID-based id such as ``gc_01JD3...``; ids of one type sort by creation time."""
    return f"{prefix}_{_next_ulid()}"
