"""The v3 hooks registry (integrations.md 2.4): ``/v3/hooks`` and ``/v3/hooks/{id}``.

Deviation: real BigCommerce only accepts HTTPS destinations on port 443 and takes up to a
minute to activate a hook [C]; the simulator accepts any http(s) URL (loopback receivers) and
activates at once.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .errors import ApiError
from .gate import read_json, vendor
from .simulator import Simulator
from .state import Hook, Store

BASE = "/stores/{store_hash}/v3/hooks"


def show(hook: Hook, store_hash: str) -> dict[str, Any]:
    """A hook as v3 shows it."""
    return {
        "id": hook.id,
        "store_hash": store_hash,
        "scope": hook.scope,
        "destination": hook.destination,
        "is_active": hook.is_active,
        "headers": hook.headers,
        "created_at": hook.created_at,
        "updated_at": hook.updated_at,
    }


def register(store: Store, body: dict[str, Any]) -> Hook:
    """Check a ``POST /v3/hooks`` body and add the hook."""
    for name in ("scope", "destination"):
        if not body.get(name):
            raise ApiError(422, "The hook is not valid.", {name: f"{name} is required"})
    now = int(time.time())
    hook = Hook(
        id=store.next_id("hook"),
        scope=_scope(body["scope"]),
        destination=_destination(body["destination"]),
        is_active=_flag(body.get("is_active", True)),
        headers=_headers(body.get("headers") or {}),
        created_at=now,
        updated_at=now,
    )
    store.hooks[hook.id] = hook
    return hook


def change(hook: Hook, body: dict[str, Any]) -> Hook:
    """``PUT /v3/hooks/{id}``: overwrite the given fields (checked first, then written)."""
    changes: dict[str, Any] = {}
    if "scope" in body:
        changes["scope"] = _scope(body["scope"])
    if "destination" in body:
        changes["destination"] = _destination(body["destination"])
    if "is_active" in body:
        changes["is_active"] = _flag(body["is_active"])
    if "headers" in body:
        changes["headers"] = _headers(body["headers"] or {})
    for name, value in changes.items():
        setattr(hook, name, value)
    hook.updated_at = int(time.time())
    return hook


def _scope(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("store/"):
        raise ApiError(422, "The hook is not valid.", {"scope": "scope must start with store/"})
    return value


def _destination(value: object) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApiError(422, "The hook is not valid.", {"destination": "destination must be a URL"})
    return str(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ApiError(422, "The hook is not valid.", {"is_active": "is_active must be a boolean"})
    return value


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ApiError(
            422, "The hook is not valid.", {"headers": "headers must map strings to strings"}
        )
    return dict(value)


async def create_hook(request: Request, sim: Simulator) -> Response:
    """``POST /v3/hooks`` → ``{"data": hook, "meta": {}}``."""
    hook = register(sim.store, await read_json(request))
    return JSONResponse({"data": show(hook, sim.config.store_hash), "meta": {}})


async def list_hooks(request: Request, sim: Simulator) -> Response:
    """``GET /v3/hooks``."""
    data = [show(h, sim.config.store_hash) for h in sim.store.hooks.values()]
    return JSONResponse({"data": data, "meta": {}})


async def get_hook(request: Request, sim: Simulator) -> Response:
    """``GET /v3/hooks/{id}``."""
    return JSONResponse({"data": show(_find(request, sim), sim.config.store_hash), "meta": {}})


async def put_hook(request: Request, sim: Simulator) -> Response:
    """``PUT /v3/hooks/{id}``."""
    hook = change(_find(request, sim), await read_json(request))
    return JSONResponse({"data": show(hook, sim.config.store_hash), "meta": {}})


async def delete_hook(request: Request, sim: Simulator) -> Response:
    """``DELETE /v3/hooks/{id}`` answers the deleted hook."""
    hook = _find(request, sim)
    del sim.store.hooks[hook.id]
    return JSONResponse({"data": show(hook, sim.config.store_hash), "meta": {}})


def _find(request: Request, sim: Simulator) -> Hook:
    try:
        hook_id = int(request.path_params["hook_id"])
    except ValueError:
        hook_id = -1
    hook = sim.store.hooks.get(hook_id)
    if hook is None:
        raise ApiError(404, "The hook was not found.")
    return hook


routes = [
    Route(BASE, vendor("v3", list_hooks), methods=["GET"]),
    Route(BASE, vendor("v3", create_hook), methods=["POST"]),
    Route(BASE + "/{hook_id}", vendor("v3", get_hook), methods=["GET"]),
    Route(BASE + "/{hook_id}", vendor("v3", put_hook), methods=["PUT"]),
    Route(BASE + "/{hook_id}", vendor("v3", delete_hook), methods=["DELETE"]),
]
