"""Webhook endpoints: where events are delivered, with a signing secret shown once.

The secret is sealed at rest (it must be read back to sign). Rotating it keeps the old one signing
alongside the new one for an overlap, so a receiver can switch without missing a delivery.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.clock import rfc3339
from omnigift.db.tables import webhook_endpoints
from omnigift.events.addresses import UnsafeURL, check_shape, resolve
from omnigift.events.catalogue import EventType
from omnigift.ids import new_id
from omnigift.ledger.errors import InvalidRequest, NotFound
from omnigift.sealing import Sealer

KNOWN_TYPES = {kind.value for kind in EventType}


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class EndpointRules:
    sealer: Sealer
    allow_private: bool
    overlap: timedelta


async def check_url(url: str, rules: EndpointRules) -> None:
    """Refuse a URL the service will not call (see ``addresses``), with a clear reason."""
    try:
        check_shape(url)
        await resolve(url, allow_private=rules.allow_private)
    except UnsafeURL as exc:
        raise InvalidRequest(str(exc), field="url") from None


def check_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - KNOWN_TYPES - {"*"})
    if unknown or not event_types:
        raise InvalidRequest(
            f"unknown event types: {', '.join(unknown)}" if unknown else "name at least one type",
            field="event_types",
        )
    return sorted(set(event_types))


async def create_endpoint(
    conn: AsyncConnection,
    rules: EndpointRules,
    now: datetime,
    *,
    url: str,
    event_types: list[str],
    description: str | None = None,
    enabled: bool = True,
) -> dict[str, Any]:
    """A new endpoint; the answer carries its signing secret, this once."""
    await check_url(url, rules)
    secret = new_secret()
    row = {
        "id": new_id("we"),
        "url": url,
        "description": description,
        "event_types": check_types(event_types),
        "enabled": enabled,
        "disabled_reason": None,
        "secret_sealed": rules.sealer.seal(secret),
        "previous_secret_sealed": None,
        "previous_secret_expires_at": None,
        "failing_since": None,
        "created_at": now,
        "updated_at": now,
    }
    await conn.execute(webhook_endpoints.insert().values(row))
    return {**endpoint_view(row), "secret": secret}


async def get_endpoint(conn: AsyncConnection, endpoint_id: str) -> dict[str, Any]:
    row: Row[Any] | None = (
        await conn.execute(select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))
    ).first()
    if row is None:
        raise NotFound(f"no webhook endpoint {endpoint_id}")
    return dict(row._mapping)


async def list_endpoints(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(select(webhook_endpoints).order_by(webhook_endpoints.c.id))
    return [endpoint_view(dict(row._mapping)) for row in rows]


async def update_endpoint(
    conn: AsyncConnection,
    rules: EndpointRules,
    endpoint_id: str,
    now: datetime,
    changes: dict[str, Any],
) -> dict[str, Any]:
    """Change url, event types, description or enabled; re-enabling clears the failure clock."""
    row = await get_endpoint(conn, endpoint_id)
    values: dict[str, Any] = {"updated_at": now}
    if "url" in changes:
        await check_url(changes["url"], rules)
        values["url"] = changes["url"]
    if "event_types" in changes:
        values["event_types"] = check_types(changes["event_types"])
    if "description" in changes:
        values["description"] = changes["description"]
    if "enabled" in changes:
        values["enabled"] = changes["enabled"]
        if changes["enabled"]:
            values.update(disabled_reason=None, failing_since=None)
    await conn.execute(
        update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id).values(values)
    )
    return endpoint_view({**row, **values})


async def delete_endpoint(conn: AsyncConnection, endpoint_id: str) -> None:
    await get_endpoint(conn, endpoint_id)
    await conn.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))


async def rotate_secret(
    conn: AsyncConnection, rules: EndpointRules, endpoint_id: str, now: datetime
) -> dict[str, Any]:
    """A new secret; the old one keeps signing too until the overlap ends."""
    row = await get_endpoint(conn, endpoint_id)
    secret = new_secret()
    values = {
        "secret_sealed": rules.sealer.seal(secret),
        "previous_secret_sealed": row["secret_sealed"],
        "previous_secret_expires_at": now + rules.overlap,
        "updated_at": now,
    }
    await conn.execute(
        update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id).values(values)
    )
    return {**endpoint_view({**row, **values}), "secret": secret}


def signing_secrets(row: dict[str, Any], sealer: Sealer, now: datetime) -> list[str]:
    """The secrets that sign a delivery now: the current one, and the previous during overlap."""
    found = [sealer.unseal(row["secret_sealed"])]
    expires = row["previous_secret_expires_at"]
    if row["previous_secret_sealed"] and expires is not None and expires > now:
        found.append(sealer.unseal(row["previous_secret_sealed"]))
    return found


def endpoint_view(row: dict[str, Any]) -> dict[str, Any]:
    """The WebhookEndpoint object (never its secret)."""
    return {
        "id": row["id"],
        "url": row["url"],
        "description": row["description"],
        "event_types": row["event_types"],
        "enabled": row["enabled"],
        "disabled_reason": row["disabled_reason"],
        "secret_rotation_ends_at": rfc3339(row["previous_secret_expires_at"]),
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }
