"""The e-mails Shopify sends when a gift card is issued, kept instead of sent.

Shopify's contract (shopify.dev, ``GiftCardCreateInput``, ``GiftCardRecipientInput`` and
``giftCardSendNotificationToCustomer``) [C]: ``notify`` defaults to true, and false prevents every
notification to the customer or recipient; a card with a designated recipient is sent to the
recipient (at ``sendNotificationAt``, "within an hour" of it) and the assigned customer gets a
purchase confirmation; a card with only a customer is sent to that customer. [U] whether a
notification goes out when the customer has no e-mail (Shopify may text a phone number): the
simulator sends nothing then.
"""

from __future__ import annotations

from .state import GiftCard, Notification, Store


def on_issue(store: Store, card: GiftCard) -> list[Notification]:
    """Queue the e-mails an issued card causes; the simulator's record of what was sent."""
    if not card.notify:
        return []
    sent: list[Notification] = []
    customer = store.customers.get(card.customer_id) if card.customer_id else None
    recipient = card.recipient
    to = store.customers.get(recipient.customer_id) if recipient else None
    now = store.clock.now()
    if to is not None and to.email:
        at = recipient.send_notification_at if recipient and recipient.send_notification_at else now
        message = recipient.message if recipient else None
        sent.append(Notification("gift_card", to.email, card.id, card.last_characters, message, at))
        if customer is not None and customer.email and customer.id != to.id:
            sent.append(
                Notification(
                    "purchase_confirmation",
                    customer.email,
                    card.id,
                    card.last_characters,
                    None,
                    now,
                )
            )
    elif to is None and customer is not None and customer.email:
        sent.append(
            Notification("gift_card", customer.email, card.id, card.last_characters, None, now)
        )
    store.notifications.extend(sent)
    return sent
