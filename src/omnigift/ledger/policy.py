"""The retailer's rules the ledger applies, built once from configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from omnigift.codes import CodePolicy, CodeVault


@dataclass(frozen=True)
class LedgerPolicy:
    """Codes, their secrecy, and the expiry and hold limits every command obeys."""

    vault: CodeVault
    codes: CodePolicy = field(default_factory=CodePolicy)
    min_paid_expiry: timedelta = timedelta(days=5 * 365)
    default_hold: timedelta = timedelta(minutes=15)
    max_hold: timedelta = timedelta(days=7)
