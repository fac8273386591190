"""Small builders for test data through the public API, so tests read as specifications."""

from __future__ import annotations

import uuid
from typing import Any

import httpx


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def idem() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def post(
    client: httpx.AsyncClient,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> httpx.Response:
    """POST with a fresh Idempotency-Key."""
    return await client.post(path, json=body, headers={**headers, **idem()})


async def issue(
    client: httpx.AsyncClient, headers: dict[str, str], amount: int | None = 5000, **fields: Any
) -> dict[str, Any]:
    """Issue a USD card (active with ``amount``, or pending when amount is None)."""
    body: dict[str, Any] = {"type": "digital", "currency": "USD", **fields}
    if amount is not None:
        body["initial_value"] = usd(amount)
    response = await post(client, "/v1/gift-cards", headers, body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def act(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    card_id: str,
    kind: str,
    amount: int | None = None,
    **fields: Any,
) -> httpx.Response:
    """Record an activity of ``kind`` on a card."""
    body: dict[str, Any] = {"type": kind, **fields}
    if amount is not None:
        body["amount"] = usd(amount)
    return await post(client, f"/v1/gift-cards/{card_id}/activities", headers, body)


async def card(client: httpx.AsyncClient, headers: dict[str, str], card_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/gift-cards/{card_id}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def row_counts(client: httpx.AsyncClient) -> dict[str, int]:
    """How many rows each table holds: a refused request must leave every count unchanged."""
    from sqlalchemy import func, select

    from omnigift.db.tables import metadata

    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    counts = {}
    async with runtime.db.read() as conn:
        for name, table in metadata.tables.items():
            if name in ("api_keys", "lookup_misses"):
                continue
            counts[name] = (
                await conn.execute(select(func.count()).select_from(table))
            ).scalar_one()
    return counts


async def customer(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    """Create a customer (an e-mail unless told otherwise)."""
    body = fields or {"email": "ada@example.com", "name": "Ada Lovelace"}
    response = await client.post("/v1/customers", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def promotion(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    trigger: str,
    reward: dict[str, Any],
    **fields: Any,
) -> dict[str, Any]:
    """Create a USD promotion (named after its trigger, without conditions unless told)."""
    body = {"name": f"{trigger} promotion", "trigger": trigger, "currency": "USD"}
    response = await client.post(
        "/v1/promotions", json={**body, "reward": reward, **fields}, headers=headers
    )
    assert response.status_code == 201, response.text
    return dict(response.json())
