"""Deterministic fault injection for the vendor routes (integrations.md section 0).

Faults are queued through ``/__sim/faults`` and consumed, in order, by the next calls to their
target surface. Nothing is random, so a test that queues a fault knows which call gets it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from .clock import Clock

Target = Literal["graphql", "rest", "all"]
Kind = Literal["status", "ambiguous", "throttle", "latency", "down"]
TARGETS = ("graphql", "rest", "all")
KINDS = ("status", "ambiguous", "throttle", "latency", "down")


@dataclass
class Fault:
    """``count`` calls left; ``status`` for status/ambiguous; ``seconds`` for latency/down."""

    target: Target
    kind: Kind
    count: int = 1
    status: int = 503
    seconds: float = 0.0
    until: float = 0.0  # for "down": the clock reading at which the outage ends


class FaultBook:
    """The pending faults, consumed first-in first-out per call."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.pending: list[Fault] = []

    def add(self, body: dict[str, Any]) -> Fault:
        """Queue a fault from a control-plane body; raises ValueError on a bad one."""
        target = body.get("target", "all")
        kind = body.get("kind")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}")
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        count = int(body.get("count", 1))
        status = int(body.get("status", 503))
        seconds = float(body.get("seconds", 0.0))
        if count < 1 or status < 400 or status > 599 or seconds < 0:
            raise ValueError("count must be >= 1, status 4xx/5xx, seconds >= 0")
        fault = Fault(target=target, kind=kind, count=count, status=status, seconds=seconds)
        if kind == "down":
            fault.until = self.clock.monotonic() + seconds
        self.pending.append(fault)
        return fault

    def clear(self) -> None:
        """Forget every pending fault."""
        self.pending.clear()

    def take(self, surface: Literal["graphql", "rest"]) -> Fault | None:
        """The fault this call suffers, if any. An outage wins over counted faults."""
        now = self.clock.monotonic()
        self.pending = [f for f in self.pending if f.kind != "down" or f.until > now]
        for fault in self.pending:
            if fault.kind == "down" and fault.target in (surface, "all"):
                return fault
        for fault in self.pending:
            if fault.kind != "down" and fault.target in (surface, "all"):
                fault.count -= 1
                if fault.count <= 0:
                    self.pending.remove(fault)
                return fault
        return None

    def listing(self) -> list[dict[str, Any]]:
        """Pending faults as JSON."""
        now = self.clock.monotonic()
        out = []
        for fault in self.pending:
            item = asdict(fault)
            item.pop("until")
            if fault.kind == "down":
                item["remaining_seconds"] = round(max(0.0, fault.until - now), 3)
                item.pop("count")
            out.append(item)
        return out
