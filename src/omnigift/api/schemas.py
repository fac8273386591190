"""Request and response shapes of the HTTP API (API.md), kept apart from tables and rules."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt

from omnigift.ledger.cards import ActivityType, CardType
from omnigift.ledger.issuing import LotSpec
from omnigift.ledger.lots import LotKind
from omnigift.money import MAX_AMOUNT, is_known_currency


def _known_currency(code: str) -> str:
    if not is_known_currency(code):
        raise ValueError(f"{code} is not an ISO 4217 currency code (or PTS)")
    return code


Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$"), AfterValidator(_known_currency)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Money(Strict):
    """An amount in the currency's minor unit (cents): an integer, never a float."""

    amount: Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT)]
    currency: Currency


class MoneyOut(BaseModel):
    amount: int
    currency: str


class LotIn(Strict):
    kind: LotKind = LotKind.PAID
    expires_at: datetime | None = None

    def to_spec(self) -> LotSpec:
        return LotSpec(kind=self.kind, expires_at=self.expires_at)


class Recipient(Strict):
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40)
    message: str | None = Field(default=None, max_length=2000)


class Reference(BaseModel):
    model_config = ConfigDict(extra="allow")
    order_id: str | None = None
    sale_id: str | None = None
    return_id: str | None = None
    external_id: str | None = None


Metadata = Annotated[dict[str, Any], Field(max_length=50)]


class GiftCardCreate(Strict):
    type: CardType = CardType.DIGITAL
    currency: Currency
    initial_value: Money | None = None
    initial_lot: LotIn | None = None
    code: str | None = Field(default=None, min_length=1, max_length=40)
    pin: str | None = Field(default=None, pattern=r"^[0-9]{4,8}$")
    expires_at: datetime | None = None
    customer_id: str | None = Field(default=None, max_length=40)
    recipient: Recipient | None = None
    metadata: Metadata = Field(default_factory=dict)
    activate: bool | None = None
    deliver: bool = Field(
        default=False,
        description="e-mail the card (code, QR code, message) to `recipient.email`",
    )
    deliver_at: datetime | None = Field(
        default=None, description="with `deliver`: when to send it (a gift for a birthday)"
    )


class Origin(BaseModel):
    channel: str
    integration_id: str | None = None
    location_id: str | None = None
    api_key_id: str | None = None
    staff_user_id: str | None = None


class IssuedVia(BaseModel):
    channel: str
    integration_id: str | None
    location_id: str | None


class LotOut(BaseModel):
    id: str
    kind: LotKind
    remaining: MoneyOut
    expires_at: datetime | None


class GiftCard(BaseModel):
    id: str
    type: CardType
    state: Literal["pending", "active", "frozen", "deactivated", "expired"]
    code_last4: str
    masked_code: str
    code: str | None = Field(
        default=None, description="Only in the response that created the card, or on reveal."
    )
    balance: MoneyOut
    available: MoneyOut
    initial_value: MoneyOut | None
    currency: str
    expires_at: datetime | None
    customer_id: str | None
    recipient: dict[str, Any] | None
    issued_via: IssuedVia
    pin_required: bool
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    version: int
    lots: list[LotOut] | None = None
    bonuses: list[Bonus] | None = Field(
        default=None, description="promotions this card's purchase earned (issue answers only)"
    )


class GiftCardList(BaseModel):
    data: list[GiftCard]
    next_cursor: str | None


class ActivityCreate(Strict):
    type: ActivityType
    amount: Money | None = None
    reason: str | None = Field(default=None, max_length=1000)
    reference: Reference | None = None
    metadata: Metadata | None = None
    redeem_activity_id: str | None = Field(default=None, max_length=40)
    lot: LotIn | None = None


class Activity(BaseModel):
    id: str
    gift_card_id: str | None = Field(default=None, description="the card (absent on store credit)")
    store_credit_id: str | None = Field(
        default=None, description="the store credit wallet (absent on a card)"
    )
    type: ActivityType
    amount: MoneyOut | None
    balance_after: MoneyOut
    state_after: str
    reference: dict[str, Any] | None
    reason: str | None
    metadata: dict[str, Any]
    redeem_activity_id: str | None
    hold_id: str | None
    origin: Origin
    created_at: datetime


class ActivityList(BaseModel):
    data: list[Activity]
    next_cursor: str | None


class LookupRequest(Strict):
    code: str = Field(min_length=1, max_length=64)
    pin: str | None = Field(default=None, max_length=16)


class CodeAttach(Strict):
    code: str = Field(
        min_length=8,
        max_length=64,
        description="The physical serial, 8-20 letters and digits (spaces and dashes ignored)",
    )


class RedemptionCreate(Strict):
    code: str = Field(min_length=1, max_length=64)
    pin: str | None = Field(default=None, max_length=16)
    amount: Money
    allow_partial: bool = False
    reference: Reference | None = None
    metadata: Metadata | None = None


class HoldCreate(Strict):
    amount: Money
    expires_in: int | None = Field(default=None, ge=1)
    reference: Reference | None = None


class CaptureRequest(Strict):
    amount: Money | None = None


class Hold(BaseModel):
    id: str
    gift_card_id: str | None = Field(default=None, description="the card (absent on store credit)")
    store_credit_id: str | None = Field(
        default=None, description="the store credit wallet (absent on a card)"
    )
    state: Literal["open", "captured", "voided", "expired"]
    amount: MoneyOut
    captured_amount: MoneyOut | None
    capture_activity_id: str | None
    reference: dict[str, Any] | None
    origin: dict[str, Any]
    expires_at: datetime
    created_at: datetime
    updated_at: datetime


class CurrencyBalances(BaseModel):
    currency: str
    outstanding_liability: MoneyOut
    card_count: int
    store_credit_liability: MoneyOut
    store_credit_count: int
    system_accounts: dict[str, MoneyOut]


class LedgerBalances(BaseModel):
    data: list[CurrencyBalances]


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: str | None
    errors: list[dict[str, str]] | None = None


class WebhookEndpointCreate(Strict):
    url: str = Field(min_length=8, max_length=2000)
    event_types: list[str] = Field(min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=1000)
    enabled: bool = True


class WebhookEndpointUpdate(Strict):
    url: str | None = Field(default=None, min_length=8, max_length=2000)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=50)
    description: str | None = Field(default=None, max_length=1000)
    enabled: bool | None = None


class WebhookEndpoint(BaseModel):
    id: str
    url: str
    description: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    secret_rotation_ends_at: datetime | None
    created_at: datetime
    updated_at: datetime
    secret: str | None = Field(
        default=None, description="Only when the endpoint is created or its secret rotated."
    )


class WebhookEndpointList(BaseModel):
    data: list[WebhookEndpoint]


class Event(BaseModel):
    id: str
    type: str
    created_at: datetime
    sequence: int | None
    data: dict[str, Any]


class EventList(BaseModel):
    data: list[Event]
    next_cursor: str | None


class DeliveryAttempt(BaseModel):
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    next_retry_at: datetime | None


class Delivery(BaseModel):
    id: str
    endpoint_id: str
    event_id: str
    state: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    attempt_log: list[DeliveryAttempt]


class DeliveryList(BaseModel):
    data: list[Delivery]
    next_cursor: str | None


class ReplayRequest(Strict):
    since: datetime


class ReplayResult(BaseModel):
    queued: int


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=20)
    channel: str = "api"
    location_id: str | None = Field(default=None, max_length=100)


class ApiKey(BaseModel):
    id: str
    name: str
    scopes: list[str]
    channel: str
    location_id: str | None
    created_at: datetime
    revoked_at: datetime | None
    secret: str | None = Field(default=None, description="Only in the response that created it.")


class ApiKeyList(BaseModel):
    data: list[ApiKey]


class IntegrationCreate(Strict):
    platform: str = Field(description="shopify | bigcommerce")
    name: str = Field(min_length=1, max_length=200)
    base_url: str = Field(
        min_length=8,
        max_length=2000,
        description="Shopify: https://{shop}.myshopify.com; BigCommerce: "
        "https://api.bigcommerce.com/stores/{store_hash}",
    )
    credentials: dict[str, str] = Field(
        description="Shopify and BigCommerce: access_token, client_secret. Sealed at rest, "
        "never returned."
    )
    settings: dict[str, Any] | None = Field(
        default=None,
        description="push_cards, pull_cards, send_notifications, serial_prefix, sell_cards, "
        "gift_card_skus, currency, poll_interval_seconds, reconcile_interval_minutes",
    )


class IntegrationUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    base_url: str | None = Field(default=None, min_length=8, max_length=2000)
    credentials: dict[str, str] | None = None
    settings: dict[str, Any] | None = Field(default=None, description="Merged into the current")
    enabled: bool | None = None


class IntegrationHealth(BaseModel):
    connected: bool
    failing_since: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    pending_sync_jobs: int
    failed_sync_jobs: int


class Integration(BaseModel):
    id: str
    platform: str
    name: str
    base_url: str
    enabled: bool
    settings: dict[str, Any]
    health: IntegrationHealth
    hook_url: str = Field(description="Where the platform sends its notifications")
    created_at: datetime
    updated_at: datetime


class IntegrationList(BaseModel):
    data: list[Integration]


class IntegrationRun(BaseModel):
    id: str
    integration_id: str
    kind: str = Field(description="import | export | reconcile | repair")
    state: str = Field(description="pending | running | done | failed")
    progress: dict[str, Any]
    report: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class SyncException(BaseModel):
    id: str
    kind: str
    state: str
    integration_id: str | None
    gift_card_id: str | None
    amount: Money | None
    reference: str | None
    details: dict[str, Any]
    resolution: str | None
    created_at: datetime
    resolved_at: datetime | None


class SyncExceptionList(BaseModel):
    data: list[SyncException]


class SyncExceptionResolve(Strict):
    resolution: str = Field(min_length=1, max_length=2000)


class TillCall(Strict):
    """What every tender call carries."""

    terminal_id: str = Field(min_length=1, max_length=100)
    cashier_id: str | None = Field(default=None, max_length=100)


class BalanceInquiry(TillCall):
    code: str = Field(min_length=1, max_length=64)
    pin: str | None = Field(default=None, max_length=16)


class TillTransaction(TillCall):
    transaction_id: str = Field(
        min_length=1,
        max_length=100,
        description="The till's own id of this transaction: its idempotency key (a retry "
        "answers the same) and the handle to reverse it. Unique per terminal.",
    )


class TenderValue(TillTransaction):
    code: str = Field(min_length=1, max_length=64)
    pin: str | None = Field(default=None, max_length=16)
    amount: Money


class TenderRedeem(TenderValue):
    allow_partial: bool = Field(default=False, description="take min(available, amount)")
    hold: bool = Field(
        default=False, description="reserve the amount (split tender); capture it later"
    )
    occurred_at: datetime | None = Field(
        default=None,
        description="when an offline till made this redemption: it is recorded whatever the "
        "card holds now; what it can't cover becomes an offline_overdraft exception",
    )


class TenderCapture(TillTransaction):
    hold_transaction_id: str = Field(min_length=1, max_length=100)
    amount: Money | None = None


class TenderReverse(TillCall):
    transaction_id: str = Field(
        min_length=1, max_length=100, description="the till transaction to undo"
    )


class TillCard(BaseModel):
    id: str
    last4: str
    state: str
    balance: Money
    available: Money
    expires_at: datetime | None


class TenderResult(BaseModel):
    transaction_id: str | None = None
    type: str
    status: str
    amount: Money | None = None
    gift_card: TillCard
    activity_id: str | None = None
    hold_id: str | None = None
    offline: bool | None = None
    occurred_at: datetime | None = None
    uncovered: Money | None = None
    reversed: str | None = None
    bonuses: list[Bonus] | None = Field(
        default=None, description="promotions an activation (a card sold) earned"
    )


# --- Customers ----------------------------------------------------------------------------------


class Consents(Strict):
    email_marketing: bool | None = None
    sms_marketing: bool | None = None


class CustomerCreate(Strict):
    """At least one of e-mail, phone or name."""

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    name: str | None = Field(default=None, max_length=200)
    external_ids: dict[str, str] | None = Field(
        default=None, description="the customer's id on each platform: {integration id: id}"
    )
    consents: Consents | None = None
    metadata: dict[str, Any] | None = None


class CustomerUpdate(Strict):
    """Only the fields sent change; `""` clears e-mail, phone or name; an external id set to
    null is forgotten; consents are changed one by one."""

    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    name: str | None = Field(default=None, max_length=200)
    external_ids: dict[str, str | None] | None = None
    consents: Consents | None = None
    metadata: dict[str, Any] | None = None


class CustomerMerge(Strict):
    duplicate_id: str = Field(
        min_length=1, max_length=40, description="the customer folded into this one"
    )


class Customer(BaseModel):
    id: str
    email: str | None
    phone: str | None
    name: str | None
    external_ids: dict[str, str]
    consents: dict[str, bool]
    metadata: dict[str, Any]
    merged_into: str | None
    created_at: datetime
    updated_at: datetime


class CustomerList(BaseModel):
    data: list[Customer]
    next_cursor: str | None


class StoreCreditActivityCreate(ActivityCreate):
    """An activity on the customer's store credit in `amount.currency`: load, redeem, refund,
    adjust_increment or adjust_decrement. The first credit opens the wallet."""


class StoreCredit(BaseModel):
    id: str
    customer_id: str
    currency: str
    balance: MoneyOut
    available: MoneyOut
    lots: list[LotOut] = []
    created_at: datetime
    updated_at: datetime
    version: int


class StoreCreditList(BaseModel):
    data: list[StoreCredit]


# --- Promotions ---------------------------------------------------------------------------------


class PromotionCreate(Strict):
    """A rule: when `trigger` happens and `conditions` hold, grant `reward` as promotional value
    (docs/promotions.md)."""

    name: str = Field(min_length=1, max_length=200)
    trigger: Literal["card_purchased", "refund_taken", "order_completed"]
    currency: Currency
    conditions: dict[str, Any] = Field(
        default_factory=dict,
        description="min_amount, channels, methods, starts_at, ends_at, per_customer_limit",
    )
    reward: dict[str, Any] = Field(
        description='{"type": "fixed", "amount": 2000} or {"type": "percent", "percent": 10}, '
        'with "target": "same" | "new_card" and "expires_in_days"'
    )
    budget: StrictInt | None = Field(default=None, description="total value it may grant")
    active: bool = True


class PromotionUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    conditions: dict[str, Any] | None = None
    reward: dict[str, Any] | None = None
    budget: StrictInt | None = None
    active: bool | None = None


class Promotion(BaseModel):
    id: str
    name: str
    trigger: str
    currency: str
    conditions: dict[str, Any]
    reward: dict[str, Any]
    budget: MoneyOut | None
    granted: MoneyOut
    active: bool
    created_at: datetime
    updated_at: datetime


class PromotionList(BaseModel):
    data: list[Promotion]


class Bonus(BaseModel):
    """Promotional value a promotion granted for this request."""

    promotion_id: str
    name: str
    amount: MoneyOut
    expires_at: datetime | None
    account_id: str
    activity_id: str
    new_card_code: str | None = Field(
        default=None, description="the code of a new bonus card, shown this once"
    )


# --- Refunds ------------------------------------------------------------------------------------


class RefundCustomer(Strict):
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    name: str | None = Field(default=None, max_length=200)


class RefundCreate(Strict):
    """A return refunded as a gift card or store credit; `return_id` makes it happen once."""

    return_id: str = Field(min_length=1, max_length=200)
    order_id: str | None = Field(default=None, max_length=200)
    customer: RefundCustomer | None = None
    amount: Money
    method: Literal["gift_card", "store_credit"]
    items: list[dict[str, Any]] = Field(default_factory=list, max_length=500)
    reason: str | None = Field(default=None, max_length=1000)


class Refund(BaseModel):
    id: str
    return_id: str
    order_id: str | None
    method: str
    amount: MoneyOut
    customer_id: str | None
    reason: str | None
    items: list[dict[str, Any]]
    activity_id: str
    gift_card: GiftCard | None
    store_credit: StoreCredit | None
    bonuses: list[dict[str, Any]]
    created_at: datetime


# --- E-mail -------------------------------------------------------------------------------------


class CardsResend(Strict):
    email: str = Field(max_length=320, description="whose cards to send, and where")


class ResendAccepted(BaseModel):
    status: Literal["accepted"]


class EmailSend(Strict):
    to: str | None = Field(
        default=None, max_length=320, description="default: the card's recipient e-mail"
    )


class Email(BaseModel):
    id: str
    kind: str
    to: str
    state: Literal["queued", "sent", "failed"]
    attempts: int
    send_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime


class EmailList(BaseModel):
    data: list[Email]
