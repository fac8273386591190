"""The two error shapes BigCommerce answers with, as exceptions mapped to responses in one place.

v2: ``[{"status": 400, "message": "..."}]``; v3: ``{"status", "title", "type", "errors"}``
(integrations.md 2.5 [C]).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

V3_ERROR_TYPE = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"


class ApiError(Exception):
    """A refusal with an HTTP status; rendered in the v2 or v3 shape by the route's API family."""

    def __init__(self, status: int, message: str, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or {}


def v2_error(status: int, message: str) -> JSONResponse:
    """A v2 error body: a one-element list."""
    return JSONResponse([{"status": status, "message": message}], status_code=status)


def v3_error(status: int, title: str, errors: dict[str, str] | None = None) -> JSONResponse:
    """A v3 error body."""
    body: dict[str, Any] = {
        "status": status,
        "title": title,
        "type": V3_ERROR_TYPE,
        "errors": errors or {},
    }
    return JSONResponse(body, status_code=status)


def render(api: str, error: ApiError) -> JSONResponse:
    """Render an :class:`ApiError` for the ``v2`` or ``v3`` family."""
    if api == "v2":
        return v2_error(error.status, error.message)
    return v3_error(error.status, error.message, error.errors)
