"""Error answers.

The status codes and their meanings are documented (integrations.md 3.3 [C]); the body shape
of API errors is not. The simulator answers ``{"httpCode", "httpMessage", "message",
"errorClass"}`` with string values, the shape third-party clients parse — unconfirmed [U].
Auth failures use the documented OAuth shape (3.1 [C]).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

HTTP_MESSAGES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
ERROR_CLASSES = {
    400: "InvalidArgumentException",
    403: "ForbiddenException",
    404: "NotFoundException",
    409: "ConflictException",
    422: "ValidationException",
    429: "RateLimitException",
}
DENIED = "The resource owner or authorization server denied the request."
NOT_VERIFIED = "Access token could not be verified"
REVOKED = "Access token has been revoked"


class ApiError(Exception):
    """A refusal with an HTTP status and a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def api_error(status: int, message: str | None = None) -> JSONResponse:
    """An API error body (shape unconfirmed [U])."""
    reason = HTTP_MESSAGES.get(status, "Error")
    body: dict[str, Any] = {
        "httpCode": str(status),
        "httpMessage": reason,
        "message": message or reason,
        "errorClass": ERROR_CLASSES.get(status, "Exception"),
    }
    return JSONResponse(body, status_code=status)


def access_denied(hint: str) -> JSONResponse:
    """401 for a missing, unknown, expired or revoked token (3.1 [C])."""
    body = {"error": "access_denied", "error_description": DENIED, "hint": hint}
    return JSONResponse(body, status_code=401)


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    """Token endpoint errors: ``invalid_request`` / ``invalid_grant`` / ``invalid_client``
    (3.1 [C] for the codes; the description texts are the simulator's own [U])."""
    return JSONResponse({"error": error, "error_description": description}, status_code=status)
