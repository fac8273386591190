"""Deterministic faults queued through the control plane, consumed by the next vendor calls.

Kinds (integrations.md section 0 and 2.5):
- ``status``: answer ``status`` (500, 503 maintenance, 507 plan limit) without doing anything;
- ``ambiguous``: do the work, then (after ``seconds``) answer 503 — the caller cannot tell;
- ``quota``: answer 429 with the ``X-Rate-Limit-*`` headers (``Requests-Left: 0``);
- ``overload``: answer 429 without those headers — platform overload, back off longer [C];
- ``latency``: wait ``seconds``, then answer normally;
- ``down``: every vendor route answers 503 for ``seconds`` (maintenance).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

TARGETS = ("v2", "v3", "all")
KINDS = ("status", "ambiguous", "quota", "overload", "latency", "down")
STATUSES = (500, 502, 503, 507)


class FaultError(ValueError):
    """A fault request that cannot be queued."""


@dataclass
class Fault:
    """One queued fault; ``count`` calls left, or until ``until`` (monotonic) for ``down``."""

    target: str
    kind: str
    count: int
    status: int
    seconds: float
    until: float = 0.0

    def applies(self, api: str, now: float) -> bool:
        """Whether this fault hits a call to the ``api`` family (``v2`` or ``v3``) now."""
        if self.target not in (api, "all"):
            return False
        if self.kind == "down":
            return now < self.until
        return self.count > 0

    def live(self, now: float) -> bool:
        """Whether the fault still has calls (or time) left."""
        return now < self.until if self.kind == "down" else self.count > 0

    def public(self) -> dict[str, Any]:
        """The fault as the control plane lists it."""
        shown = asdict(self)
        shown.pop("until")
        if self.kind == "down":
            shown["remaining_seconds"] = max(0.0, round(self.until - time.monotonic(), 3))
        return shown


def parse(body: dict[str, Any]) -> Fault:
    """Read a ``POST /__sim/faults`` body."""
    target = body.get("target", "all")
    kind = body.get("kind")
    if target not in TARGETS:
        raise FaultError(f"target must be one of {TARGETS}")
    if kind not in KINDS:
        raise FaultError(f"kind must be one of {KINDS}")
    count = body.get("count", 1)
    status = body.get("status", 503 if kind in ("ambiguous", "down") else 500)
    seconds = body.get("seconds", 0.0)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise FaultError("count must be a positive integer")
    if status not in STATUSES:
        raise FaultError(f"status must be one of {STATUSES}")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise FaultError("seconds must be a non-negative number")
    if kind in ("latency", "down") and seconds <= 0:
        raise FaultError(f"{kind} needs seconds > 0")
    fault = Fault(target=target, kind=kind, count=count, status=status, seconds=float(seconds))
    if kind == "down":
        fault.until = time.monotonic() + fault.seconds
    return fault


@dataclass
class Faults:
    """The queue of faults, in the order they were added; the first that applies is used."""

    queued: list[Fault]

    def take(self, api: str) -> Fault | None:
        """The fault that hits this call, consuming one of its ``count``; ``None`` if none."""
        now = time.monotonic()
        self.queued = [
            f for f in self.queued if f.count > 0 and (f.kind != "down" or now < f.until)
        ]
        # A store that is down answers 503 to everything, whatever else is queued.
        ordered = sorted(self.queued, key=lambda fault: fault.kind != "down")
        for fault in ordered:
            if fault.applies(api, now):
                if fault.kind != "down":
                    fault.count -= 1
                return fault
        return None
