"""Records as Lightspeed writes them: every value a string, ``@attributes`` envelopes, and a
relation holding one object or an array depending on the count (integrations.md 3.1-3.3 [C])."""

from __future__ import annotations

from typing import Any

from .state import CreditAccount, Customer, Sale, SaleLine, SalePayment, Store
from .values import flag, money, stamp


def mask(code: str) -> str:
    """``**********8904``: all but the last four characters hidden (3.2 [C]); the exact
    number of asterisks differs between the documented samples, so it is ``len - 4`` [U]."""
    return "*" * max(0, len(code) - 4) + code[-4:]


def one_or_many(items: list[dict[str, Any]]) -> dict[str, Any] | list[dict[str, Any]]:
    """A single object for one item, an array for several (XML heritage, 3.2 [C])."""
    return items[0] if len(items) == 1 else items


def credit_account(account: CreditAccount, *, unmask: bool = True) -> dict[str, Any]:
    """A ``CreditAccount``; ``balance`` negative for a funded gift card (3.2 [C])."""
    return {
        "creditAccountID": str(account.id),
        "name": account.name,
        "code": account.code if unmask or not account.gift_card else mask(account.code),
        "creditLimit": money(account.credit_limit),
        "description": account.description,
        "giftCard": flag(account.gift_card),
        "archived": flag(account.archived),
        "timeStamp": stamp(account.time_stamp),
        "customerID": str(account.customer_id),
        "balance": money(account.balance),
    }


def sale_line(line: SaleLine) -> dict[str, Any]:
    """A ``SaleLine`` with its ``Note`` when it has one."""
    shown: dict[str, Any] = {
        "saleLineID": str(line.id),
        "createTime": stamp(line.create_time),
        "timeStamp": stamp(line.time_stamp),
        "unitQuantity": str(line.quantity),
        "unitPrice": money(line.unit_price),
        "calcSubtotal": money(line.total),
        "calcTotal": money(line.total),
        "itemID": str(line.item_id),
        "noteID": str(line.note_id),
        "saleID": str(line.sale_id),
    }
    if line.note_id:
        shown["Note"] = {"noteID": str(line.note_id), "note": line.note, "isPublic": "false"}
    return shown


def sale_payment(store: Store, payment: SalePayment) -> dict[str, Any]:
    """A ``SalePayment`` with its ``PaymentType`` and, for gift cards, its ``SaleAccounts``
    link (3.2 [C], documented samples)."""
    kind = store.payment_types[payment.payment_type_id]
    shown: dict[str, Any] = {
        "salePaymentID": str(payment.id),
        "amount": money(payment.amount),
        "tipAmount": "0",
        "createTime": stamp(payment.create_time),
        "archived": flag(payment.archived),
        "remoteReference": payment.remote_reference,
        "paymentID": "",
        "saleID": str(payment.sale_id),
        "paymentTypeID": str(payment.payment_type_id),
        "ccChargeID": "0",
        "refPaymentID": str(payment.ref_payment_id),
        "registerID": str(payment.register_id),
        "employeeID": str(payment.employee_id),
        "creditAccountID": str(payment.credit_account_id),
        "PaymentType": {
            "paymentTypeID": str(kind.id),
            "name": kind.name,
            "requireCustomer": "false",
            "archived": "false",
            "internalReserved": flag(kind.internal_reserved),
            "type": kind.type,
            "refundAsPaymentTypeID": str(kind.refund_as_id),
        },
    }
    if payment.sale_account_id:
        shown["SaleAccounts"] = {
            "SaleAccount": {
                "saleAccountID": str(payment.sale_account_id),
                "creditAccountID": str(payment.credit_account_id),
                "salePaymentID": str(payment.id),
                "saleLineID": str(payment.sale_line_id),
            }
        }
    return shown


def sale(store: Store, record: Sale, relations: set[str]) -> dict[str, Any]:
    """A ``Sale``; ``SaleLines`` / ``SalePayments`` only when those relations are loaded."""
    total = record.total
    shown: dict[str, Any] = {
        "saleID": str(record.id),
        "timeStamp": stamp(record.time_stamp),
        "createTime": stamp(record.create_time),
        "completeTime": stamp(record.complete_time),
        "completed": flag(record.completed),
        "archived": flag(record.archived),
        "voided": flag(record.voided),
        "referenceNumber": record.reference_number,
        "referenceNumberSource": record.reference_number_source,
        "ticketNumber": f"2200{record.id:08d}",
        "calcSubtotal": money(total),
        "calcTax1": "0",
        "calcTax2": "0",
        "taxTotal": "0",
        "calcTotal": money(total),
        "calcPayments": money(record.paid),
        "total": money(total),
        "balance": money(total - record.paid),
        "customerID": str(record.customer_id),
        "employeeID": str(record.employee_id),
        "registerID": str(record.register_id),
        "shopID": str(record.shop_id),
    }
    if "SaleLines" in relations and record.lines:
        shown["SaleLines"] = {"SaleLine": one_or_many([sale_line(x) for x in record.lines])}
    if "SalePayments" in relations and record.payments:
        shown["SalePayments"] = {
            "SalePayment": one_or_many([sale_payment(store, p) for p in record.payments])
        }
    return shown


def customer(record: Customer, contact: bool) -> dict[str, Any]:
    """A ``Customer``; its ``Contact`` (e-mails) only with ``load_relations=["Contact"]``. The
    field names follow the vendor's Customer resource (``customerID``, ``firstName``,
    ``lastName``, ``Contact.Emails.ContactEmail[].address``/``useType``) [U: not in
    integrations.md; the vendor's reference names them so]."""
    shown: dict[str, Any] = {
        "customerID": str(record.id),
        "firstName": record.first_name,
        "lastName": record.last_name,
        "archived": "false",
    }
    if contact:
        emails = [{"address": record.email, "useType": "Primary"}] if record.email else []
        shown["Contact"] = {"Emails": {"ContactEmail": emails} if emails else ""}
    return shown


def single(key: str, item: dict[str, Any]) -> dict[str, Any]:
    """``{"@attributes": {"count": "1"}, key: item}`` (3.2 [C] samples)."""
    return {"@attributes": {"count": "1"}, key: item}


def listing(key: str, items: list[dict[str, Any]], nxt: str, previous: str) -> dict[str, Any]:
    """A V3 page: ``@attributes.next`` / ``previous`` full URLs or ``""`` (3.3 [C]); the
    resource key is left out of an empty page [U]."""
    body: dict[str, Any] = {"@attributes": {"next": nxt, "previous": previous}}
    if items:
        body[key] = one_or_many(items)
    return body
