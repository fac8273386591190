"""The integrations resource and the inbound hook endpoint, in process (no platform needed)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from omnigift.app import create_app
from omnigift.config import Settings
from omnigift.db.tables import inbound_notifications
from omnigift.runtime import Runtime
from tests.conftest import make_key

SECRET = "shop-secret"
TOKEN = "shpat_very_secret_token"


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The service with private addresses allowed, so a loopback 'store' can be named."""
    allowed = settings.model_copy(update={"webhooks_allow_private_urls": True})
    app = create_app(allowed, worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://omnigift.test") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


@pytest.fixture
async def staff(client: httpx.AsyncClient) -> dict[str, str]:
    return await make_key(client, "integrations:write")


def shopify_body(**overrides: Any) -> dict[str, Any]:
    return {
        "platform": "shopify",
        "name": "Web store",
        "base_url": "http://127.0.0.1:9",  # nothing listens: the check fails, the save doesn't
        "credentials": {"access_token": TOKEN, "client_secret": SECRET},
        "settings": {"sell_cards": True, "gift_card_skus": ["GC"]},
        **overrides,
    }


async def created(
    client: httpx.AsyncClient, staff: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    response = await client.post("/v1/integrations", json=shopify_body(**overrides), headers=staff)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_an_integration_is_saved_without_ever_showing_its_credentials(
    client: httpx.AsyncClient, staff: dict[str, str]
) -> None:
    integration = await created(client, staff)

    assert "credentials" not in integration
    assert TOKEN not in json.dumps(integration)
    assert integration["settings"]["push_cards"] is True  # the default
    assert integration["settings"]["sell_cards"] is True
    assert integration["hook_url"] == f"/v1/hooks/{integration['id']}"
    # The store could not be reached: saved anyway, and health says so.
    assert integration["health"]["connected"] is False
    assert integration["health"]["last_error"]
    listed = (await client.get("/v1/integrations", headers=staff)).json()["data"]
    assert [i["id"] for i in listed] == [integration["id"]]
    assert TOKEN not in json.dumps(listed)


async def test_credentials_are_sealed_at_rest(
    client: httpx.AsyncClient, staff: dict[str, str]
) -> None:
    await created(client, staff)
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.db.read() as conn:
        stored = (await conn.execute(text("SELECT credentials_sealed FROM integrations"))).scalar()
    assert stored and TOKEN not in stored and SECRET not in stored


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"platform": "magento"}, "platform"),
        ({"credentials": {"access_token": TOKEN}}, "credentials"),
        ({"settings": {"serial_prefix": "12a"}}, "settings.serial_prefix"),
        ({"settings": {"no_such_switch": True}}, "settings.no_such_switch"),
        ({"settings": {"currency": "XXY"}}, "settings.currency"),
        ({"base_url": "ftp://127.0.0.1/"}, "base_url"),
    ],
)
async def test_a_bad_integration_is_refused_with_the_field_and_nothing_saved(
    client: httpx.AsyncClient, staff: dict[str, str], overrides: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/integrations", json=shopify_body(**overrides), headers=staff)

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] in ("invalid_request", "validation_error")
    assert field in json.dumps(problem)
    assert (await client.get("/v1/integrations", headers=staff)).json()["data"] == []


async def test_a_store_on_a_private_address_is_refused_by_default(
    app_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    response = await app_client.post("/v1/integrations", json=shopify_body(), headers=admin)
    assert response.status_code == 422
    assert "base_url" in response.text


async def test_patch_merges_settings_and_delete_forgets_the_integration(
    client: httpx.AsyncClient, staff: dict[str, str]
) -> None:
    integration = await created(client, staff)
    path = f"/v1/integrations/{integration['id']}"

    patched = await client.patch(
        path, json={"settings": {"pull_cards": True}, "enabled": False}, headers=staff
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["settings"]["pull_cards"] is True
    assert patched.json()["settings"]["sell_cards"] is True  # kept
    assert patched.json()["enabled"] is False

    assert (await client.delete(path, headers=staff)).status_code == 204
    gone = await client.get(path, headers=staff)
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


async def test_integrations_need_their_scope(client: httpx.AsyncClient) -> None:
    reader = await make_key(client, "cards:read", "webhooks:write")
    response = await client.post("/v1/integrations", json=shopify_body(), headers=reader)
    assert response.status_code == 403
    assert (await client.get("/v1/sync-exceptions", headers=reader)).status_code == 403


def signed(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


async def test_a_notification_with_a_bad_signature_is_refused_and_not_queued(
    client: httpx.AsyncClient, staff: dict[str, str]
) -> None:
    integration = await created(client, staff)
    body = json.dumps({"id": 450789469}).encode()

    response = await client.post(
        f"/v1/hooks/{integration['id']}",
        content=body,
        headers={"X-Shopify-Topic": "orders/paid", "X-Shopify-Hmac-Sha256": signed(body, "wrong")},
    )

    assert response.status_code == 401
    assert await queued(client) == 0


async def test_a_notification_is_queued_once_however_often_it_arrives(
    client: httpx.AsyncClient, staff: dict[str, str]
) -> None:
    integration = await created(client, staff)
    body = json.dumps({"id": 450789469}).encode()
    headers = {
        "X-Shopify-Topic": "orders/paid",
        "X-Shopify-Event-Id": "98880550-7158-44d4-b7cd-2c97c8a091b5",
        "X-Shopify-Hmac-Sha256": signed(body),
    }

    first = await client.post(f"/v1/hooks/{integration['id']}", content=body, headers=headers)
    again = await client.post(f"/v1/hooks/{integration['id']}", content=body, headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.headers["X-Omnigift-Duplicate"] == "true"
    assert await queued(client) == 1


async def test_a_notification_for_an_unknown_integration_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/hooks/int_nope", content=b"{}")
    assert response.status_code == 404


async def queued(client: httpx.AsyncClient) -> int:
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.db.read() as conn:
        return int(
            (
                await conn.execute(select(func.count()).select_from(inbound_notifications))
            ).scalar_one()
        )
