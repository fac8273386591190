"""API keys, for staff with the admin scope (the CLI `omnigift keys` does the same)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from omnigift.api.deps import RuntimeDep, require
from omnigift.api.routes.common import PROBLEMS, json_response
from omnigift.api.schemas import ApiKey, ApiKeyCreate, ApiKeyList
from omnigift.clock import utcnow
from omnigift.keys import Principal, Scope, create_key, list_keys, revoke_key

router = APIRouter(prefix="/v1/api-keys", tags=["api keys"], responses=PROBLEMS)
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]


@router.post("", status_code=201, response_model=ApiKey, summary="Create an API key")
async def create(body: ApiKeyCreate, runtime: RuntimeDep, principal: Admin) -> Response:
    """The answer carries the key's secret, this once; only its hash is stored."""
    async with runtime.db.transaction() as conn:
        key, secret = await create_key(
            conn,
            body.name,
            body.scopes,
            utcnow(),
            channel=body.channel,
            location_id=body.location_id,
        )
    return json_response({**key, "secret": secret}, 201)


@router.get("", response_model=ApiKeyList, summary="List API keys (never their secrets)")
async def list_all(runtime: RuntimeDep, principal: Admin) -> Response:
    async with runtime.db.read() as conn:
        return json_response({"data": await list_keys(conn)})


@router.delete("/{key_id}", status_code=204, summary="Revoke an API key")
async def revoke(key_id: str, runtime: RuntimeDep, principal: Admin) -> Response:
    """It stops working everywhere within OMNIGIFT_AUTH_CACHE_SECONDS."""
    async with runtime.db.transaction() as conn:
        await revoke_key(conn, key_id, utcnow())
    return Response(status_code=204)
