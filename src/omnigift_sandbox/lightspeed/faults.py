"""Deterministic fault injection (integrations.md section 0 and 3.4), queued through
``/__sim/faults`` and consumed first-in first-out by the next matching calls.

Kinds: ``status`` (answer ``status`` — 409 edit conflict, 500, 502, 503 — without doing the
work), ``ambiguous`` (do the work, then answer ``status``), ``throttle`` (429 with
``Retry-After`` = ``seconds`` or 1 and the ``X-LS-*`` headers), ``latency`` (wait ``seconds``,
then answer normally), ``down`` (every matching call answers 503 for ``seconds``).

Targets: ``all``, ``api`` (every ``/API/`` route), ``oauth`` (the token endpoint), or one
resource (``CreditAccount``, ``Sale``, ``SalePayment``, ``PaymentType``, ``Register``,
``Shop``, ``Account``); ``method`` optionally narrows to one HTTP method.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .clock import Clock

KINDS = ("status", "ambiguous", "throttle", "latency", "down")
RESOURCES = ("CreditAccount", "Sale", "SalePayment", "PaymentType", "Register", "Shop", "Account")
TARGETS = ("all", "api", "oauth", *RESOURCES)
METHODS = ("GET", "POST", "PUT", "DELETE")


@dataclass
class Fault:
    """One queued fault; ``count`` calls left, or until ``until`` (clock) for ``down``."""

    target: str
    kind: str
    count: int = 1
    status: int = 503
    seconds: float = 0.0
    method: str | None = None
    until: float = 0.0

    def matches(self, surface: str, resource: str, method: str) -> bool:
        """Whether a call to ``resource`` on ``surface`` (``api``/``oauth``) is hit."""
        if self.method is not None and self.method != method:
            return False
        return self.target in ("all", surface, resource)


class FaultBook:
    """Pending faults; an outage wins over counted faults."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pending: list[Fault] = []

    def add(self, body: dict[str, Any]) -> Fault:
        """Queue a fault from a control-plane body; ValueError on a bad one."""
        target = body.get("target", "all")
        kind = body.get("kind")
        method = body.get("method")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if method is not None and method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}")
        count, status, seconds = (
            body.get("count", 1),
            body.get("status", 503),
            body.get("seconds", 0.0),
        )
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise ValueError("count must be a positive integer")
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
            raise ValueError("status must be a 4xx or 5xx code")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise ValueError("seconds must be a non-negative number")
        if kind in ("latency", "down") and seconds <= 0:
            raise ValueError(f"{kind} needs seconds > 0")
        fault = Fault(target, kind, count, status, float(seconds), method)
        if kind == "down":
            fault.until = self.clock.monotonic() + fault.seconds
        self.pending.append(fault)
        return fault

    def clear(self) -> None:
        """Forget every pending fault."""
        self.pending.clear()

    def take(self, surface: str, resource: str, method: str) -> Fault | None:
        """The fault this call suffers, consuming one of its ``count``; ``None`` if none."""
        now = self.clock.monotonic()
        self.pending = [f for f in self.pending if f.kind != "down" or f.until > now]
        for fault in self.pending:
            if fault.kind == "down" and fault.matches(surface, resource, method):
                return fault
        for fault in self.pending:
            if fault.kind != "down" and fault.matches(surface, resource, method):
                fault.count -= 1
                if fault.count <= 0:
                    self.pending.remove(fault)
                return fault
        return None

    def listing(self) -> list[dict[str, Any]]:
        """Pending faults as JSON."""
        now = self.clock.monotonic()
        self.pending = [f for f in self.pending if f.kind != "down" or f.until > now]
        out = []
        for fault in self.pending:
            item = asdict(fault)
            item.pop("until")
            if fault.kind == "down":
                item.pop("count")
                item["remaining_seconds"] = round(max(0.0, fault.until - now), 3)
            out.append(item)
        return out
