"""Gift card credit accounts: create, rename, archive (integrations.md 3.2 [C]).

Their balance is never written here: only a sale payment moves it (see ``sales.py``).
"""

from __future__ import annotations

from typing import Any

from .errors import ApiError
from .state import CreditAccount, Store
from .values import parse_bool, parse_int

CODE_MIN, CODE_MAX = 8, 32


def create(store: Store, body: dict[str, Any]) -> CreditAccount:
    """``POST CreditAccount.json``: creates gift cards only (3.2 [C]).

    ``code`` must be 8-32 characters [C] and unique among gift cards [U: uniqueness is on the
    simulator checklist, the refusal text is the simulator's]. A ``giftCard: false`` body or a
    ``customerID`` is refused: customer credit accounts are made through ``Customer`` [C], which
    the simulator does not model.
    """
    code = body.get("code")
    if not isinstance(code, str) or not code:
        raise ApiError(422, "A gift card requires a code.")
    if not CODE_MIN <= len(code) <= CODE_MAX:
        raise ApiError(422, f"Gift card code must be between {CODE_MIN} and {CODE_MAX} characters.")
    if parse_bool(body.get("giftCard", True)) is False:
        raise ApiError(422, "Credit accounts for customers are created through Customer.")
    customer = parse_int(body.get("customerID", 0))
    if customer:
        raise ApiError(422, "Credit accounts for customers are created through Customer.")
    if store.by_code(code) is not None:
        raise ApiError(422, "A gift card with this code already exists.")
    name = body.get("name")
    description = body.get("description", "")
    if not isinstance(description, str):
        raise ApiError(400, "description must be a string.")
    now = store.clock.now()
    account = CreditAccount(
        id=store.next_id("credit_account"),
        name=name if isinstance(name, str) and name else f"Gift Card {now.date().isoformat()}",
        code=code,
        description=description,
        gift_card=True,
        customer_id=0,
        time_stamp=now,
    )
    store.accounts[account.id] = account
    return account


def update(store: Store, account: CreditAccount, body: dict[str, Any]) -> CreditAccount:
    """``PUT CreditAccount/{id}.json``: ``name`` and ``description`` only (3.2 [C]); other
    fields are ignored, ``balance`` included [U: whether Lightspeed refuses them]."""
    for key, attr in (("name", "name"), ("description", "description")):
        if key in body:
            value = body[key]
            if not isinstance(value, str):
                raise ApiError(400, f"{key} must be a string.")
            setattr(account, attr, value)
    account.time_stamp = store.clock.now()
    return account


def archive(store: Store, account: CreditAccount) -> CreditAccount:
    """``DELETE CreditAccount/{id}.json``: archive; the balance is kept (3.2 [C])."""
    account.archived = True
    account.time_stamp = store.clock.now()
    return account
