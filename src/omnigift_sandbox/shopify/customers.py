"""Customers through the Admin GraphQL API: ``customerCreate`` and the ``customers`` search.

Rules [C] (shopify.dev ``customerCreate``, ``CustomerInput``): a customer needs at least an
e-mail, a phone number or a name; an e-mail belongs to one customer only ("Email has already been
taken"). Search understands ``email:<address>`` (the filter a connector uses to find a customer
before creating one); any other query matches every customer [U: Shopify's full search syntax is
not modelled].
"""

from __future__ import annotations

import re

from .rules import UserError
from .state import Customer, Store

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def create(store: Store, data: dict[str, str | None]) -> Customer | list[UserError]:
    """A new customer, or the user errors that refuse it."""
    email = (data.get("email") or "").strip().lower() or None
    names = data.get("firstName") or data.get("lastName")
    if not (email or data.get("phone") or names):
        return [UserError("BLANK", None, "A name, phone number, or email address must be present")]
    if email and not _EMAIL.match(email):
        return [UserError("INVALID", ["email"], "Email is invalid")]
    if email and find_by_email(store, email):
        return [UserError("TAKEN", ["email"], "Email has already been taken")]
    customer = Customer(
        id=store.next_id("customer"),
        email=email,
        first_name=data.get("firstName"),
        last_name=data.get("lastName"),
        phone=data.get("phone"),
        note=data.get("note"),
    )
    store.customers[customer.id] = customer
    return customer


def find_by_email(store: Store, email: str) -> Customer | None:
    wanted = email.strip().lower()
    for customer in store.customers.values():
        if customer.email and customer.email.lower() == wanted:
            return customer
    return None


def search(store: Store, query: str | None) -> list[Customer]:
    """Customers matching ``query``, in id order."""
    found = sorted(store.customers.values(), key=lambda c: c.id)
    match = re.fullmatch(r"\s*email:\s*\"?([^\"\s]+)\"?\s*", query or "")
    if match:
        wanted = match.group(1).lower()
        found = [c for c in found if c.email and c.email.lower() == wanted]
    return found
