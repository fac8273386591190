"""Everything a running service holds once: settings, database, ledger policy, lookup limits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from omnigift.codes import CodePolicy, CodeVault
from omnigift.config import Settings
from omnigift.db.engine import Database
from omnigift.ledger.lookup import LookupLimits
from omnigift.ledger.policy import LedgerPolicy


@dataclass
class Runtime:
    settings: Settings
    db: Database
    policy: LedgerPolicy
    limits: LookupLimits

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """Build the runtime; raises ``ConfigurationError`` for a configuration that can't run."""
        policy = LedgerPolicy(
            vault=CodeVault(settings.resolved_secret_key),
            codes=CodePolicy(length=settings.code_length, prefix=settings.code_prefix),
            min_paid_expiry=timedelta(days=settings.min_paid_expiry_days),
            default_hold=timedelta(seconds=settings.default_hold_seconds),
            max_hold=timedelta(seconds=settings.max_hold_seconds),
        )
        limits = LookupLimits(
            max_misses=settings.lookup_max_misses,
            window=timedelta(seconds=settings.lookup_window_seconds),
            surge_misses=settings.lookup_surge_misses,
            pin_max_failures=settings.pin_max_failures,
        )
        db = Database(settings.resolved_database_url, pool_size=settings.pool_size)
        return cls(settings=settings, db=db, policy=policy, limits=limits)
