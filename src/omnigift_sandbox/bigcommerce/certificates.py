"""Gift certificate rules (integrations.md 2.2 / giftcard-apis.md 3.2): create, overwrite, show.

Pure functions over :class:`Store`; the routes in ``certificate_routes`` only parse and answer.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from .errors import ApiError
from .formats import FormatError, money, parse_date, parse_money, unix_string
from .state import Certificate, Store

REQUIRED = ("to_name", "to_email", "from_name", "from_email", "amount")
STATUSES = ("active", "pending", "disabled", "expired")
TEMPLATES = (
    "birthday.html",
    "boy.html",
    "girl.html",
    "celebration.html",
    "christmas.html",
    "general.html",
)
TEXT_FIELDS = ("to_name", "to_email", "from_name", "from_email")
CODE_KEEP = 20  # longer codes are trimmed to their first 20 characters [C]
MESSAGE_MAX = 250


def show(certificate: Certificate) -> dict[str, Any]:
    """The v2 JSON of a certificate: money as 4-dp strings, dates as Unix-seconds strings."""
    return {
        "id": certificate.id,
        "customer_id": certificate.customer_id,
        "order_id": certificate.order_id,
        "code": certificate.code,
        "to_name": certificate.to_name,
        "to_email": certificate.to_email,
        "from_name": certificate.from_name,
        "from_email": certificate.from_email,
        "amount": money(certificate.amount),
        "balance": money(certificate.balance),
        "status": certificate.status,
        "template": certificate.template,
        "message": certificate.message,
        "purchase_date": unix_string(certificate.purchase_date),
        "expiry_date": unix_string(certificate.expiry_date),
        "currency_code": certificate.currency_code,
    }


def create(
    store: Store, body: dict[str, Any], currencies: set[str], default_currency: str
) -> Certificate:
    """``POST /v2/gift_certificates``: check the body and add a certificate.

    The balance defaults to the amount [C]; a missing code is generated [C]; a code already in
    use is refused with 409 [U — the real message and status are not documented].
    """
    for name in REQUIRED:
        if body.get(name) in (None, ""):
            raise ApiError(400, f"The required field '{name}' was not supplied.")
    amount = _positive_amount(body["amount"])
    code = _code(store, body.get("code"), current=None) if body.get("code") else store.new_code()
    certificate = Certificate(
        id=store.next_id("certificate"),
        code=code,
        amount=amount,
        balance=amount,
        status="active",
        to_name="",
        to_email="",
        from_name="",
        from_email="",
        currency_code=default_currency,
        purchase_date=datetime.now(UTC),
    )
    _apply(store, certificate, body, currencies, creating=True)
    store.certificates[certificate.id] = certificate
    return certificate


def update(
    store: Store, certificate: Certificate, body: dict[str, Any], currencies: set[str]
) -> Certificate:
    """``PUT /v2/gift_certificates/{id}``: overwrite every writable field given.

    ``balance`` is overwritten as given: no ledger, no idempotency, last write wins [C]. It is not
    capped at the amount [U — BigCommerce documents no cap].
    """
    if "amount" in body:
        certificate.amount = _positive_amount(body["amount"])
    if body.get("code"):
        certificate.code = _code(store, body["code"], current=certificate)
    _apply(store, certificate, body, currencies, creating=False)
    return certificate


def _apply(
    store: Store,
    certificate: Certificate,
    body: dict[str, Any],
    currencies: set[str],
    *,
    creating: bool,
) -> None:
    # Validate everything before writing anything, so a refused PUT changes nothing.
    changes: dict[str, Any] = {}
    for name in TEXT_FIELDS:
        if name in body:
            changes[name] = _text(body[name], name)
    if body.get("balance") is not None:
        balance = _amount(body["balance"], "balance")
        if balance < 0:
            raise ApiError(400, "The field 'balance' must be greater than or equal to 0.")
        changes["balance"] = balance
    if "status" in body:
        if body["status"] not in STATUSES:
            raise ApiError(400, f"The field 'status' must be one of: {', '.join(STATUSES)}.")
        changes["status"] = body["status"]
    if "template" in body:
        if body["template"] not in TEMPLATES:
            raise ApiError(400, f"The field 'template' must be one of: {', '.join(TEMPLATES)}.")
        changes["template"] = body["template"]
    if "message" in body:
        message = _text(body["message"], "message")
        if len(message) > MESSAGE_MAX:
            raise ApiError(400, f"The field 'message' must be at most {MESSAGE_MAX} characters.")
        changes["message"] = message
    if "expiry_date" in body:
        changes["expiry_date"] = _expiry(body["expiry_date"])
    if "customer_id" in body:
        changes["customer_id"] = _int(body["customer_id"], "customer_id")
    if body.get("currency_code") is not None:
        if body["currency_code"] not in currencies:
            raise ApiError(400, "The field 'currency_code' is not a currency of this store.")
        changes["currency_code"] = body["currency_code"]
    for name, value in changes.items():
        setattr(certificate, name, value)
    if creating and "balance" not in changes:
        certificate.balance = certificate.amount


def _code(store: Store, value: object, current: Certificate | None) -> str:
    code = _text(value, "code").strip()[:CODE_KEEP]
    if not code:
        raise ApiError(400, "The field 'code' is invalid.")
    holder = store.certificate_by_code(code)
    if holder is not None and holder is not current:
        raise ApiError(409, f"The gift certificate code '{code}' is already in use.")
    return code


def _positive_amount(value: object) -> Decimal:
    amount = _amount(value, "amount")
    if amount <= 0:
        raise ApiError(400, "The field 'amount' must be greater than 0.")
    return amount


def _amount(value: object, name: str) -> Decimal:
    try:
        return parse_money(value, name)
    except FormatError as exc:
        raise ApiError(400, str(exc)) from exc


def _expiry(value: object) -> datetime | None:
    if value in (None, "", 0, "0"):
        return None
    try:
        return parse_date(value, "expiry_date")
    except FormatError as exc:
        raise ApiError(400, str(exc)) from exc


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ApiError(400, f"The field '{name}' must be a string.")
    return value


def _int(value: object, name: str) -> int:
    if isinstance(value, bool):
        raise ApiError(400, f"The field '{name}' must be an integer.")
    try:
        return int(str(value))
    except ValueError as exc:
        raise ApiError(400, f"The field '{name}' must be an integer.") from exc


def usable(certificate: Certificate, currency: str, now: datetime) -> str | None:
    """Why this certificate cannot pay in ``currency`` now, or ``None`` if it can.

    Only active, unexpired certificates in the cart's currency pay [C giftcard-apis.md 3.3].
    """
    if certificate.status != "active":
        return f"The gift certificate '{certificate.code}' is {certificate.status}."
    if certificate.expiry_date is not None and certificate.expiry_date <= now:
        return f"The gift certificate '{certificate.code}' has expired."
    if certificate.currency_code != currency:
        return f"The gift certificate '{certificate.code}' is not usable in {currency}."
    if certificate.balance <= 0:
        return f"The gift certificate '{certificate.code}' has no balance left."
    return None


def matches(certificate: Certificate, filters: dict[str, str]) -> bool:
    """Whether a certificate passes the v2 list filters (min_id, max_id, code, order_id, names)."""
    try:
        if "min_id" in filters and certificate.id < int(filters["min_id"]):
            return False
        if "max_id" in filters and certificate.id > int(filters["max_id"]):
            return False
        if "order_id" in filters and certificate.order_id != int(filters["order_id"]):
            return False
    except ValueError as exc:
        raise ApiError(400, "A filter value is not an integer.") from exc
    for name in ("code", *TEXT_FIELDS):
        if name in filters and getattr(certificate, name) != filters[name]:
            return False
    return True
