"""Configuration from the environment (``OMNIGIFT_*``), via pydantic-settings.

The embedded default (a SQLite file in the data directory) needs no configuration at all: a
secret key is created in the data directory on first start and reused. In production
(``OMNIGIFT_ENV=production``) a missing secret is a start-up error, never a silent default.
"""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

SECRET_FILE_NAME = "secret.key"  # noqa: S105 - a file name, not a secret


class ConfigurationError(RuntimeError):
    """The service cannot start with this configuration; the message says what to set."""


class Settings(BaseSettings):
    """Every setting of the service. Each field is read from ``OMNIGIFT_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="OMNIGIFT_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("data")
    database_url: str | None = None
    secret_key: str | None = Field(default=None, repr=False)

    # Codes
    code_length: int = Field(default=20, ge=16, le=20)
    code_prefix: str = Field(default="", pattern=r"^[0-9]{0,4}$")

    # Expiry policy: paid value may not expire sooner than this (US CARD Act: five years).
    min_paid_expiry_days: int = Field(default=5 * 365, ge=0)

    # Holds
    default_hold_seconds: int = Field(default=900, ge=1)
    max_hold_seconds: int = Field(default=7 * 24 * 3600, ge=1)

    # Lookup brute-force protection
    lookup_max_misses: int = Field(default=10, ge=1)
    lookup_window_seconds: int = Field(default=15 * 60, ge=1)
    lookup_surge_misses: int = Field(default=200, ge=1)
    pin_max_failures: int = Field(default=5, ge=1)

    # Idempotency keys are kept at least this long.
    idempotency_retention_hours: int = Field(default=48, ge=24)

    # API key cache: how long a verified key is trusted without asking the database again.
    auth_cache_seconds: float = Field(default=2.0, ge=0)

    # Background worker
    worker_interval_seconds: float = Field(default=5.0, gt=0)
    dispatch_interval_seconds: float = Field(default=0.2, gt=0)

    # Webhooks
    webhooks_allow_private_urls: bool = False
    # Seconds to wait before each retry; after the last one a delivery is dead-lettered.
    # Default: the Standard Webhooks example schedule, about three days in all.
    webhook_retry_schedule: str = Field(
        default="5,300,1800,7200,18000,36000,50400,72000,86400", pattern=r"^[0-9.]+(,[0-9.]+)*$"
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_claim_seconds: float = Field(default=30.0, gt=0)
    webhook_disable_after_hours: float = Field(default=72.0, gt=0)
    webhook_secret_overlap_hours: float = Field(default=24.0, ge=0)
    webhook_concurrency: int = Field(default=32, ge=1)

    # Connectors (docs/connectors.md). Outgoing calls to private addresses follow
    # ``webhooks_allow_private_urls`` too: one switch for every address the service calls.
    # The public address platforms send notifications to: {public_url}/v1/hooks/{integration}.
    public_url: str | None = None
    # Idle backstop of the connectors' loops: new work wakes them at once within a worker.
    sync_interval_seconds: float = Field(default=0.5, gt=0)
    sync_concurrency: int = Field(default=16, ge=1)
    sync_lease_seconds: float = Field(default=60.0, gt=0)
    sync_max_backoff_seconds: float = Field(default=300.0, gt=0)
    connector_timeout_seconds: float = Field(default=10.0, gt=0)
    # How long a platform's calls must keep failing before the integration counts as failing
    # (event integration.failed); a single 503 or a rate limit is not an outage.
    integration_failing_after_seconds: float = Field(default=60.0, ge=0)

    # E-mail (docs/email.md): sent by the worker through this SMTP server. Without a host, e-mails
    # are queued and kept, and go out once one is configured.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = Field(default=None, repr=False)
    smtp_starttls: bool = False  # upgrade a plain connection (port 587)
    smtp_tls: bool = False  # TLS from the first byte (port 465)
    smtp_timeout_seconds: float = Field(default=20.0, gt=0)
    email_from: str = "Gift cards <giftcards@localhost>"
    email_max_attempts: int = Field(default=8, ge=1)
    email_interval_seconds: float = Field(default=0.5, gt=0)
    # Reminders, looked for every ``email_reminder_interval_seconds``; 0 days turns one off.
    email_expiry_reminder_days: int = Field(default=14, ge=0)
    email_balance_reminder_days: int = Field(default=180, ge=0)
    email_reminder_interval_seconds: float = Field(default=3600.0, gt=0)
    brand_name: str = "Omnigift"
    brand_color: str = Field(default="#1f4e79", pattern=r"^#[0-9a-fA-F]{6}$")
    brand_logo_url: str | None = None

    # Database connections per process: opened as needed, kept, never more (a request beyond
    # them waits for one).
    pool_size: int = Field(default=30, ge=1)

    log_json: bool = False
    log_level: str = "INFO"

    @property
    def retry_delays(self) -> list[float]:
        return [float(part) for part in self.webhook_retry_schedule.split(",")]

    @cached_property
    def resolved_database_url(self) -> str:
        """The database URL: configured, or a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'omnigift.sqlite').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")

    @cached_property
    def resolved_secret_key(self) -> bytes:
        """The master secret all other keys are derived from.

        Development: created once in the data directory (mode 0600) and reused.
        Production: must be configured; its absence stops the service.
        """
        if self.secret_key:
            if len(self.secret_key) < 32:
                raise ConfigurationError("OMNIGIFT_SECRET_KEY must be at least 32 characters")
            return self.secret_key.encode()
        if self.env == "production":
            raise ConfigurationError(
                "OMNIGIFT_SECRET_KEY is not set. In production the secret that seals gift card "
                "codes must be configured explicitly (at least 32 random characters)."
            )
        return _secret_from_data_dir(self.data_dir)


def _secret_from_data_dir(data_dir: Path) -> bytes:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / SECRET_FILE_NAME
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip().encode()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()
