"""Integrations: one configured connection to one platform instance.

Credentials are sealed at rest and never shown again. Settings are seed 002's switches, per
integration. Health (connected, last success, pending and failed work, last error) is read here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Row, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.clock import rfc3339
from omnigift.connectors.registry import PLATFORMS, Platform
from omnigift.db.tables import inbound_notifications, integrations, mirrors
from omnigift.events.addresses import UnsafeURL, check_shape, resolve
from omnigift.ids import new_id
from omnigift.ledger.errors import InvalidRequest, NotFound
from omnigift.money import is_known_currency
from omnigift.sealing import Sealer


class IntegrationSettings(BaseModel):
    """Seed 002's switches, per integration."""

    model_config = ConfigDict(extra="forbid")

    push_cards: bool = True
    pull_cards: bool = False
    send_notifications: bool = False
    serial_prefix: str | None = Field(default=None, pattern=r"^[0-9]{4}$")
    sell_cards: bool = False
    # The platform products that are our gift card (matched by SKU on order lines): digital
    # cards are active at once; physical ones wait for fulfilment (the order lifecycle).
    gift_card_skus: list[str] = Field(default_factory=list)
    physical_gift_card_skus: list[str] = Field(default_factory=list)
    # On creation: export every existing card (push_cards) and import every platform card
    # (pull_cards), each a run with a report of the codes the other side can't take.
    historical_sync: bool = True
    currency: str = "USD"
    poll_interval_seconds: float = Field(default=30.0, ge=1.0, le=3600.0)
    # Platform-specific: Lightspeed's register_id, shop_id, employee_id,
    # gift_card_payment_type_id and balancing_payment_type_id (looked up when absent).
    platform_options: dict[str, Any] = Field(default_factory=dict)
    reconcile_interval_minutes: float = Field(default=60.0, ge=1.0)


@dataclass(frozen=True)
class IntegrationRules:
    sealer: Sealer
    allow_private: bool


def platform_of(name: str) -> Platform:
    platform = PLATFORMS.get(name)
    if platform is None:
        known = ", ".join(sorted(PLATFORMS))
        raise InvalidRequest(f"unknown platform {name!r}; known: {known}", field="platform")
    return platform


def parse_settings(raw: dict[str, Any] | None, platform: Platform) -> IntegrationSettings:
    """Settings checked against the model; a bad one is a 422 naming the field. A platform that
    holds no gift cards of ours (a returns platform) never mirrors, pulls or imports any."""
    try:
        settings = IntegrationSettings.model_validate(raw or {})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InvalidRequest(f"{where}: {error['msg']}", field=f"settings.{where}") from None
    if not is_known_currency(settings.currency):
        raise InvalidRequest(f"unknown currency {settings.currency}", field="settings.currency")
    if not platform.mirrors:
        off = {"push_cards": False, "pull_cards": False, "historical_sync": False}
        settings = settings.model_copy(update=off)
    return settings


def check_credentials(platform: Platform, credentials: dict[str, Any]) -> dict[str, str]:
    missing = [name for name in platform.credential_fields if not credentials.get(name)]
    if missing:
        raise InvalidRequest(
            f"{platform.name} needs credentials: {', '.join(missing)}", field="credentials"
        )
    return {name: str(value) for name, value in credentials.items()}


async def check_base_url(url: str, rules: IntegrationRules) -> str:
    """The platform's address, refused if it points inside our network (unless allowed)."""
    try:
        check_shape(url)
        await resolve(url, allow_private=rules.allow_private)
    except UnsafeURL as exc:
        raise InvalidRequest(str(exc), field="base_url") from None
    return url.rstrip("/")


async def create_integration(
    conn: AsyncConnection,
    rules: IntegrationRules,
    now: datetime,
    *,
    platform: str,
    name: str,
    base_url: str,
    credentials: dict[str, Any],
    settings: dict[str, Any] | None,
) -> dict[str, Any]:
    """A new integration, enabled; answered without its credentials."""
    spec = platform_of(platform)
    row = {
        "id": new_id("int"),
        "platform": spec.name,
        "name": name,
        "base_url": await check_base_url(base_url, rules),
        "credentials_sealed": rules.sealer.seal(json.dumps(check_credentials(spec, credentials))),
        "settings": parse_settings(settings, spec).model_dump(),
        "enabled": True,
        "connected": False,
        "cursors": {},
        "created_at": now,
        "updated_at": now,
    }
    await conn.execute(integrations.insert().values(row))
    return await get_integration(conn, str(row["id"]))


async def integration_row(conn: AsyncConnection, integration_id: str) -> Row[Any]:
    row = (
        await conn.execute(select(integrations).where(integrations.c.id == integration_id))
    ).first()
    if row is None:
        raise NotFound(f"no integration {integration_id}")
    return row


def credentials_of(row: Row[Any], sealer: Sealer) -> dict[str, str]:
    loaded: dict[str, str] = json.loads(sealer.unseal(row.credentials_sealed))
    return loaded


async def get_integration(conn: AsyncConnection, integration_id: str) -> dict[str, Any]:
    """The integration as staff see it, with its health."""
    row = await integration_row(conn, integration_id)
    return integration_view(row, await health(conn, integration_id))


async def list_integrations(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = (await conn.execute(select(integrations).order_by(integrations.c.id))).all()
    return [integration_view(row, await health(conn, row.id)) for row in rows]


async def update_integration(
    conn: AsyncConnection,
    rules: IntegrationRules,
    integration_id: str,
    changes: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Change name, base URL, credentials (replaced whole), settings (merged) or ``enabled``."""
    row = await integration_row(conn, integration_id)
    values: dict[str, Any] = {"updated_at": now}
    if "name" in changes:
        values["name"] = changes["name"]
    if "base_url" in changes:
        values["base_url"] = await check_base_url(changes["base_url"], rules)
    if "credentials" in changes:
        creds = check_credentials(platform_of(row.platform), changes["credentials"])
        values["credentials_sealed"] = rules.sealer.seal(json.dumps(creds))
    if "settings" in changes:
        merged = {**row.settings, **(changes["settings"] or {})}
        values["settings"] = parse_settings(merged, platform_of(row.platform)).model_dump()
    if "enabled" in changes:
        values["enabled"] = bool(changes["enabled"])
    await conn.execute(
        update(integrations).where(integrations.c.id == integration_id).values(values)
    )
    return await get_integration(conn, integration_id)


async def delete_integration(conn: AsyncConnection, integration_id: str) -> None:
    """Forget the integration and its queues; the ledger's history keeps naming it."""
    await integration_row(conn, integration_id)
    await conn.execute(delete(integrations).where(integrations.c.id == integration_id))


async def health(conn: AsyncConnection, integration_id: str) -> dict[str, Any]:
    """Pending and failed work, counted now."""
    pending_mirrors = (
        await conn.execute(
            select(func.count()).where(
                mirrors.c.integration_id == integration_id,
                mirrors.c.wanted > mirrors.c.done,
                mirrors.c.status != "blocked",
            )
        )
    ).scalar_one()
    failed_mirrors = (
        await conn.execute(
            select(func.count()).where(
                mirrors.c.integration_id == integration_id,
                mirrors.c.status.in_(("failing", "blocked")),
            )
        )
    ).scalar_one()
    by_state = await conn.execute(
        select(inbound_notifications.c.state, func.count())
        .where(inbound_notifications.c.integration_id == integration_id)
        .group_by(inbound_notifications.c.state)
    )
    inbound: dict[str, int] = {state: count for state, count in by_state}
    return {
        "pending_sync_jobs": pending_mirrors + inbound.get("pending", 0),
        "failed_sync_jobs": failed_mirrors + inbound.get("failed", 0),
    }


def integration_view(row: Row[Any], counts: dict[str, Any]) -> dict[str, Any]:
    m = row._mapping
    return {
        "id": m["id"],
        "object": "integration",
        "platform": m["platform"],
        "name": m["name"],
        "base_url": m["base_url"],
        "enabled": m["enabled"],
        "settings": m["settings"],
        "health": {
            "connected": m["connected"] and m["failing_since"] is None,
            "failing_since": rfc3339(m["failing_since"]),
            "last_success_at": rfc3339(m["last_success_at"]),
            "last_error": m["last_error"],
            "last_error_at": rfc3339(m["last_error_at"]),
            **counts,
        },
        "hook_url": f"/v1/hooks/{m['id']}",
        "created_at": rfc3339(m["created_at"]),
        "updated_at": rfc3339(m["updated_at"]),
    }


async def store_credentials(
    conn: AsyncConnection,
    sealer: Sealer,
    integration_id: str,
    credentials: dict[str, str],
    now: datetime,
) -> None:
    """Keep credentials a platform refreshed (sealed); connectors are rebuilt from them."""
    await conn.execute(
        update(integrations)
        .where(integrations.c.id == integration_id)
        .values(credentials_sealed=sealer.seal(json.dumps(credentials)), updated_at=now)
    )
