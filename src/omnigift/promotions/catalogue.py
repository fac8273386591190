"""Promotions as staff manage them: create, list, read, change (never deleted: switched off, so
what they granted stays explained)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from omnigift.clock import rfc3339
from omnigift.db.tables import promotions
from omnigift.ids import new_id
from omnigift.ledger.errors import InvalidRequest, NotFound
from omnigift.promotions.rules import parse_definition

CHANGEABLE = ("name", "conditions", "reward", "budget", "active")


async def create_promotion(
    conn: AsyncConnection, data: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """A new promotion from ``{name, trigger, currency, conditions, reward, budget?, active?}``."""
    parse_definition(data["trigger"], data["currency"], data["conditions"], data["reward"])
    _check_budget(data.get("budget"))
    row = {
        "id": new_id("promo"),
        "name": data["name"],
        "trigger": data["trigger"],
        "currency": data["currency"],
        "conditions": data["conditions"],
        "reward": data["reward"],
        "budget": data.get("budget"),
        "spent": 0,
        "active": data.get("active", True),
        "created_at": now,
        "updated_at": now,
    }
    await conn.execute(insert(promotions).values(**row))
    return promotion_view(row)


async def update_promotion(
    conn: AsyncConnection, promotion_id: str, changes: dict[str, Any], now: datetime
) -> dict[str, Any]:
    current = await get_promotion(conn, promotion_id, for_update=True)
    after = {**current, **{k: v for k, v in changes.items() if k in CHANGEABLE}, "updated_at": now}
    parse_definition(after["trigger"], after["currency"], after["conditions"], after["reward"])
    _check_budget(after["budget"])
    if after["budget"] is not None and after["budget"] < after["spent"]:
        raise InvalidRequest(
            f"{after['spent']} was already granted: the budget can't be lower", field="budget"
        )
    values = {k: after[k] for k in (*CHANGEABLE, "updated_at")}
    await conn.execute(update(promotions).where(promotions.c.id == promotion_id).values(**values))
    return promotion_view(after)


async def get_promotion(
    conn: AsyncConnection, promotion_id: str, *, for_update: bool = False
) -> dict[str, Any]:
    query = select(promotions).where(promotions.c.id == promotion_id)
    row = (await conn.execute(query.with_for_update() if for_update else query)).first()
    if row is None:
        raise NotFound(f"no promotion {promotion_id}")
    return dict(row._mapping)


async def list_promotions(conn: AsyncConnection) -> list[dict[str, Any]]:
    rows = await conn.execute(select(promotions).order_by(promotions.c.id))
    return [promotion_view(dict(r._mapping)) for r in rows]


def promotion_view(row: dict[str, Any]) -> dict[str, Any]:
    """The Promotion object: its definition, and what it has granted so far."""
    currency = row["currency"]
    budget = row["budget"]
    return {
        "id": row["id"],
        "name": row["name"],
        "trigger": row["trigger"],
        "currency": currency,
        "conditions": row["conditions"],
        "reward": row["reward"],
        "budget": None if budget is None else {"amount": budget, "currency": currency},
        "granted": {"amount": row["spent"], "currency": currency},
        "active": row["active"],
        "created_at": rfc3339(row["created_at"]),
        "updated_at": rfc3339(row["updated_at"]),
    }


def _check_budget(budget: Any) -> None:
    if budget is not None and (not isinstance(budget, int) or budget <= 0):
        raise InvalidRequest("budget is a positive amount in minor units", field="budget")
