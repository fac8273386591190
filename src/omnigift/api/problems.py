"""RFC 9457 problem documents: every error the API gives, in one place.

``code`` is stable and machine-readable; it comes from the ledger's ``ErrorCode`` or from
``ApiErrorCode`` for errors of the HTTP layer itself.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from omnigift.ledger.errors import CustomerExists, ErrorCode, LedgerError, TooManyAttempts

log = structlog.get_logger()
PROBLEM_JSON = "application/problem+json"


class ApiErrorCode(StrEnum):
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    VALIDATION_ERROR = "validation_error"
    IDEMPOTENCY_KEY_REQUIRED = "idempotency_key_required"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    IDEMPOTENCY_KEY_IN_USE = "idempotency_key_in_use"
    TRANSACTION_ID_REUSED = "transaction_id_reused"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INTERNAL_ERROR = "internal_error"


STATUS_OF: dict[ErrorCode, int] = {
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INVALID_STATE: 409,
    ErrorCode.CURRENCY_MISMATCH: 409,
    ErrorCode.INSUFFICIENT_FUNDS: 409,
    ErrorCode.CARD_NOT_ACTIVE: 409,
    ErrorCode.CARD_EXPIRED: 409,
    ErrorCode.REFUND_EXCEEDS_REDEMPTION: 409,
    ErrorCode.CODE_TAKEN: 409,
    ErrorCode.CUSTOMER_EXISTS: 409,
    ErrorCode.RETURN_ID_REUSED: 409,
    ErrorCode.INVALID_CODE: 422,
    ErrorCode.EXPIRY_TOO_SOON: 422,
    ErrorCode.INVALID_REQUEST: 422,
    ErrorCode.TOO_MANY_ATTEMPTS: 429,
}
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Content",
    413: "Content Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class ApiError(Exception):
    """An error of the HTTP layer (auth, idempotency), rendered as a problem document."""

    def __init__(
        self, status: int, code: ApiErrorCode, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers


def problem(
    request: Request,
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, Any] | None = None,
) -> JSONResponse:
    """A problem document response (``extensions``: RFC 9457 extension members)."""
    body: dict[str, Any] = {
        "type": f"https://omnigift.dev/problems/{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": getattr(request.state, "request_id", None),
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extensions or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    """Render every error as a problem document."""

    @app.exception_handler(LedgerError)
    async def _ledger(request: Request, exc: LedgerError) -> JSONResponse:
        status = STATUS_OF[exc.code]
        headers = (
            {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else None
        )
        errors = (
            [{"field": exc.field, "message": exc.detail}] if status == 422 and exc.field else None
        )
        found = {"existing_id": exc.existing_id} if isinstance(exc, CustomerExists) else None
        return problem(
            request,
            status,
            exc.code.value,
            exc.detail,
            errors=errors,
            headers=headers,
            extensions=found,
        )

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return problem(request, exc.status, exc.code.value, exc.detail, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        return problem(request, 422, ApiErrorCode.VALIDATION_ERROR.value, detail, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: ApiErrorCode.NOT_FOUND, 405: ApiErrorCode.METHOD_NOT_ALLOWED}.get(
            exc.status_code, ApiErrorCode.VALIDATION_ERROR
        )
        return problem(request, exc.status_code, code.value, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", error_type=type(exc).__name__)
        return problem(request, 500, ApiErrorCode.INTERNAL_ERROR.value, "an unexpected error")
