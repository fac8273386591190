"""Integrations with external platforms, their runs, reconciliation, and sync exceptions."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from omnigift.api.deps import RuntimeDep, require
from omnigift.api.routes.common import PROBLEMS, Limit, json_response
from omnigift.api.schemas import (
    Integration,
    IntegrationCreate,
    IntegrationList,
    IntegrationRun,
    IntegrationUpdate,
    SyncException,
    SyncExceptionList,
    SyncExceptionResolve,
)
from omnigift.clock import utcnow
from omnigift.connectors.base import PlatformError
from omnigift.keys import Principal, Scope
from omnigift.sync import exceptions, integrations, reconciliation, runs
from omnigift.sync.connections import ConnectorPool
from omnigift.sync.runs import RunKind

log = structlog.get_logger("omnigift.sync")
router = APIRouter(tags=["integrations"], responses=PROBLEMS)
Manager = Annotated[Principal, Depends(require(Scope.INTEGRATIONS_WRITE))]


def _pool(request: Request) -> ConnectorPool:
    pool: ConnectorPool = request.app.state.connectors
    return pool


async def _connect(request: Request, runtime: RuntimeDep, integration_id: str) -> None:
    """Check the platform answers and register its notifications; the outcome shows in health
    (a platform that is down now does not stop staff from saving the integration)."""
    live = await _pool(request).get(integration_id, fresh=True)
    now = utcnow()
    tracker = request.app.state.health
    try:
        await live.connector.check()
        if runtime.settings.public_url:
            hook = f"{runtime.settings.public_url.rstrip('/')}/v1/hooks/{integration_id}"
            await live.connector.subscribe(hook)
    except PlatformError as exc:
        log.warning("integration not connected", integration_id=integration_id, error=str(exc))
        await tracker.failure(integration_id, str(exc), now)
    else:
        await tracker.success(integration_id, now)


@router.post(
    "/v1/integrations", status_code=201, response_model=Integration, summary="Connect a platform"
)
async def create(
    body: IntegrationCreate, request: Request, runtime: RuntimeDep, principal: Manager
) -> Response:
    """Credentials are sealed at rest and never returned. The platform is checked at once and
    (with OMNIGIFT_PUBLIC_URL set) its notifications are registered to this service. With
    `historical_sync` (default) the first runs export every existing card and, with
    `pull_cards`, import every platform card (`GET .../runs`)."""
    async with runtime.db.transaction() as conn:
        view = await integrations.create_integration(
            conn,
            runtime.integration_rules,
            utcnow(),
            platform=body.platform,
            name=body.name,
            base_url=body.base_url,
            credentials=body.credentials,
            settings=body.settings,
        )
    await _connect(request, runtime, view["id"])
    settings = view["settings"]
    if settings["historical_sync"]:
        async with runtime.db.transaction() as conn:
            for wanted, kind in (("push_cards", RunKind.EXPORT), ("pull_cards", RunKind.IMPORT)):
                if settings[wanted]:
                    await runs.start_run(conn, view["id"], kind, utcnow())
    async with runtime.db.read() as conn:
        return json_response(await integrations.get_integration(conn, view["id"]), 201)


@router.get("/v1/integrations", response_model=IntegrationList, summary="List integrations")
async def list_all(runtime: RuntimeDep, principal: Manager) -> Response:
    async with runtime.db.read() as conn:
        return json_response({"data": await integrations.list_integrations(conn)})


@router.get(
    "/v1/integrations/{integration_id}",
    response_model=Integration,
    summary="An integration and its health",
)
async def get(integration_id: str, runtime: RuntimeDep, principal: Manager) -> Response:
    """Health: connected, failing since, last success, last error, pending and failed work."""
    async with runtime.db.read() as conn:
        return json_response(await integrations.get_integration(conn, integration_id))


@router.patch(
    "/v1/integrations/{integration_id}", response_model=Integration, summary="Change settings"
)
async def patch(
    integration_id: str,
    body: IntegrationUpdate,
    request: Request,
    runtime: RuntimeDep,
    principal: Manager,
) -> Response:
    """Settings are merged into the current ones; credentials are replaced whole."""
    changes = body.model_dump(exclude_unset=True)
    async with runtime.db.transaction() as conn:
        await integrations.update_integration(
            conn, runtime.integration_rules, integration_id, changes, utcnow()
        )
    if {"base_url", "credentials"} & changes.keys():
        await _connect(request, runtime, integration_id)
    async with runtime.db.read() as conn:
        return json_response(await integrations.get_integration(conn, integration_id))


@router.delete("/v1/integrations/{integration_id}", status_code=204, summary="Disconnect")
async def remove(integration_id: str, runtime: RuntimeDep, principal: Manager) -> Response:
    """Forgets the integration, its mirrors and queues. The cards and their history stay."""
    async with runtime.db.transaction() as conn:
        await integrations.delete_integration(conn, integration_id)
    return Response(status_code=204)


async def _start(runtime: RuntimeDep, integration_id: str, kind: RunKind) -> Response:
    async with runtime.db.transaction() as conn:
        await integrations.integration_row(conn, integration_id)
        return json_response(await runs.start_run(conn, integration_id, kind, utcnow()), 202)


@router.post(
    "/v1/integrations/{integration_id}/import",
    status_code=202,
    response_model=IntegrationRun,
    summary="Import every platform card into the ledger",
)
async def start_import(integration_id: str, runtime: RuntimeDep, principal: Manager) -> Response:
    """A run, done by the worker: follow `GET /v1/integrations/{id}/runs/{run_id}` for progress
    and the report (imported, already in the ledger, refused with the reason)."""
    return await _start(runtime, integration_id, RunKind.IMPORT)


@router.post(
    "/v1/integrations/{integration_id}/export",
    status_code=202,
    response_model=IntegrationRun,
    summary="Mirror every existing card to the platform",
)
async def start_export(integration_id: str, runtime: RuntimeDep, principal: Manager) -> Response:
    """Cards issued before the integration existed; the report lists codes it can't take."""
    return await _start(runtime, integration_id, RunKind.EXPORT)


@router.get(
    "/v1/integrations/{integration_id}/runs/{run_id}",
    response_model=IntegrationRun,
    summary="A run's progress and report",
)
async def get_run(
    integration_id: str, run_id: str, runtime: RuntimeDep, principal: Manager
) -> Response:
    async with runtime.db.read() as conn:
        return json_response(await runs.get_run(conn, run_id))


@router.get(
    "/v1/integrations/{integration_id}/runs",
    summary="Recent runs of an integration",
)
async def list_runs(integration_id: str, runtime: RuntimeDep, principal: Manager) -> Response:
    async with runtime.db.read() as conn:
        await integrations.integration_row(conn, integration_id)
        return json_response({"data": await runs.list_runs(conn, integration_id)})


@router.get(
    "/v1/integrations/{integration_id}/reconciliation",
    summary="Compare every mirror with the ledger",
)
async def reconcile(
    integration_id: str, request: Request, runtime: RuntimeDep, principal: Manager
) -> Response:
    """Reads every mirror from the platform now and lists drift (balance, state, expiry, or
    missing). Mirrors with work still queued are counted as `pending`, not drift."""
    live = await _pool(request).get(integration_id, fresh=True)
    comparison = await reconciliation.compare(
        runtime.db, live.connector, integration_id, runtime.policy
    )
    return json_response({"integration_id": integration_id, **comparison.report()})


@router.post(
    "/v1/integrations/{integration_id}/reconciliation/repair",
    status_code=202,
    response_model=IntegrationRun,
    summary="Repair drift, the safe way",
)
async def repair(integration_id: str, runtime: RuntimeDep, principal: Manager) -> Response:
    """A run: catch up on the platform's orders, compare, re-base and re-push every drifted
    mirror. Never overwrites a platform spend the ledger has not taken in."""
    return await _start(runtime, integration_id, RunKind.REPAIR)


@router.get("/v1/sync-exceptions", response_model=SyncExceptionList, summary="Sync exceptions")
async def list_exceptions(
    runtime: RuntimeDep,
    principal: Manager,
    state: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None,
    integration_id: str | None = None,
    gift_card_id: str | None = None,
    limit: Limit = 100,
) -> Response:
    """What platforms did that the ledger could not simply take (an overdraft, a code a
    platform can't hold, unexplained drift), newest first."""
    async with runtime.db.read() as conn:
        data = await exceptions.list_exceptions(
            conn,
            state=state,
            integration_id=integration_id,
            account_id=gift_card_id,
            limit=limit,
        )
    return json_response({"data": data})


@router.post(
    "/v1/sync-exceptions/{exception_id}/resolve",
    response_model=SyncException,
    summary="Mark an exception handled",
)
async def resolve(
    exception_id: str, body: SyncExceptionResolve, runtime: RuntimeDep, principal: Manager
) -> Response:
    async with runtime.db.transaction() as conn:
        view = await exceptions.resolve_exception(conn, exception_id, body.resolution, utcnow())
    return json_response(view)
