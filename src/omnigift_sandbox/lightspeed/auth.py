"""OAuth 2 as R-Series does it (integrations.md 3.1 [C]): an authorization code grant, a
token endpoint for ``authorization_code`` and ``refresh_token`` grants, revocation, and the
bearer check every API call passes.

Real hosts: ``cloud.lightspeedapp.com/auth/oauth/...`` for auth, ``api.lightspeedapp.com`` for
the API; the simulator serves both paths on one host.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .errors import NOT_VERIFIED, REVOKED, access_denied, api_error, oauth_error
from .runtime import Simulator
from .state import Store, Token

CODE_TTL = 60.0  # an authorization code is valid 60 s [C]


def check_bearer(store: Store, request: Request) -> Token | Response:
    """The token a request carries, or the documented 401 (3.1 [C]).

    An unknown or expired token answers "could not be verified"; a revoked one "has been
    revoked". Using a token issued by a refresh revokes the refresh token it replaced [C].
    """
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value:
        return access_denied(NOT_VERIFIED)
    token = store.tokens.get(value.strip())
    if token is None:
        return access_denied(NOT_VERIFIED)
    if token.revoked:
        return access_denied(REVOKED)
    if token.expires_at is not None and store.clock.monotonic() >= token.expires_at:
        return access_denied(NOT_VERIFIED)
    if token.replaces is not None:
        old = store.refresh_tokens.pop(token.replaces, None)
        if old is not None:
            old.revoked = True
        token.replaces = None
    return token


def issue(sim: Simulator, scopes: list[str], replaces: str | None = None) -> Token:
    """A fresh access + refresh token pair, valid ``token_ttl`` seconds."""
    store = sim.store
    token = Token(
        access=store.new_secret("eyJ0e"),
        refresh=store.new_secret("def50"),
        expires_at=sim.clock.monotonic() + sim.config.token_ttl,
        scopes=scopes,
        replaces=replaces,
    )
    store.tokens[token.access] = token
    store.refresh_tokens[token.refresh] = token
    return token


async def _form(request: Request) -> dict[str, Any]:
    """Form fields (documented) or a JSON body (also shown in the docs)."""
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    # URL-encoded form fields; multipart (``curl -F``) is not parsed (no multipart library).
    pairs = parse_qsl((await request.body()).decode("utf-8", "replace"))
    return dict(pairs)


def routes(sim: Simulator) -> list[Route]:
    """``/auth/oauth/authorize``, ``/auth/oauth/token``, ``/auth/oauth/revoke``."""

    async def authorize(request: Request) -> Response:
        """The merchant approves at once: a code for ``redirect_uri`` (or JSON without one —
        the simulator's own convenience [U])."""
        params = request.query_params
        if params.get("response_type") != "code" or params.get("client_id") != sim.config.client_id:
            return oauth_error(400, "invalid_request", "Unknown client or response_type.")
        code = sim.store.new_secret("code")
        scope = params.get("scope", " ".join(sim.config.scopes)).replace("+", " ")
        sim.store.codes[code] = (scope, sim.clock.monotonic() + CODE_TTL)
        answer = {"code": code, "state": params.get("state", "")}
        redirect = params.get("redirect_uri")
        if redirect:
            joiner = "&" if "?" in redirect else "?"
            return RedirectResponse(redirect + joiner + urlencode(answer), status_code=302)
        return JSONResponse(answer)

    async def token(request: Request) -> Response:
        fault = sim.faults.take("oauth", "oauth", "POST")
        if fault is not None and fault.kind in ("status", "down"):
            return api_error(fault.status if fault.kind == "status" else 503)
        if fault is not None and fault.kind == "throttle":
            throttled = api_error(429, "Too many token requests.")
            throttled.headers["Retry-After"] = str(max(1, round(fault.seconds)))
            return throttled
        if fault is not None and fault.kind == "latency":
            await asyncio.sleep(fault.seconds)
        form = await _form(request)
        if form.get("client_id") != sim.config.client_id or (
            "client_secret" in form and form["client_secret"] != sim.config.client_secret
        ):
            return oauth_error(401, "invalid_client", "Client authentication failed.")
        grant = form.get("grant_type")
        if grant == "authorization_code":
            entry = sim.store.codes.pop(str(form.get("code", "")), None)
            if entry is None or sim.clock.monotonic() >= entry[1]:
                return oauth_error(400, "invalid_grant", "The authorization code is invalid.")
            issued = issue(sim, entry[0].split())
        elif grant == "refresh_token":
            presented = form.get("refresh_token")
            if not presented:
                return oauth_error(400, "invalid_request", "The refresh token is missing.")
            previous = sim.store.refresh_tokens.get(str(presented))
            if previous is None or previous.revoked:
                return oauth_error(400, "invalid_grant", "The refresh token is invalid.")
            issued = issue(sim, list(previous.scopes), replaces=previous.refresh)
        else:
            return oauth_error(400, "unsupported_grant_type", "Unsupported grant_type.")
        body = {
            "token_type": "Bearer",
            "expires_in": sim.config.token_ttl,
            "access_token": issued.access,
            "refresh_token": issued.refresh,
        }
        if fault is not None and fault.kind == "ambiguous":
            return api_error(fault.status)
        return JSONResponse(body)

    async def revoke(request: Request) -> Response:
        form = await _form(request)
        if form.get("client_id") != sim.config.client_id:
            return oauth_error(401, "invalid_client", "Client authentication failed.")
        found = sim.store.refresh_tokens.pop(str(form.get("refresh_token", "")), None)
        if found is None:
            return oauth_error(400, "invalid_grant", "The refresh token is invalid.")
        found.revoked = True
        return JSONResponse({})

    return [
        Route("/auth/oauth/authorize", authorize, methods=["GET"]),
        Route("/auth/oauth/token", token, methods=["POST"]),
        Route("/auth/oauth/revoke", revoke, methods=["POST"]),
    ]
