"""A till that uses Omnigift as its gift card provider, as a POS developer would write one.

Every operation gets the till's own transaction id (``{terminal}-{n}``), kept across retries, so
a lost answer is simply asked again. While offline, redemptions are kept in the till's journal
with the time they happened and submitted when it is back (``catch_up``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

RETRIES = 3


class Declined(Exception):
    """The provider declined (insufficient funds, unknown card, ...): the problem document."""

    def __init__(self, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or problem.get("title"))
        self.problem = problem


@dataclass
class Till:
    base_url: str
    api_key: str
    terminal_id: str
    cashier_id: str | None = None
    journal: Path | None = None  # where the till keeps its counter and offline queue
    offline: bool = False
    next_number: int = 1
    queued: list[dict[str, Any]] = field(default_factory=list)
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {self.api_key}"},
            timeout=10,
        )
        if self.journal and self.journal.exists():
            saved = json.loads(self.journal.read_text())
            self.next_number, self.queued = saved["next_number"], saved["queued"]

    # --- the five operations -----------------------------------------------------------------

    def balance(self, code: str) -> dict[str, Any]:
        return self._call("balance", {"code": code})

    def activate(self, code: str, amount: int, currency: str = "USD") -> dict[str, Any]:
        return self._call("activate", self._txn({"code": code, "amount": _money(amount, currency)}))

    def load(self, code: str, amount: int, currency: str = "USD") -> dict[str, Any]:
        return self._call("load", self._txn({"code": code, "amount": _money(amount, currency)}))

    def redeem(
        self,
        code: str,
        amount: int,
        currency: str = "USD",
        *,
        allow_partial: bool = False,
        hold: bool = False,
    ) -> dict[str, Any]:
        """Pay with a card. Offline, the redemption is kept and answered as accepted locally."""
        body = self._txn(
            {
                "code": code,
                "amount": _money(amount, currency),
                "allow_partial": allow_partial,
                "hold": hold,
            }
        )
        if self.offline:
            body["occurred_at"] = datetime.now(UTC).isoformat()
            self.queued.append(body)
            self._save()
            return {"transaction_id": body["transaction_id"], "status": "queued_offline"}
        return self._call("redeem", body)

    def capture(self, hold_transaction_id: str, amount: int | None = None) -> dict[str, Any]:
        body = self._txn({"hold_transaction_id": hold_transaction_id})
        if amount is not None:
            body["amount"] = _money(amount, "USD")
        return self._call("capture", body)

    def reverse(self, transaction_id: str) -> dict[str, Any]:
        return self._call("reverse", {"transaction_id": transaction_id})

    # --- offline ----------------------------------------------------------------------------

    def catch_up(self) -> list[dict[str, Any]]:
        """Back online: submit what was redeemed offline, oldest first, each with its time."""
        self.offline = False
        answers = []
        while self.queued:
            answers.append(self._call("redeem", self.queued[0]))
            self.queued.pop(0)
            self._save()
        return answers

    # --- plumbing ---------------------------------------------------------------------------

    def _txn(self, body: dict[str, Any]) -> dict[str, Any]:
        body = {"transaction_id": f"{self.terminal_id}-{self.next_number}", **body}
        self.next_number += 1
        self._save()
        return body

    def _call(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = {"terminal_id": self.terminal_id, "cashier_id": self.cashier_id, **body}
        for attempt in range(RETRIES):
            try:
                response = self.http.post(f"/v1/tender/{op}", json=payload)
            except httpx.TransportError:
                if attempt == RETRIES - 1:
                    raise
                continue  # same transaction id: the provider answers once
            if response.status_code >= 400:
                raise Declined(response.json())
            answer: dict[str, Any] = response.json()
            return answer
        raise RuntimeError("unreachable")

    def _save(self) -> None:
        if self.journal:
            self.journal.write_text(
                json.dumps({"next_number": self.next_number, "queued": self.queued})
            )

    def close(self) -> None:
        self.http.close()


def _money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": amount, "currency": currency}
