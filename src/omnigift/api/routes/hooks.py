"""Inbound notifications from platforms: verified, queued durably, answered at once."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response

from omnigift.api.deps import RuntimeDep
from omnigift.api.problems import ApiError, ApiErrorCode
from omnigift.clock import utcnow
from omnigift.connectors.base import BadSignature
from omnigift.ledger.errors import NotFound
from omnigift.sync import inbound
from omnigift.sync.connections import ConnectorPool

log = structlog.get_logger("omnigift.sync")
router = APIRouter(tags=["integrations"])
MAX_BODY = 5 * 1024 * 1024


@router.post(
    "/v1/hooks/{integration_id}",
    status_code=200,
    summary="Receive a platform's notification",
    responses={401: {"description": "The signature does not verify"}},
)
async def receive(integration_id: str, request: Request, runtime: RuntimeDep) -> Response:
    """Called by the platform, not by API clients: authenticated by the platform's signature
    (Shopify: X-Shopify-Hmac-Sha256; BigCommerce: Standard Webhooks headers, or the token
    header we registered). The notification is stored and processed by the worker; a duplicate
    (same platform event id) is stored once. Answers 200 in both cases."""
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiError(413, ApiErrorCode.VALIDATION_ERROR, "notification too large")
    pool: ConnectorPool = request.app.state.connectors
    try:
        live = await pool.get(integration_id)
    except NotFound:
        raise ApiError(404, ApiErrorCode.NOT_FOUND, "no such integration") from None
    try:
        note = live.connector.verify(dict(request.headers), body)
    except (BadSignature, ValueError) as exc:
        log.warning("inbound notification refused", integration_id=integration_id, why=str(exc))
        raise ApiError(401, ApiErrorCode.UNAUTHORIZED, "the signature does not verify") from None
    fresh = await inbound.store(runtime.db, integration_id, note, utcnow())
    if fresh:
        runtime.inbound_arrived.set()
    # A duplicate is answered 200 too: the platform must stop resending it.
    return Response(status_code=200, headers={"X-Omnigift-Duplicate": str(not fresh).lower()})
