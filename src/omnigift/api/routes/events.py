"""The event log and the live stream (Server-Sent Events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import Response
from sse_starlette.sse import EventSourceResponse

from omnigift.api.deps import RuntimeDep, require
from omnigift.api.routes.common import PROBLEMS, Limit, json_response
from omnigift.api.schemas import Event, EventList
from omnigift.events.queries import EventFilter, get_event, list_events
from omnigift.events.stream import follow, start_position
from omnigift.keys import Principal, Scope

router = APIRouter(tags=["events"], responses=PROBLEMS)
Reader = Annotated[Principal, Depends(require(Scope.EVENTS_READ))]


def _types(raw: str | None) -> list[str] | None:
    return [t.strip() for t in raw.split(",") if t.strip()] if raw else None


@router.get("/v1/events", response_model=EventList, summary="The event log")
async def list_all(
    runtime: RuntimeDep,
    principal: Reader,
    limit: Limit = 50,
    cursor: str | None = None,
    type: Annotated[
        str | None, Query(description="one type, or several separated by commas")
    ] = None,
    gift_card_id: str | None = None,
    created_after: datetime | None = None,
) -> Response:
    filters = EventFilter(_types(type), gift_card_id, created_after)
    async with runtime.db.read() as conn:
        data, next_cursor = await list_events(conn, filters, limit, cursor)
    return json_response({"data": data, "next_cursor": next_cursor})


@router.get(
    "/v1/events/stream",
    summary="Follow events live (Server-Sent Events)",
    response_class=EventSourceResponse,
)
async def stream(
    runtime: RuntimeDep,
    principal: Reader,
    gift_card_id: str | None = None,
    types: Annotated[str | None, Query(description="event types, separated by commas")] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    """Each SSE message is one Event (`id:` is the event id, `event:` its type). A client that
    reconnects with `Last-Event-ID` gets exactly what it missed, then follows live."""
    filters = EventFilter(_types(types), gift_card_id)
    after = await start_position(runtime.db, last_event_id)

    async def messages() -> AsyncIterator[dict[str, Any]]:
        async for event in follow(
            runtime.db, filters, after, poll=runtime.settings.dispatch_interval_seconds
        ):
            yield {
                "id": event["id"],
                "event": event["type"],
                "data": json.dumps(event, separators=(",", ":")),
            }

    return EventSourceResponse(messages(), ping=15)


@router.get("/v1/events/{event_id}", response_model=Event, summary="Get an event")
async def get(event_id: str, runtime: RuntimeDep, principal: Reader) -> Response:
    async with runtime.db.read() as conn:
        return json_response(await get_event(conn, event_id))
