"""The event types the service emits. Later parts (customers, loyalty, orders ...) extend it."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    GIFT_CARD_CREATED = "gift_card.created"
    GIFT_CARD_UPDATED = "gift_card.updated"
    GIFT_CARD_ACTIVITY_CREATED = "gift_card.activity.created"
    HOLD_CREATED = "hold.created"
    HOLD_CAPTURED = "hold.captured"
    HOLD_VOIDED = "hold.voided"
    HOLD_EXPIRED = "hold.expired"
    LOOKUP_SURGE = "security.lookup_surge"
    WEBHOOK_ENDPOINT_DISABLED = "webhook_endpoint.disabled"
    INTEGRATION_FAILED = "integration.failed"
    INTEGRATION_RECOVERED = "integration.recovered"
    INTEGRATION_DRIFT_FOUND = "integration.drift_found"
    SYNC_EXCEPTION = "sync.exception"
    CUSTOMER_CREATED = "customer.created"
    CUSTOMER_UPDATED = "customer.updated"
    CUSTOMER_MERGED = "customer.merged"
    STORE_CREDIT_ACTIVITY_CREATED = "store_credit.activity.created"


def matches(subscribed: list[str], event_type: str) -> bool:
    """Does a subscription (``["*"]`` or a list of types) take this event type?"""
    return "*" in subscribed or event_type in subscribed
