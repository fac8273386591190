"""The database schema, as SQLAlchemy Core tables. Alembic migrations are written from these.

The database is the backstop for the ledger's invariants: balances can't go negative, holds
can't exceed the balance, an activity's postings are never cascaded away, and idempotency keys and
event sequences are unique.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from omnigift.db.types import UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(40)

accounts = Table(
    "accounts",
    metadata,
    Column("id", ID, primary_key=True),
    # gift_card | store_credit | points | system
    Column("kind", String(20), nullable=False),
    Column("currency", String(4), nullable=False),
    # Cached balance of a value account, kept in step with its postings in the same transaction.
    # System accounts never update it: their balances are derived from postings (no hot row).
    Column("balance", BigInteger, nullable=False, server_default="0"),
    Column("held", BigInteger, nullable=False, server_default="0"),
    # Increases by one per event of this account: the event sequence a consumer can follow.
    Column("version", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("kind = 'system' OR balance >= 0", name="balance_not_negative"),
    CheckConstraint("held >= 0 AND (kind = 'system' OR held <= balance)", name="held_within"),
)

gift_cards = Table(
    "gift_cards",
    metadata,
    Column("id", ID, ForeignKey("accounts.id", ondelete="RESTRICT"), primary_key=True),
    Column("type", String(10), nullable=False),
    Column("state", String(12), nullable=False),
    Column("currency", String(4), nullable=False),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("code_sealed", Text, nullable=False),
    Column("code_last4", String(4), nullable=False),
    Column("pin_hash", Text),
    Column("pin_failures", Integer, nullable=False, server_default="0"),
    Column("pin_failures_since", UTCDateTime),
    Column("initial_value", BigInteger),
    Column("expires_at", UTCDateTime),
    Column("customer_id", ID),
    Column("recipient", JSON),
    # The recipient's e-mail, lower-cased, for finding a person's cards (a customer asking for
    # them again) without reading every card's JSON.
    Column("recipient_email", String(320)),
    Column("issued_channel", String(20), nullable=False),
    Column("issued_integration_id", ID),
    Column("issued_location_id", String(100)),
    Column("metadata", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_gift_cards_state_expires", "state", "expires_at"),
    Index("ix_gift_cards_customer", "customer_id"),
    Index("ix_gift_cards_last4", "code_last4"),
    Index("ix_gift_cards_recipient_email", "recipient_email"),
)

lots = Table(
    "lots",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="RESTRICT"), nullable=False),
    Column("kind", String(12), nullable=False),  # paid | promotional | refund
    Column("amount", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("remaining >= 0", name="remaining_not_negative"),
    Index("ix_lots_account", "account_id"),
    Index("ix_lots_expiring", "expires_at"),
)

activities = Table(
    "activities",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="RESTRICT"), nullable=False),
    Column("type", String(24), nullable=False),
    Column("amount", BigInteger),
    Column("currency", String(4), nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("state_after", String(12), nullable=False),
    Column("reason", Text),
    Column("reference", JSON),
    Column("metadata", JSON),
    Column("channel", String(20), nullable=False),
    Column("integration_id", ID),
    Column("location_id", String(100)),
    Column("api_key_id", ID),
    Column("staff_user_id", ID),
    Column("redeem_activity_id", ID),
    Column("hold_id", ID),
    # [[lot_id, amount], ...]: which lots this activity moved, so a refund can restore them.
    Column("lot_movements", JSON),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_activities_account", "account_id", "id"),
    Index("ix_activities_created", "created_at"),
    Index("ix_activities_redeem", "redeem_activity_id"),
)

postings = Table(
    "postings",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("activity_id", ID, ForeignKey("activities.id", ondelete="RESTRICT"), nullable=False),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="RESTRICT"), nullable=False),
    Column("currency", String(4), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Index("ix_postings_account", "account_id"),
    Index("ix_postings_activity", "activity_id"),
)

holds = Table(
    "holds",
    metadata,
    Column("id", ID, primary_key=True),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="RESTRICT"), nullable=False),
    Column("state", String(10), nullable=False),  # open | captured | voided | expired
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(4), nullable=False),
    Column("captured_amount", BigInteger),
    Column("capture_activity_id", ID),
    Column("reference", JSON),
    Column("channel", String(20), nullable=False),
    Column("location_id", String(100)),
    Column("api_key_id", ID),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("amount > 0", name="amount_positive"),
    Index("ix_holds_open_expiry", "state", "expires_at"),
    Index("ix_holds_account", "account_id"),
)

events = Table(
    "events",
    metadata,
    Column("id", ID, primary_key=True),
    Column("type", String(60), nullable=False),
    Column("account_id", ID),
    Column("sequence", Integer),
    Column("data", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # Given by the dispatcher, in commit order: the live stream and fan-out follow it, so an event
    # committed late by a slow transaction is never skipped (ids are ordered by start, not commit).
    Column("position", BigInteger, unique=True),
    UniqueConstraint("account_id", "sequence", name="uq_events_account_sequence"),
    Index("ix_events_created", "created_at"),
    Index("ix_events_type", "type"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("scopes", JSON, nullable=False),
    Column("channel", String(20), nullable=False),
    Column("location_id", String(100)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("api_key_id", ID, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer),
    Column("response_body", Text),  # sealed (Runtime.responses) unless response_sealed is false
    Column("response_sealed", Boolean, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_idempotency_created", "created_at"),
)

lookup_misses = Table(
    "lookup_misses",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("bucket", String(120), nullable=False),  # "key:<id>" or "ip:<address>"
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_lookup_misses_bucket", "bucket", "created_at"),
    Index("ix_lookup_misses_created", "created_at"),
)

# The dispatcher's counter for event positions: only the dispatcher updates it, off the hot path.
counters = Table(
    "counters",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", ID, primary_key=True),
    Column("url", Text, nullable=False),
    Column("description", Text),
    Column("event_types", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", Text),
    Column("secret_sealed", Text, nullable=False),
    # During a rotation the old secret signs alongside the new one until this time.
    Column("previous_secret_sealed", Text),
    Column("previous_secret_expires_at", UTCDateTime),
    Column("failing_since", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", ID, primary_key=True),
    Column(
        "endpoint_id", ID, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    ),
    Column("event_id", ID, ForeignKey("events.id", ondelete="RESTRICT"), nullable=False),
    Column("account_id", ID),
    Column("position", BigInteger, nullable=False),
    Column("state", String(12), nullable=False),  # pending | succeeded | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("delivered_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_deliveries_due", "state", "next_attempt_at"),
    Index("ix_deliveries_order", "endpoint_id", "account_id", "state", "position"),
    Index("ix_deliveries_event", "event_id"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("delivery_id", ID, ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("attempted_at", UTCDateTime, nullable=False),
    Column("status_code", Integer),
    Column("duration_ms", Integer, nullable=False),
    Column("error", Text),
    Column("next_retry_at", UTCDateTime),
    Index("ix_delivery_attempts_delivery", "delivery_id"),
)

# --- Connectors: integrations, mirrors, inbound notifications, sync exceptions -----------------

integrations = Table(
    "integrations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("platform", String(20), nullable=False),
    Column("name", String(200), nullable=False),
    Column("base_url", Text, nullable=False),
    Column("credentials_sealed", Text, nullable=False),
    Column("settings", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False),
    # Health: set by the connector's work, read by staff and GET /v1/integrations/{id}.
    Column("connected", Boolean, nullable=False, server_default="0"),
    Column("failing_since", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime),
    # Where polling and reconciliation left off (platform-specific cursors).
    Column("cursors", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

mirrors = Table(
    "mirrors",
    metadata,
    Column("id", ID, primary_key=True),
    Column("integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", ID, ForeignKey("accounts.id", ondelete="RESTRICT"), nullable=False),
    Column("external_id", String(100)),
    # What we believe the platform holds: our writes plus the platform spends we ingested.
    # Only ever moved by relative updates, so a push and an ingest never overwrite each other.
    Column("known_balance", BigInteger),
    Column("known_state", String(12)),
    Column("known_expires_on", String(10)),
    # Work wanted vs done: an event bumps ``wanted``; a push that converged sets ``done`` to the
    # ``wanted`` it read when it claimed the row, so a change arriving mid-push is never lost.
    Column("wanted", Integer, nullable=False, server_default="0"),
    Column("done", Integer, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    # A write whose outcome is unknown (timeout, 5xx): read back before anything else is written.
    Column("pending_write", JSON),
    # ok | failing | blocked (the platform can never take this card, e.g. its code)
    Column("status", String(10), nullable=False, server_default="ok"),
    Column("last_error", Text),
    Column("synced_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("integration_id", "account_id", name="uq_mirrors_integration_account"),
    Index("ix_mirrors_external", "integration_id", "external_id"),
    Index("ix_mirrors_due", "next_attempt_at"),
)

inbound_notifications = Table(
    "inbound_notifications",
    metadata,
    Column("id", ID, primary_key=True),
    Column("integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    # The platform's own id of the event (Shopify X-Shopify-Event-Id, BigCommerce body hash):
    # a duplicate delivery is stored once.
    Column("platform_event_id", String(200), nullable=False),
    Column("topic", String(100), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("triggered_at", UTCDateTime),
    Column("state", String(10), nullable=False),  # pending | done | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    Column("last_error", Text),
    Column("received_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime),
    UniqueConstraint("integration_id", "platform_event_id", name="uq_inbound_platform_event"),
    Index("ix_inbound_due", "state", "next_attempt_at"),
)

# A platform transaction the ledger has taken in (a checkout spend, a refund, a sale): recorded in
# the same transaction as its activity, so a replayed notification is applied once.
external_references = Table(
    "external_references",
    metadata,
    Column(
        "integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("reference", String(200), primary_key=True),
    Column("account_id", ID),
    Column("activity_id", ID),
    Column("amount", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
)

sync_exceptions = Table(
    "sync_exceptions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE")),
    Column("account_id", ID),
    # overdraft | code_incompatible | drift | rejected_spend | ...
    Column("kind", String(30), nullable=False),
    Column("state", String(10), nullable=False),  # open | resolved
    Column("amount", BigInteger),
    Column("currency", String(4)),
    Column("reference", String(200)),
    Column("details", JSON, nullable=False),
    Column("resolution", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Index("ix_sync_exceptions_state", "state", "created_at"),
    Index("ix_sync_exceptions_account", "account_id"),
)

# Long jobs staff start on an integration (historical import, reconciliation, repair), with
# progress and a report, run by the worker.
integration_runs = Table(
    "integration_runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("integration_id", ID, ForeignKey("integrations.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(20), nullable=False),  # import | reconcile | repair
    Column("state", String(10), nullable=False),  # pending | running | done | failed
    Column("progress", JSON, nullable=False),
    Column("report", JSON),
    Column("error", Text),
    Column("claimed_until", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Index("ix_integration_runs_state", "state", "created_at"),
    Index("ix_integration_runs_integration", "integration_id", "created_at"),
)

# --- Tender API: a till's own transaction ids -----------------------------------------------

# One row per till transaction: its id is the idempotency key (a retry answers the same) and the
# handle a reversal names. The reversal is kept on the same row, so a second one is a no-op.
tender_transactions = Table(
    "tender_transactions",
    metadata,
    Column("location_id", String(100), primary_key=True),
    Column("terminal_id", String(100), primary_key=True),
    Column("transaction_id", String(100), primary_key=True),
    Column(
        "kind", String(12), nullable=False
    ),  # balance | activate | load | redeem | hold | capture
    Column("request_hash", String(64), nullable=False),
    Column("api_key_id", ID, nullable=False),
    Column("account_id", ID),
    Column("activity_id", ID),
    Column("hold_id", ID),
    Column("response", JSON, nullable=False),
    Column("reversal", JSON),
    Column("created_at", UTCDateTime, nullable=False),
    Column("reversed_at", UTCDateTime),
    Index("ix_tender_transactions_account", "account_id"),
)

# --- Customers ----------------------------------------------------------------------------------

# A person the retailer knows, whatever channel they came from. An e-mail or a phone number
# belongs to one live customer; a merged duplicate keeps its row (old ids still resolve) and
# points at the survivor, which took over its cards.
_LIVE_EMAIL = text("merged_into IS NULL AND email IS NOT NULL")
_LIVE_PHONE = text("merged_into IS NULL AND phone IS NOT NULL")
customers = Table(
    "customers",
    metadata,
    Column("id", ID, primary_key=True),
    Column("email", String(320)),  # lower-cased
    Column("phone", String(20)),  # "+" and digits
    Column("name", String(200)),
    Column("external_ids", JSON, nullable=False),  # {integration id: the platform's customer id}
    Column("consents", JSON, nullable=False),  # {"email_marketing": bool, "sms_marketing": bool}
    Column("metadata", JSON, nullable=False),
    Column("merged_into", ID),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index(
        "uq_customers_live_email",
        "email",
        unique=True,
        sqlite_where=_LIVE_EMAIL,
        postgresql_where=_LIVE_EMAIL,
    ),
    Index(
        "uq_customers_live_phone",
        "phone",
        unique=True,
        sqlite_where=_LIVE_PHONE,
        postgresql_where=_LIVE_PHONE,
    ),
    Index("ix_customers_merged_into", "merged_into"),
)

# A customer's store credit in one currency: a value account like a card's (lots, holds,
# activities, postings), without a code. One per customer and currency.
store_credit_wallets = Table(
    "store_credit_wallets",
    metadata,
    Column("id", ID, ForeignKey("accounts.id", ondelete="RESTRICT"), primary_key=True),
    Column("customer_id", ID, ForeignKey("customers.id", ondelete="RESTRICT"), nullable=False),
    Column("currency", String(4), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("customer_id", "currency", name="uq_store_credit_wallets_customer_currency"),
)

# --- Promotions ---------------------------------------------------------------------------------

# A rule stored as data: when ``trigger`` happens and ``conditions`` hold, grant ``reward``
# (promotional value, booked to the ``promotions`` account). ``spent`` counts the value granted so
# far against ``budget``; it is updated under the promotion's row lock, off the redeem path.
promotions = Table(
    "promotions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column(
        "trigger", String(30), nullable=False
    ),  # card_purchased | refund_taken | order_completed
    Column("currency", String(4), nullable=False),
    Column("conditions", JSON, nullable=False),
    Column("reward", JSON, nullable=False),
    Column("budget", BigInteger),  # minor units of reward value; null: no limit
    Column("spent", BigInteger, nullable=False, server_default="0"),
    Column("active", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    CheckConstraint("budget IS NULL OR spent <= budget", name="within_budget"),
    Index("ix_promotions_trigger", "trigger", "active"),
)

# Each time a promotion granted something: once per promotion and triggering event (a retried
# webhook or request can't grant twice), counted per customer for ``per_customer_limit``.
promotion_applications = Table(
    "promotion_applications",
    metadata,
    Column("id", ID, primary_key=True),
    Column("promotion_id", ID, ForeignKey("promotions.id", ondelete="RESTRICT"), nullable=False),
    Column("trigger_reference", String(200), nullable=False),
    Column("customer_id", ID),
    Column("account_id", ID, nullable=False),  # the card or wallet rewarded
    Column("activity_id", ID, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("promotion_id", "trigger_reference", name="uq_promotion_applications_once"),
    Index("ix_promotion_applications_customer", "promotion_id", "customer_id"),
)

# --- Refunds from returns -------------------------------------------------------------------------

# A return refunded as a gift card or store credit; ``return_id`` makes the call idempotent (a
# returns platform retrying its webhook gets the same card back). ``answer`` is what was issued,
# without the card's code (it is unsealed again for a replay).
refunds = Table(
    "refunds",
    metadata,
    Column("id", ID, primary_key=True),
    Column("return_id", String(200), nullable=False, unique=True),
    Column("order_id", String(200)),
    Column("customer_id", ID),
    Column("method", String(20), nullable=False),  # gift_card | store_credit
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(4), nullable=False),
    Column("account_id", ID, nullable=False),  # the card issued or the wallet credited
    Column("activity_id", ID, nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("answer", JSON, nullable=False),
    Column("api_key_id", ID),
    Column("created_at", UTCDateTime, nullable=False),
)

# --- E-mail ---------------------------------------------------------------------------------------

# E-mails to send, kept as the delivery log of their card or wallet. ``context`` never holds a
# code: the sender unseals it when it renders the message. One per (kind, reference): a retried
# request queues nothing more.
emails = Table(
    "emails",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(30), nullable=False),  # refund_issued | bonus_granted | card_delivered
    Column("reference", String(200), nullable=False),
    Column("account_id", ID),
    Column("to_address", String(320), nullable=False),
    Column("context", JSON, nullable=False),
    Column("state", String(10), nullable=False),  # queued | sent | failed
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("send_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    Column("last_error", Text),
    Column("sent_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    UniqueConstraint("kind", "reference", name="uq_emails_kind_reference"),
    Index("ix_emails_due", "state", "next_attempt_at"),
    Index("ix_emails_account", "account_id", "created_at"),
)
