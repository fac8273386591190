"""Opaque, time-ordered identifiers with a type prefix (``gc_``, ``act_``, ``hold_`` ...).

ULIDs, made monotonic within this process: two ids made in the same millisecond still sort in the
order they were made, so the events one transaction writes keep their order.
"""

from __future__ import annotations

import base64
import os
import threading
import time

_lock = threading.Lock()
_last_ms = 0
_last_random = 0
_RANDOM_MAX = (1 << 80) - 1
# RFC 4648 base32 to the Crockford alphabet ULIDs are written in, letter for letter.
_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)


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


def ulid_text(value: int) -> str:
    """The 26 characters of a 128-bit ULID. Every id a request makes goes through here, so it
    runs in C: 160 bits encode to 32 base32 characters, the first 6 of them the 30 zero bits
    above the ULID's 130 (two leading zero bits, then its 128)."""
    return base64.b32encode(value.to_bytes(20, "big"))[6:].translate(_CROCKFORD).decode()


def new_id(prefix: str) -> str:
    """A new ULID-based id such as ``gc_01JD3...``; ids of one type sort by creation time."""
    return f"{prefix}_{_next_ulid()}"
