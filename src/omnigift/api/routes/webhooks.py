"""Webhook endpoints and their deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from omnigift.api.deps import RuntimeDep, require
from omnigift.api.routes.common import PROBLEMS, Limit, json_response
from omnigift.api.schemas import (
    Delivery,
    DeliveryList,
    ReplayRequest,
    ReplayResult,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointList,
    WebhookEndpointUpdate,
)
from omnigift.clock import utcnow
from omnigift.events import endpoints, queries
from omnigift.keys import Principal, Scope

router = APIRouter(tags=["webhooks"], responses=PROBLEMS)
Manager = Annotated[Principal, Depends(require(Scope.WEBHOOKS_WRITE))]


@router.post(
    "/v1/webhook-endpoints",
    status_code=201,
    response_model=WebhookEndpoint,
    summary="Subscribe a URL to events",
)
async def create(body: WebhookEndpointCreate, runtime: RuntimeDep, principal: Manager) -> Response:
    """The answer carries the signing secret (`whsec_...`), shown this once. Private, loopback
    and link-local addresses are refused unless OMNIGIFT_WEBHOOKS_ALLOW_PRIVATE_URLS=true."""
    async with runtime.db.transaction() as conn:
        view = await endpoints.create_endpoint(
            conn,
            runtime.endpoint_rules,
            utcnow(),
            url=body.url,
            event_types=body.event_types,
            description=body.description,
            enabled=body.enabled,
        )
    return json_response(view, 201)


@router.get(
    "/v1/webhook-endpoints", response_model=WebhookEndpointList, summary="List webhook endpoints"
)
async def list_all(runtime: RuntimeDep, principal: Manager) -> Response:
    async with runtime.db.read() as conn:
        return json_response({"data": await endpoints.list_endpoints(conn)})


@router.get(
    "/v1/webhook-endpoints/{endpoint_id}",
    response_model=WebhookEndpoint,
    summary="Get a webhook endpoint",
)
async def get(endpoint_id: str, runtime: RuntimeDep, principal: Manager) -> Response:
    async with runtime.db.read() as conn:
        return json_response(
            endpoints.endpoint_view(await endpoints.get_endpoint(conn, endpoint_id))
        )


@router.patch(
    "/v1/webhook-endpoints/{endpoint_id}",
    response_model=WebhookEndpoint,
    summary="Change a webhook endpoint",
)
async def patch(
    endpoint_id: str, body: WebhookEndpointUpdate, runtime: RuntimeDep, principal: Manager
) -> Response:
    """Change the URL, event types, description, or enable/disable it."""
    async with runtime.db.transaction() as conn:
        view = await endpoints.update_endpoint(
            conn, runtime.endpoint_rules, endpoint_id, utcnow(), body.model_dump(exclude_unset=True)
        )
    return json_response(view)


@router.delete(
    "/v1/webhook-endpoints/{endpoint_id}", status_code=204, summary="Delete a webhook endpoint"
)
async def remove(endpoint_id: str, runtime: RuntimeDep, principal: Manager) -> Response:
    async with runtime.db.transaction() as conn:
        await endpoints.delete_endpoint(conn, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
    response_model=WebhookEndpoint,
    summary="Rotate the signing secret",
)
async def rotate(endpoint_id: str, runtime: RuntimeDep, principal: Manager) -> Response:
    """A new secret, shown once; the old one keeps signing alongside it during the overlap
    (OMNIGIFT_WEBHOOK_SECRET_OVERLAP_HOURS)."""
    async with runtime.db.transaction() as conn:
        view = await endpoints.rotate_secret(conn, runtime.endpoint_rules, endpoint_id, utcnow())
    return json_response(view)


@router.get(
    "/v1/webhook-endpoints/{endpoint_id}/deliveries",
    response_model=DeliveryList,
    summary="The deliveries to an endpoint, with every attempt",
)
async def deliveries(
    endpoint_id: str,
    runtime: RuntimeDep,
    principal: Manager,
    limit: Limit = 50,
    cursor: str | None = None,
    state: str | None = None,
) -> Response:
    async with runtime.db.read() as conn:
        data, next_cursor = await queries.list_deliveries(conn, endpoint_id, limit, cursor, state)
    return json_response({"data": data, "next_cursor": next_cursor})


@router.post(
    "/v1/deliveries/{delivery_id}/retry",
    response_model=Delivery,
    summary="Send a delivery again now",
)
async def retry(delivery_id: str, runtime: RuntimeDep, principal: Manager) -> Response:
    async with runtime.db.transaction() as conn:
        return json_response(await queries.retry_delivery(conn, delivery_id, utcnow()))


@router.post(
    "/v1/webhook-endpoints/{endpoint_id}/replay",
    response_model=ReplayResult,
    summary="Send a window of past events again",
)
async def replay(
    endpoint_id: str, body: ReplayRequest, runtime: RuntimeDep, principal: Manager
) -> Response:
    async with runtime.db.transaction() as conn:
        queued = await queries.replay(conn, endpoint_id, body.since, utcnow())
    return json_response({"queued": queued})
