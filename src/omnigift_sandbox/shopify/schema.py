"""The executable GraphQL schema: SDL from ``sdl.py`` plus resolvers over the Store.

Resolvers return plain dicts; graphql-core's default resolver reads keys and calls callables
(used for lazy fields such as ``transactions`` and ``giftCard``), and ``__typename`` picks the
concrete type behind the ``GiftCardTransaction`` interface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from graphql import (
    FloatValueNode,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    IntValueNode,
    StringValueNode,
    ValueNode,
    build_schema,
)

from . import customers, notifications, rules, shapes
from .money import graphql_amount, parse_amount
from .sdl import SDL
from .search import card_filter, decode_cursor, encode_cursor
from .state import CardTransaction, Customer, GiftCard, Recipient, Store
from .webhooks import WebhookSender

Info = GraphQLResolveInfo[Any]
MAX_PAGE = 250  # unconfirmed for GraphQL (integrations.md 1.6); REST's documented maximum
API_CLIENT_ID = 755357713  # the app behind the token; value from Shopify's REST fixture


@dataclass
class Context:
    """Per-request context handed to every resolver."""

    store: Store
    sender: WebhookSender


def _ctx(info: Info) -> Context:
    context = info.context
    assert isinstance(context, Context)
    return context


# -- scalars ---------------------------------------------------------------------------------


def _literal_text(node: ValueNode) -> Any:
    if isinstance(node, StringValueNode | IntValueNode | FloatValueNode):
        return node.value
    raise GraphQLError("Expected a string or number")


def _parse_decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        value = str(value)  # JSON numbers arrive as floats; their text is what the client sent
    amount = parse_amount(value)
    if amount is None:
        raise GraphQLError(f"Invalid decimal: {value!r}")
    return amount


def _parse_date(value: Any) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise GraphQLError(f"Invalid date: {value!r}") from exc


def _parse_datetime(value: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise GraphQLError(f"Invalid DateTime: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _serialize_datetime(value: Any) -> str:
    return _iso(value) if isinstance(value, datetime) else str(value)


def _serialize_date(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


def _install_scalars(schema: GraphQLSchema) -> None:
    specs: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
        "Decimal": (str, _parse_decimal),
        "Date": (_serialize_date, _parse_date),
        "DateTime": (_serialize_datetime, _parse_datetime),
        "URL": (str, str),
    }
    for name, (serialize, parse) in specs.items():
        scalar = schema.type_map[name]
        assert isinstance(scalar, GraphQLScalarType)
        literal = _literal_parser(parse)
        # graphql-core 3.3 renamed the hooks (coerce_*); set both spellings so either is used.
        for attr, hook in (
            ("serialize", serialize),
            ("coerce_output_value", serialize),
            ("parse_value", parse),
            ("coerce_input_value", parse),
            ("parse_literal", literal),
            ("coerce_input_literal", literal),
        ):
            setattr(scalar, attr, hook)


def _literal_parser(parse: Callable[[Any], Any]) -> Callable[..., Any]:
    def parse_literal(node: ValueNode, _variables: Any = None) -> Any:
        return parse(_literal_text(node))

    return parse_literal


# -- ids and views ---------------------------------------------------------------------------


def gid(kind: str, number: int) -> str:
    """``gid://shopify/<Kind>/<n>``."""
    return f"gid://shopify/{kind}/{number}"


def parse_gid(value: str, kind: str) -> int | None:
    """The number in a global id of ``kind``; None for another kind; an error if malformed."""
    parts = value.split("/")
    if len(parts) != 5 or parts[:3] != ["gid:", "", "shopify"] or not parts[4].isdigit():
        raise GraphQLError(f"Invalid global id '{value}'", extensions={"code": "invalidId"})
    return int(parts[4]) if parts[3] == kind else None


def _money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": graphql_amount(amount), "currencyCode": currency}


def _page(items: list[Any], args: dict[str, Any], key: Any) -> dict[str, Any]:
    """A Relay connection over ``items`` (already ordered) with id-based opaque cursors."""
    first, last = args.get("first"), args.get("last")
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last")
    size = first if first is not None else last
    assert isinstance(size, int)
    if size < 0 or size > MAX_PAGE:
        raise GraphQLError(f"The page size must be between 0 and {MAX_PAGE}")
    if args.get("reverse"):
        items = list(reversed(items))
    ids = [key(item) for item in items]
    start, end = 0, len(items)
    for name in ("after", "before"):
        if args.get(name):
            data = decode_cursor(str(args[name]))
            if data is None or data.get("last_id") not in ids:
                raise GraphQLError(f"Invalid cursor for '{name}'")
            position = ids.index(data["last_id"])
            if name == "after":
                start = position + 1
            else:
                end = position
    window = items[start:end]
    if first is not None:
        chosen = window[:size]
        has_next, has_prev = len(window) > size, start > 0
    else:
        chosen = window[max(0, len(window) - size) :]
        has_next, has_prev = end < len(items), len(window) > size
    edges = [{"cursor": encode_cursor({"last_id": key(item)}), "node": item} for item in chosen]
    return {
        "edges": [{"cursor": e["cursor"], "node": e["node"]} for e in edges],
        "nodes": [e["node"] for e in edges],
        "pageInfo": {
            "hasNextPage": has_next,
            "hasPreviousPage": has_prev,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def card_view(store: Store, card: GiftCard) -> dict[str, Any]:
    """A GiftCard as the resolvers see it."""

    def transactions(_info: Info, **args: Any) -> dict[str, Any]:
        views = [txn_view(store, t) for t in card.transactions]
        return _page(views, args, lambda v: v["_id"])

    customer = store.customers.get(card.customer_id) if card.customer_id else None
    return {
        "__typename": "GiftCard",
        "_id": card.id,
        "id": gid("GiftCard", card.id),
        "balance": _money(card.balance, card.currency),
        "initialValue": _money(card.initial_value, card.currency),
        "lastCharacters": card.last_characters,
        "maskedCode": card.masked_code,
        "enabled": card.enabled,
        "deactivatedAt": card.disabled_at,
        "disabledAt": card.disabled_at,
        "expiresOn": card.expires_on,
        "note": card.note,
        "templateSuffix": card.template_suffix,
        "createdAt": card.created_at,
        "updatedAt": card.updated_at,
        "customer": customer_view(customer) if customer else None,
        "order": (
            {"id": gid("Order", card.order_id), "name": f"#{store.orders[card.order_id].number}"}
            if card.order_id and card.order_id in store.orders
            else None
        ),
        "lineItem": {"id": gid("LineItem", card.line_item_id)} if card.line_item_id else None,
        "transactions": transactions,
    }


def customer_view(customer: Customer) -> dict[str, Any]:
    """A Customer as the resolvers see it."""
    return {
        "_id": customer.id,
        "id": gid("Customer", customer.id),
        "email": customer.email,
        "firstName": customer.first_name,
        "lastName": customer.last_name,
        "displayName": " ".join(p for p in (customer.first_name, customer.last_name) if p)
        or (customer.email or ""),
    }


def txn_view(store: Store, txn: CardTransaction) -> dict[str, Any]:
    """A GiftCardCreditTransaction / GiftCardDebitTransaction."""
    typename = "GiftCardCreditTransaction" if txn.kind == "credit" else "GiftCardDebitTransaction"
    return {
        "__typename": typename,
        "_id": txn.id,
        "id": gid(typename, txn.id),
        "amount": _money(txn.amount, txn.currency),
        "processedAt": txn.processed_at,
        "note": txn.note,
        "giftCard": lambda _info: card_view(store, store.cards[txn.gift_card_id]),
    }


def _errors(errors: list[rules.UserError]) -> list[dict[str, Any]]:
    return [{"code": e.code, "field": e.field, "message": e.message} for e in errors]


# -- query resolvers -------------------------------------------------------------------------


def resolve_gift_card(_root: Any, info: Info, id: str) -> dict[str, Any] | None:
    store = _ctx(info).store
    number = parse_gid(id, "GiftCard")
    card = store.cards.get(number) if number is not None else None
    return card_view(store, card) if card else None


def _matching(store: Store, query: str | None) -> list[GiftCard]:
    keep = card_filter(query, store.clock.today())
    return [store.cards[i] for i in sorted(store.cards) if keep(store.cards[i])]


_SORT_KEYS = {
    "CREATED_AT": lambda c: (c.created_at, c.id),
    "UPDATED_AT": lambda c: (c.updated_at, c.id),
    "BALANCE": lambda c: (c.balance, c.id),
    "INITIAL_VALUE": lambda c: (c.initial_value, c.id),
    "EXPIRES_ON": lambda c: (c.expires_on or date.max, c.id),
}


def resolve_gift_cards(_root: Any, info: Info, **args: Any) -> dict[str, Any]:
    store = _ctx(info).store
    cards = _matching(store, args.get("query"))
    sort = _SORT_KEYS.get(str(args.get("sortKey")))
    if sort is not None:
        cards.sort(key=sort)
    return _page([card_view(store, c) for c in cards], args, lambda v: v["_id"])


def resolve_gift_cards_count(
    _root: Any, info: Info, query: str | None = None, limit: int | None = 10000
) -> dict[str, Any]:
    count = len(_matching(_ctx(info).store, query))
    if limit is not None and count > limit:
        return {"count": limit, "precision": "AT_LEAST"}
    return {"count": count, "precision": "EXACT"}


def resolve_shop(_root: Any, info: Info) -> dict[str, Any]:
    store = _ctx(info).store
    return {
        "id": gid("Shop", store._next["shop"]),
        "name": store.config.shop_name,
        "currencyCode": store.config.currency,
        "myshopifyDomain": store.config.shop_domain,
    }


# -- mutation resolvers ----------------------------------------------------------------------


def _customer_id(value: Any) -> int | None:
    if value is None:
        return None
    number = parse_gid(str(value), "Customer")
    return number if number is not None else -1  # -1: a gid of another kind, never found


def resolve_create(_root: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    ctx = _ctx(info)
    recipient = _recipient(ctx.store, input.get("recipientAttributes"))
    if isinstance(recipient, rules.UserError):
        return {"giftCard": None, "giftCardCode": None, "userErrors": _errors([recipient])}
    result = rules.create_card(
        ctx.store,
        initial_value=input["initialValue"],
        code=input.get("code"),
        customer_id=_customer_id(input.get("customerId")),
        expires_on=input.get("expiresOn"),
        note=input.get("note"),
        template_suffix=input.get("templateSuffix"),
        api_client_id=API_CLIENT_ID,
    )
    if isinstance(result, list):
        return {"giftCard": None, "giftCardCode": None, "userErrors": _errors(result)}
    result.notify = input.get("notify") is not False
    result.recipient = recipient
    notifications.on_issue(ctx.store, result)
    ctx.sender.emit("gift_cards/create", shapes.gift_card(result))
    return {"giftCard": card_view(ctx.store, result), "giftCardCode": result.code, "userErrors": []}


def _recipient(store: Store, data: dict[str, Any] | None) -> Recipient | rules.UserError | None:
    """``recipientAttributes``: its customer must exist (``RECIPIENT_NOT_FOUND``)."""
    if data is None:
        return None
    recipient_id = _customer_id(data.get("id"))
    if recipient_id is None or recipient_id not in store.customers:
        field = ["input", "recipientAttributes", "id"]
        return rules.UserError("RECIPIENT_NOT_FOUND", field, "Recipient not found")
    return Recipient(
        recipient_id,
        data.get("message"),
        data.get("preferredName"),
        data.get("sendNotificationAt"),
    )


def resolve_customers(_root: Any, info: Info, **args: Any) -> dict[str, Any]:
    found = customers.search(_ctx(info).store, args.get("query"))
    return _page([customer_view(c) for c in found], args, lambda v: v["_id"])


def resolve_customer_create(_root: Any, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    result = customers.create(_ctx(info).store, input)
    if isinstance(result, list):
        return {
            "customer": None,
            "userErrors": [{"field": e.field, "message": e.message} for e in result],
        }
    return {"customer": customer_view(result), "userErrors": []}


_UPDATE_FIELDS = {
    "customerId": "customer_id",
    "expiresOn": "expires_on",
    "note": "note",
    "templateSuffix": "template_suffix",
}


def _card_number(value: str) -> int:
    number = parse_gid(value, "GiftCard")
    return number if number is not None else -1


def resolve_update(
    _root: Any,
    info: Info,
    id: str,
    input: dict[str, Any],
) -> dict[str, Any]:
    ctx = _ctx(info)
    changes: dict[str, object] = {}
    for name, attr in _UPDATE_FIELDS.items():
        if name in input:
            value = input[name]
            changes[attr] = _customer_id(value) if name == "customerId" else value
    result = rules.update_card(ctx.store, _card_number(id), changes)
    if isinstance(result, list):
        return {"giftCard": None, "userErrors": _errors(result)}
    ctx.sender.emit("gift_cards/update", shapes.gift_card(result))
    return {"giftCard": card_view(ctx.store, result), "userErrors": []}


def resolve_deactivate(_root: Any, info: Info, id: str) -> dict[str, Any]:
    ctx = _ctx(info)
    number = _card_number(id)
    was_enabled = number in ctx.store.cards and ctx.store.cards[number].enabled
    result = rules.deactivate_card(ctx.store, number)
    if isinstance(result, list):
        return {"giftCard": None, "userErrors": _errors(result)}
    if was_enabled:
        ctx.sender.emit("gift_cards/update", shapes.gift_card(result))
    return {"giftCard": card_view(ctx.store, result), "userErrors": []}


def _adjust(info: Info, id: str, kind: str, data: dict[str, Any]) -> dict[str, Any]:
    ctx = _ctx(info)
    money = data["creditAmount" if kind == "credit" else "debitAmount"]
    result = rules.adjust(
        ctx.store,
        _card_number(id),
        "credit" if kind == "credit" else "debit",
        money["amount"],
        str(money["currencyCode"]),
        note=data.get("note"),
        processed_at=data.get("processedAt"),
    )
    key = "giftCardCreditTransaction" if kind == "credit" else "giftCardDebitTransaction"
    if isinstance(result, list):
        return {key: None, "userErrors": _errors(result)}
    card = ctx.store.cards[result.gift_card_id]
    # Unconfirmed (integrations.md 1.5 [U]): whether Shopify fires gift_cards/update here.
    ctx.sender.emit("gift_cards/update", shapes.gift_card(card))
    return {key: txn_view(ctx.store, result), "userErrors": []}


def resolve_credit(
    _root: Any,
    info: Info,
    id: str,
    creditInput: dict[str, Any],
) -> dict[str, Any]:
    return _adjust(info, id, "credit", creditInput)


def resolve_debit(
    _root: Any,
    info: Info,
    id: str,
    debitInput: dict[str, Any],
) -> dict[str, Any]:
    return _adjust(info, id, "debit", debitInput)


def build() -> GraphQLSchema:
    """Build the schema and attach resolvers."""
    schema = build_schema(SDL)
    _install_scalars(schema)
    query, mutation = schema.query_type, schema.mutation_type
    assert query is not None and mutation is not None
    query.fields["giftCard"].resolve = resolve_gift_card
    query.fields["giftCards"].resolve = resolve_gift_cards
    query.fields["giftCardsCount"].resolve = resolve_gift_cards_count
    query.fields["shop"].resolve = resolve_shop
    query.fields["customers"].resolve = resolve_customers
    mutation.fields["giftCardCreate"].resolve = resolve_create
    mutation.fields["giftCardUpdate"].resolve = resolve_update
    mutation.fields["giftCardDeactivate"].resolve = resolve_deactivate
    mutation.fields["giftCardCredit"].resolve = resolve_credit
    mutation.fields["giftCardDebit"].resolve = resolve_debit
    mutation.fields["customerCreate"].resolve = resolve_customer_create
    return schema
