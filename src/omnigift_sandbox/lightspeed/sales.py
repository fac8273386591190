"""Sales and their payments: the only thing that moves a gift card's balance
(integrations.md 3.2 [C]).

A gift card payment (``paymentTypeID`` of the ``gift card`` payment type, with
``creditAccountID``) adds its ``amount`` to the card's stored balance when the sale completes:
a positive amount redeems (``-100`` + ``11.49`` = ``-88.51``), a negative one loads or refunds
to the card. Payments on a sale not yet completed are booked at completion [U: the docs only
say a card must be loaded by a *completed* sale to show in the UI].
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from . import accounts
from .errors import ApiError
from .state import CreditAccount, Customer, Sale, SaleLine, SalePayment, Store
from .values import parse_bool, parse_int, parse_money

# Refusal texts are not documented (integrations.md 7.3): unconfirmed [U].
INSUFFICIENT = "Gift card balance is insufficient for this payment."
ECOM = "Gift card payments cannot be made on a register named eCom."


def as_list(container: object, key: str) -> list[dict[str, Any]]:
    """``{"SaleLine": {...}}`` or ``{"SaleLine": [{...}]}``: one object or an array, both
    accepted (3.2 [C], XML heritage)."""
    if container is None:
        return []
    if not isinstance(container, dict):
        raise ApiError(400, f"{key}s must be an object holding {key}.")
    inner = container.get(key)
    if inner is None:
        return []
    items = inner if isinstance(inner, list) else [inner]
    if not all(isinstance(item, dict) for item in items):
        raise ApiError(400, f"Each {key} must be an object.")
    return items


def _new_lines(store: Store, sale: Sale, raw: list[dict[str, Any]], now: datetime) -> None:
    for item in raw:
        quantity = parse_int(item.get("unitQuantity", 1))
        price = parse_money(item.get("unitPrice", "0"))
        if quantity is None or price is None:
            raise ApiError(400, "SaleLine needs a numeric unitQuantity and unitPrice.")
        note = item.get("Note")
        text = note.get("note", "") if isinstance(note, dict) else ""
        sale.lines.append(
            SaleLine(
                id=store.next_id("sale_line"),
                sale_id=sale.id,
                item_id=parse_int(item.get("itemID", 0)) or 0,
                unit_price=price,
                quantity=quantity,
                create_time=now,
                time_stamp=now,
                note=str(text),
                note_id=store.next_id("note") if text else 0,
            )
        )


def _new_payments(store: Store, sale: Sale, raw: list[dict[str, Any]], now: datetime) -> None:
    gift_type = store.gift_card_type().id
    for item in raw:
        amount = parse_money(item.get("amount"))
        type_id = parse_int(item.get("paymentTypeID"))
        if amount is None or amount == 0:
            raise ApiError(422, "SalePayment needs a non-zero amount.")
        if type_id is None or type_id not in store.payment_types:
            raise ApiError(422, "SalePayment needs a valid paymentTypeID.")
        account_id = parse_int(item.get("creditAccountID", 0)) or 0
        remote = item.get("remoteReference", "")
        payment = SalePayment(
            id=store.next_id("sale_payment"),
            sale_id=sale.id,
            amount=amount,
            payment_type_id=type_id,
            credit_account_id=account_id if type_id == gift_type else 0,
            create_time=now,
            register_id=sale.register_id,
            employee_id=sale.employee_id,
            remote_reference=remote if isinstance(remote, str) else str(remote),
            ref_payment_id=parse_int(item.get("refPaymentID", 0)) or 0,
        )
        if type_id == gift_type:
            card = store.accounts.get(account_id)
            if card is None or not card.gift_card:
                raise ApiError(422, "creditAccountID must name a gift card.")
            if card.archived:
                # Whether an archived card can pay is not documented [U].
                raise ApiError(422, "This gift card is archived.")
            if store.registers[sale.register_id].name == "eCom":
                raise ApiError(422, ECOM)
            if amount < 0:
                # A load: the POS adds a "Gift Card Purchase <code>" line linked to the payment
                # by a SaleAccount (3.2 [C], documented sample; its price is 0 there too).
                line = SaleLine(
                    id=store.next_id("sale_line"),
                    sale_id=sale.id,
                    item_id=0,
                    unit_price=Decimal(0),
                    quantity=1,
                    create_time=now,
                    time_stamp=now,
                    note=f"Gift Card Purchase {card.code}",
                    note_id=store.next_id("note"),
                )
                sale.lines.append(line)
                payment.sale_line_id = line.id
            payment.sale_account_id = store.next_id("sale_account")
        sale.payments.append(payment)


def _check_and_book(store: Store, sale: Sale, *, reverse: bool = False) -> None:
    """Book (or, for a void, reverse) every gift card payment of ``sale`` — all or none."""
    changes: dict[int, Decimal] = {}
    for payment in sale.payments:
        if not payment.credit_account_id or payment.archived:
            continue
        if payment.applied != reverse:
            continue
        delta = -payment.amount if reverse else payment.amount
        changes[payment.credit_account_id] = changes.get(payment.credit_account_id, 0) + delta
    for account_id, delta in changes.items():
        card = store.accounts[account_id]
        # A gift card never ends up owing the store: its balance stays <= 0 [U: the refusal is
        # documented as needed, its text is not — integrations.md 3.4, 7.3].
        if card.balance + delta > 0:
            raise ApiError(422, INSUFFICIENT)
    now = store.clock.now()
    for account_id, delta in changes.items():
        card = store.accounts[account_id]
        card.balance += delta
        card.time_stamp = now
    for payment in sale.payments:
        if payment.credit_account_id and not payment.archived:
            payment.applied = not reverse


def _header(store: Store, body: dict[str, Any], sale: Sale) -> None:
    for key, attr in (
        ("referenceNumber", "reference_number"),
        ("referenceNumberSource", "reference_number_source"),
    ):
        if key in body:
            value = body[key]
            if not isinstance(value, str | int) or isinstance(value, bool):
                raise ApiError(400, f"{key} must be a string.")
            setattr(sale, attr, str(value))
    if "customerID" in body:
        sale.customer_id = parse_int(body["customerID"]) or 0


def create(store: Store, body: dict[str, Any], *, backdate: float = 0.0) -> Sale:
    """``POST Sale.json``. Nothing is kept if any part is refused."""
    register_id = parse_int(body.get("registerID", 1))
    if register_id is None or register_id not in store.registers:
        raise ApiError(422, "registerID must name a register.")
    completed = parse_bool(body.get("completed", False))
    if completed is None:
        raise ApiError(400, "completed must be a boolean.")
    now = store.clock.now() - timedelta(seconds=backdate)
    sale = Sale(
        id=store.next_id("sale"),
        create_time=now,
        time_stamp=now,
        employee_id=parse_int(body.get("employeeID", 1)) or 1,
        register_id=register_id,
        shop_id=parse_int(body.get("shopID", 1)) or 1,
    )
    counters = dict(store._ids)
    try:
        _header(store, body, sale)
        _new_lines(store, sale, as_list(body.get("SaleLines"), "SaleLine"), now)
        _new_payments(store, sale, as_list(body.get("SalePayments"), "SalePayment"), now)
        if completed:
            _check_and_book(store, sale)
            sale.completed = True
            sale.complete_time = now
    except ApiError:
        store._ids = counters  # ids are not burnt by a refused sale [U]
        raise
    store.sales[sale.id] = sale
    return sale


def update(store: Store, sale: Sale, body: dict[str, Any]) -> Sale:
    """``PUT Sale/{id}.json``: reference fields any time; lines, payments and ``completed``
    while open (the documented two-step load, 3.2 [C]); ``voided: true`` reverses the gift
    card payments. Refusing edits of a completed sale's lines and payments is [U]."""
    now = store.clock.now()
    lines = as_list(body.get("SaleLines"), "SaleLine")
    payments = as_list(body.get("SalePayments"), "SalePayment")
    completed = parse_bool(body.get("completed", sale.completed))
    voided = parse_bool(body.get("voided", sale.voided))
    if completed is None or voided is None:
        raise ApiError(400, "completed and voided must be booleans.")
    if sale.voided and (lines or payments or completed != sale.completed or not voided):
        raise ApiError(422, "A voided sale cannot be changed.")
    if sale.completed and (lines or payments or not completed):
        raise ApiError(422, "A completed sale's lines and payments cannot be changed.")
    before_lines, before_payments = list(sale.lines), list(sale.payments)
    counters = dict(store._ids)
    try:
        _header(store, body, sale)
        _new_lines(store, sale, lines, now)
        _new_payments(store, sale, payments, now)
        if completed and not sale.completed:
            _check_and_book(store, sale)
            sale.completed = True
            sale.complete_time = now
        if voided and not sale.voided:
            if sale.completed:
                _check_and_book(store, sale, reverse=True)
            sale.voided = True
            for payment in sale.payments:
                payment.archived = True
    except ApiError:
        sale.lines, sale.payments = before_lines, before_payments
        store._ids = counters
        raise
    sale.time_stamp = now
    return sale


def till_sale(store: Store, body: dict[str, Any]) -> tuple[Sale, CreditAccount | None]:
    """``POST /__sim/sale``: a completed sale rung up at the store's till (register 1).

    Goods lines are paid with a gift card (``gift_card_code``, ``gift_card_amount`` — default:
    what the card holds, up to the goods total) and cash for the rest; ``sell_gift_card``
    creates a gift card credit account and loads it with a negative gift card payment, paid in
    cash, as the documented POS gift card sale does (3.2 [C]). ``backdate_seconds`` puts the
    sale's ``timeStamp`` in the past (a late commit behind a poll cursor, 3.4).
    """
    lines = body.get("lines", [])
    if not isinstance(lines, list) or not all(isinstance(x, dict) for x in lines):
        raise ApiError(422, "lines must be a list of objects")
    sale_lines: list[dict[str, Any]] = []
    goods = Decimal(0)
    for line in lines:
        price = parse_money(line.get("price"))
        quantity = parse_int(line.get("quantity", 1))
        if price is None or quantity is None or quantity < 1:
            raise ApiError(422, "each line needs a price and a positive quantity")
        goods += price * quantity
        sale_lines.append(
            {
                "unitPrice": str(price),
                "unitQuantity": quantity,
                "Note": {"note": str(line.get("description", ""))},
            }
        )
    payments: list[dict[str, Any]] = []
    gift_type = store.gift_card_type().id
    code = body.get("gift_card_code")
    paid_by_card = Decimal(0)
    if code is not None:
        card = store.by_code(str(code))
        if card is None:
            raise ApiError(422, "no gift card with this code")
        wanted = body.get("gift_card_amount")
        if wanted is None:
            paid_by_card = min(card.spendable, goods)
        else:
            amount = parse_money(wanted)
            if amount is None or amount <= 0:
                raise ApiError(422, "gift_card_amount must be a positive amount")
            paid_by_card = amount
        if paid_by_card > goods:
            raise ApiError(422, "gift_card_amount exceeds the goods total")
        if paid_by_card > card.spendable:
            raise ApiError(422, INSUFFICIENT)
        if paid_by_card > 0:
            payments.append(
                {
                    "amount": str(paid_by_card),
                    "paymentTypeID": gift_type,
                    "creditAccountID": card.id,
                }
            )
    sold: CreditAccount | None = None
    sold_value = Decimal(0)
    sell = body.get("sell_gift_card")
    if sell is not None:
        if not isinstance(sell, dict):
            raise ApiError(422, "sell_gift_card must be an object")
        value = parse_money(sell.get("amount"))
        if value is None or value <= 0:
            raise ApiError(422, "sell_gift_card.amount must be a positive amount")
        sold_value = value
    backdate = body.get("backdate_seconds", 0)
    if not isinstance(backdate, int | float) or isinstance(backdate, bool) or backdate < 0:
        raise ApiError(422, "backdate_seconds must be a non-negative number")
    if not sale_lines and sell is None:
        raise ApiError(422, "a sale needs lines or sell_gift_card")
    if sell is not None:
        assert isinstance(sell, dict)
        sold = accounts.create(
            store,
            {
                "code": sell.get("code") or store.new_code(),
                "name": sell.get("name", "Gift Card"),
                "description": sell.get("description", "Gift Card"),
            },
        )
        payments.append(
            {"amount": str(-sold_value), "paymentTypeID": gift_type, "creditAccountID": sold.id}
        )
    cash = goods - paid_by_card + sold_value
    if cash > 0:
        payments.append({"amount": str(cash), "paymentTypeID": _cash_type(store)})
    sale_body: dict[str, Any] = {
        "completed": True,
        "employeeID": 1,
        "registerID": 1,
        "shopID": 1,
        "SaleLines": {"SaleLine": sale_lines},
        "SalePayments": {"SalePayment": payments},
    }
    for key in ("referenceNumber", "referenceNumberSource"):
        if key in body:
            sale_body[key] = body[key]
    if body.get("customer") is not None:
        sale_body["customerID"] = _customer(store, body["customer"]).id
    try:
        sale = create(store, sale_body, backdate=float(backdate))
    except ApiError:
        if sold is not None:
            del store.accounts[sold.id]
        raise
    return sale, sold


def _customer(store: Store, data: Any) -> Customer:
    """The sale's customer (``{"first_name", "last_name", "email"}``), added at the till."""
    if not isinstance(data, dict) or not (data.get("first_name") or data.get("last_name")):
        raise ApiError(422, "customer needs a first_name or a last_name")
    customer = Customer(
        store.next_id("customer"),
        str(data.get("first_name") or ""),
        str(data.get("last_name") or ""),
        str(data["email"]) if data.get("email") else None,
    )
    store.customers[customer.id] = customer
    return customer


def _cash_type(store: Store) -> int:
    return next(t.id for t in store.payment_types.values() if t.type == "cash")
