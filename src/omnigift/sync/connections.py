"""Live connectors, one per integration, rebuilt when the integration changes."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select

from omnigift.connectors.base import Connector
from omnigift.connectors.registry import PLATFORMS
from omnigift.db.engine import Database
from omnigift.db.tables import integrations
from omnigift.ledger.errors import NotFound
from omnigift.sealing import Sealer
from omnigift.sync.integrations import credentials_of

RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Live:
    id: str
    platform: str
    settings: dict[str, Any]
    cursors: dict[str, Any]
    enabled: bool
    connector: Connector
    updated_at: datetime


class ConnectorPool:
    """Builds a connector from an integration's row and reuses it until the row changes."""

    def __init__(self, db: Database, sealer: Sealer, http: httpx.AsyncClient) -> None:
        self._db = db
        self._sealer = sealer
        self._http = http
        self._live: dict[str, Live] = {}
        self._checked: dict[str, float] = {}

    async def get(self, integration_id: str, *, fresh: bool = False) -> Live:
        """The live connector; its row is re-read at most once a second unless ``fresh``
        (a push must not cost a database read for a row that rarely changes)."""
        current = self._live.get(integration_id)
        checked = self._checked.get(integration_id, 0.0)
        if current and not fresh and time.monotonic() - checked < RECHECK_SECONDS:
            return current
        self._checked[integration_id] = time.monotonic()
        async with self._db.read() as conn:
            row = (
                await conn.execute(select(integrations).where(integrations.c.id == integration_id))
            ).first()
        if row is None:
            self._live.pop(integration_id, None)
            raise NotFound(f"no integration {integration_id}")
        if current and current.updated_at == row.updated_at:
            current = Live(
                current.id,
                current.platform,
                current.settings,
                row.cursors,
                row.enabled,
                current.connector,
                current.updated_at,
            )
            self._live[integration_id] = current
            return current
        connector = PLATFORMS[row.platform].build(
            row.base_url, credentials_of(row, self._sealer), row.settings, self._http
        )
        live = Live(
            row.id, row.platform, row.settings, row.cursors, row.enabled, connector, row.updated_at
        )
        self._live[integration_id] = live
        return live

    async def ids(self) -> list[str]:
        async with self._db.read() as conn:
            return list(
                (
                    await conn.execute(
                        select(integrations.c.id).where(integrations.c.enabled.is_(True))
                    )
                ).scalars()
            )
