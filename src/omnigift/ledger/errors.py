"""Every way a ledger command can be refused, each with a stable machine-readable code.

The HTTP layer maps these to problem documents in one place (``omnigift.api.problems``); nothing
here knows about HTTP.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable codes that clients may rely on (the ``code`` of a problem document)."""

    NOT_FOUND = "not_found"
    INVALID_STATE = "invalid_state"
    CURRENCY_MISMATCH = "currency_mismatch"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    CARD_NOT_ACTIVE = "card_not_active"
    CARD_EXPIRED = "card_expired"
    REFUND_EXCEEDS_REDEMPTION = "refund_exceeds_redemption"
    CODE_TAKEN = "code_taken"
    INVALID_CODE = "invalid_code"
    EXPIRY_TOO_SOON = "expiry_too_soon"
    INVALID_REQUEST = "invalid_request"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    CUSTOMER_EXISTS = "customer_exists"
    RETURN_ID_REUSED = "return_id_reused"


class LedgerError(Exception):
    """A command the ledger refused. Nothing was written."""

    code: ErrorCode = ErrorCode.INVALID_REQUEST

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field


class NotFound(LedgerError):
    code = ErrorCode.NOT_FOUND


class InvalidState(LedgerError):
    code = ErrorCode.INVALID_STATE


class CurrencyMismatch(LedgerError):
    code = ErrorCode.CURRENCY_MISMATCH


class InsufficientFunds(LedgerError):
    code = ErrorCode.INSUFFICIENT_FUNDS


class CardNotActive(LedgerError):
    code = ErrorCode.CARD_NOT_ACTIVE


class CardExpired(LedgerError):
    code = ErrorCode.CARD_EXPIRED


class RefundExceedsRedemption(LedgerError):
    code = ErrorCode.REFUND_EXCEEDS_REDEMPTION


class CodeTaken(LedgerError):
    code = ErrorCode.CODE_TAKEN


class InvalidCodeError(LedgerError):
    code = ErrorCode.INVALID_CODE


class ExpiryTooSoon(LedgerError):
    code = ErrorCode.EXPIRY_TOO_SOON


class InvalidRequest(LedgerError):
    code = ErrorCode.INVALID_REQUEST


class TooManyAttempts(LedgerError):
    code = ErrorCode.TOO_MANY_ATTEMPTS

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class CustomerExists(LedgerError):
    """Another live customer already has this e-mail or phone number."""

    code = ErrorCode.CUSTOMER_EXISTS

    def __init__(self, detail: str, *, field: str | None = None, existing_id: str) -> None:
        super().__init__(detail, field=field)
        self.existing_id = existing_id


class ReturnIdReused(LedgerError):
    """A return already refunded, asked again with another amount, currency, method or order."""

    code = ErrorCode.RETURN_ID_REUSED
