"""API keys: created with least-privilege scopes, shown once, stored only as a hash."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.clock import rfc3339
from omnigift.db.tables import api_keys
from omnigift.ids import new_id
from omnigift.ledger.errors import InvalidRequest, NotFound
from omnigift.ledger.origin import Channel, Origin

SECRET_PREFIX = "ogk_"  # noqa: S105 - a visible marker, not a secret


class Scope(StrEnum):
    CARDS_READ = "cards:read"
    CARDS_WRITE = "cards:write"
    CARDS_REDEEM = "cards:redeem"
    CARDS_LOOKUP = "cards:lookup"
    CARDS_REVEAL = "cards:reveal"
    EVENTS_READ = "events:read"
    WEBHOOKS_WRITE = "webhooks:write"
    INTEGRATIONS_WRITE = "integrations:write"
    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"
    PROMOTIONS_WRITE = "promotions:write"
    RETURNS_WRITE = "returns:write"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """The verified caller of a request."""

    key_id: str
    name: str
    scopes: frozenset[str]
    channel: str
    location_id: str | None

    def allows(self, scope: Scope) -> bool:
        return Scope.ADMIN.value in self.scopes or scope.value in self.scopes

    @property
    def origin(self) -> Origin:
        """What activities made with this key record as their origin."""
        return Origin(channel=self.channel, location_id=self.location_id, api_key_id=self.key_id)


def hash_secret(secret: str) -> str:
    """SHA-256 of a key's secret. Secrets carry 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(
    conn: AsyncConnection,
    name: str,
    scopes: list[str],
    now: datetime,
    *,
    channel: str = Channel.API,
    location_id: str | None = None,
) -> tuple[dict[str, Any], str]:
    """A new key and its secret; the secret is never stored nor shown again."""
    unknown = sorted(set(scopes) - {s.value for s in Scope})
    if unknown:
        raise InvalidRequest(f"unknown scopes: {', '.join(unknown)}", field="scopes")
    if not scopes:
        raise InvalidRequest("a key needs at least one scope", field="scopes")
    if channel not in {c.value for c in Channel}:
        raise InvalidRequest(f"unknown channel {channel}", field="channel")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    row = {
        "id": new_id("key"),
        "name": name,
        "secret_hash": hash_secret(secret),
        "scopes": sorted(set(scopes)),
        "channel": channel,
        "location_id": location_id,
        "created_at": now,
        "revoked_at": None,
    }
    await conn.execute(api_keys.insert().values(row))
    return _public(row), secret


async def list_keys(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(select(api_keys).order_by(api_keys.c.id))
    return [_public(dict(row._mapping)) for row in rows]


async def revoke_key(conn: AsyncConnection, key_id: str, now: datetime) -> None:
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if result.rowcount == 0:
        raise NotFound(f"no active key {key_id}")


async def authenticate(conn: AsyncConnection, secret: str) -> Principal | None:
    """The principal a secret belongs to, or None for an unknown or revoked key."""
    row = (
        await conn.execute(
            select(api_keys).where(
                api_keys.c.secret_hash == hash_secret(secret), api_keys.c.revoked_at.is_(None)
            )
        )
    ).first()
    if row is None:
        return None
    return Principal(row.id, row.name, frozenset(row.scopes), row.channel, row.location_id)


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "scopes": row["scopes"],
        "channel": row["channel"],
        "location_id": row["location_id"],
        "created_at": rfc3339(row["created_at"]),
        "revoked_at": rfc3339(row["revoked_at"]),
    }
