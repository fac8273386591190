"""Everything a running service holds once: settings, database, ledger policy, lookup limits."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from omnigift.codes import CodePolicy, CodeVault
from omnigift.config import Settings
from omnigift.db.engine import Database
from omnigift.events.delivery import DeliveryPolicy
from omnigift.events.endpoints import EndpointRules
from omnigift.ledger.lookup import LookupLimits
from omnigift.ledger.policy import LedgerPolicy
from omnigift.sealing import Sealer
from omnigift.sync.integrations import IntegrationRules
from omnigift.sync.runner import SyncPolicy


@dataclass
class Runtime:
    settings: Settings
    db: Database
    policy: LedgerPolicy
    limits: LookupLimits
    endpoint_rules: EndpointRules
    delivery: DeliveryPolicy
    integration_rules: IntegrationRules
    sync: SyncPolicy
    # Seals the responses kept for idempotent replay: a card's code is in the answer that
    # issued it, and codes are never stored in plain text.
    responses: Sealer
    # Set by the API when a platform notification is queued: a worker in the same process takes
    # it at once instead of at its next poll.
    inbound_arrived: asyncio.Event = field(default_factory=asyncio.Event)

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
        sealer = Sealer(settings.resolved_secret_key, "webhook-secret")
        endpoint_rules = EndpointRules(
            sealer=sealer,
            allow_private=settings.webhooks_allow_private_urls,
            overlap=timedelta(hours=settings.webhook_secret_overlap_hours),
        )
        delivery = DeliveryPolicy(
            sealer=sealer,
            retry_delays=settings.retry_delays,
            timeout=settings.webhook_timeout_seconds,
            # A lease outlives the longest attempt, so two workers never send one attempt at once.
            lease=max(settings.webhook_claim_seconds, settings.webhook_timeout_seconds + 1),
            disable_after=timedelta(hours=settings.webhook_disable_after_hours),
            allow_private=settings.webhooks_allow_private_urls,
            concurrency=settings.webhook_concurrency,
        )
        credentials = Sealer(settings.resolved_secret_key, "integration-credentials")
        integration_rules = IntegrationRules(
            sealer=credentials, allow_private=settings.webhooks_allow_private_urls
        )
        sync = SyncPolicy(
            sealer=credentials,
            concurrency=settings.sync_concurrency,
            lease=max(settings.sync_lease_seconds, settings.connector_timeout_seconds * 4),
            max_backoff=settings.sync_max_backoff_seconds,
            failing_after=timedelta(seconds=settings.integration_failing_after_seconds),
        )
        db = Database(settings.resolved_database_url, pool_size=settings.pool_size)
        responses = Sealer(settings.resolved_secret_key, "stored-response")
        return cls(
            settings,
            db,
            policy,
            limits,
            endpoint_rules,
            delivery,
            integration_rules,
            sync,
            responses,
        )
