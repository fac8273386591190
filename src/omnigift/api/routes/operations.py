"""The finance view of the ledger, health and metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from omnigift.api.deps import RuntimeDep, require
from omnigift.api.problems import ApiError, ApiErrorCode
from omnigift.api.routes.common import PROBLEMS, json_response
from omnigift.api.schemas import LedgerBalances
from omnigift.keys import Principal, Scope
from omnigift.ledger.queries import ledger_balances

router = APIRouter(responses=PROBLEMS)
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]


@router.get(
    "/v1/ledger/balances",
    response_model=LedgerBalances,
    tags=["ledger"],
    summary="Outstanding liability and system account balances",
)
async def balances(runtime: RuntimeDep, principal: Admin) -> Response:
    """Per currency: what is owed on cards, and each system account's balance."""
    async with runtime.db.read() as conn:
        return json_response({"data": await ledger_balances(conn)})


@router.get("/healthz", tags=["operations"], summary="Is the database answering?")
async def healthz(runtime: RuntimeDep) -> Response:
    try:
        async with runtime.db.read() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        raise ApiError(503, ApiErrorCode.INTERNAL_ERROR, "the database does not answer") from exc
    return json_response({"status": "ok"})


@router.get("/metrics", tags=["operations"], summary="Prometheus metrics")
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
