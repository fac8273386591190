"""REST Admin routes (integrations.md 1.2, 1.4, 1.5 subscriptions, 1.6 limits)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import rules, shapes
from .money import parse_amount
from .pagination import BadPageInfo, page
from .runtime import Simulator
from .search import card_filter, parse_moment
from .state import GiftCard, Order, WebhookSubscription
from .webhooks import TOPICS

NOT_FOUND = {"errors": "Not Found"}
THROTTLED_MESSAGE = (
    "Exceeded 2 calls per second for api client. "
    "Reduce request rates to resume uninterrupted service."
)
PREFIX = "/admin/api/{version}/"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


async def _body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body())
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _cards(sim: Simulator, filters: dict[str, Any]) -> list[GiftCard]:
    keep = card_filter(filters.get("query"), sim.clock.today())
    status = filters.get("status")
    since = filters.get("since_id")
    out = []
    for card_id in sorted(sim.store.cards):
        card = sim.store.cards[card_id]
        if status == "enabled" and not card.enabled:
            continue
        if status == "disabled" and card.enabled:
            continue
        if since is not None and card.id <= since:
            continue
        if keep(card):
            out.append(card)
    return out


def _since(request: Request) -> int | None:
    raw = request.query_params.get("since_id")
    return int(raw) if raw and raw.isdigit() else None


async def shop(sim: Simulator, request: Request) -> Response:
    """``GET shop.json``."""
    config = sim.config
    return _json(
        {
            "shop": {
                "id": sim.store._next["shop"],
                "name": config.shop_name,
                "domain": config.shop_domain,
                "myshopify_domain": config.shop_domain,
                "currency": config.currency,
                "iana_timezone": "Etc/UTC",
            }
        }
    )


async def list_cards(sim: Simulator, request: Request) -> Response:
    """``GET gift_cards.json`` (status, limit, since_id, page_info)."""
    filters = {"status": request.query_params.get("status"), "since_id": _since(request)}
    return _card_page(sim, request, filters)


async def search_cards(sim: Simulator, request: Request) -> Response:
    """``GET gift_cards/search.json?query=last_characters:abcd``."""
    filters = {"query": request.query_params.get("query", "")}
    return _card_page(sim, request, filters)


def _card_page(sim: Simulator, request: Request, filters: dict[str, Any]) -> Response:
    try:
        cards, headers = page(
            request, _cards(sim, filters), lambda c: c.id, filters, lambda f: _cards(sim, f)
        )
    except BadPageInfo:
        return _json({"errors": {"page_info": "Invalid value."}}, 400)
    return _json({"gift_cards": [shapes.gift_card(c) for c in cards]}, headers=headers)


async def count_cards(sim: Simulator, request: Request) -> Response:
    """``GET gift_cards/count.json`` → ``{"count": n}``."""
    return _json({"count": len(_cards(sim, {"status": request.query_params.get("status")}))})


async def get_card(sim: Simulator, request: Request) -> Response:
    """``GET gift_cards/{id}.json``."""
    card = sim.store.cards.get(request.path_params["id"])
    return _json({"gift_card": shapes.gift_card(card)}) if card else _json(NOT_FOUND, 404)


def _rest_errors(errors: list[rules.UserError]) -> JSONResponse:
    # Field-keyed messages; the exact REST wording is unconfirmed (integrations.md 1.6 [U]).
    out: dict[str, list[str]] = {}
    for error in errors:
        name = error.field[-1] if error.field else "base"
        out.setdefault(name, []).append(error.message)
    return _json({"errors": out}, 422)


async def create_card(sim: Simulator, request: Request) -> Response:
    """``POST gift_cards.json``; answers 201 (shopify.dev; SDK fixtures show 200 [U])."""
    data = (await _body(request)).get("gift_card") or {}
    amount = parse_amount(data.get("initial_value"))
    if amount is None:
        return _json({"errors": {"initial_value": ["is not a number"]}}, 422)
    expires = data.get("expires_on")
    try:
        expires_on = date.fromisoformat(expires) if expires else None
    except ValueError:
        return _json({"errors": {"expires_on": ["is invalid"]}}, 422)
    result = rules.create_card(
        sim.store,
        initial_value=amount,
        code=data.get("code"),
        customer_id=data.get("customer_id"),
        expires_on=expires_on,
        note=data.get("note"),
        template_suffix=data.get("template_suffix"),
        api_client_id=755357713,
        field_prefix=(),
    )
    if isinstance(result, list):
        return _rest_errors(result)
    sim.sender.emit("gift_cards/create", shapes.gift_card(result))
    return _json({"gift_card": shapes.gift_card(result, with_code=True)}, 201)


async def update_card(sim: Simulator, request: Request) -> Response:
    """``PUT gift_cards/{id}.json``: only expires_on, note, template_suffix [C]."""
    data = (await _body(request)).get("gift_card") or {}
    changes: dict[str, object] = {}
    for name in ("note", "template_suffix"):
        if name in data:
            changes[name] = data[name]
    if "expires_on" in data:
        try:
            changes["expires_on"] = (
                date.fromisoformat(data["expires_on"]) if data["expires_on"] else None
            )
        except (TypeError, ValueError):
            return _json({"errors": {"expires_on": ["is invalid"]}}, 422)
    result = rules.update_card(sim.store, request.path_params["id"], changes)
    if isinstance(result, list):
        return _json(NOT_FOUND, 404)
    sim.sender.emit("gift_cards/update", shapes.gift_card(result))
    return _json({"gift_card": shapes.gift_card(result)})


async def disable_card(sim: Simulator, request: Request) -> Response:
    """``POST gift_cards/{id}/disable.json``: irreversible [C]."""
    card = sim.store.cards.get(request.path_params["id"])
    if card is None:
        return _json(NOT_FOUND, 404)
    was_enabled = card.enabled
    rules.deactivate_card(sim.store, card.id)
    if was_enabled:
        sim.sender.emit("gift_cards/update", shapes.gift_card(card))
    return _json({"gift_card": shapes.gift_card(card)})


def _orders(sim: Simulator, filters: dict[str, Any]) -> list[Order]:
    since = filters.get("since_id")
    bounds = {
        name: parse_moment(filters[name]) if filters.get(name) else None
        for name in ("updated_at_min", "updated_at_max", "created_at_min", "created_at_max")
    }
    out = []
    for order_id in sorted(sim.store.orders):
        order = sim.store.orders[order_id]
        if since is not None and order.id <= since:
            continue
        if filters.get("status") in ("closed", "cancelled"):
            continue  # simulated orders stay open and are never cancelled
        if bounds["updated_at_min"] and order.updated_at < bounds["updated_at_min"]:
            continue
        if bounds["updated_at_max"] and order.updated_at > bounds["updated_at_max"]:
            continue
        if bounds["created_at_min"] and order.created_at < bounds["created_at_min"]:
            continue
        if bounds["created_at_max"] and order.created_at > bounds["created_at_max"]:
            continue
        out.append(order)
    return out


async def list_orders(sim: Simulator, request: Request) -> Response:
    """``GET orders.json`` (status, updated_at_min/max, created_at_min/max, since_id, page_info)."""
    params = request.query_params
    filters: dict[str, Any] = {
        name: params.get(name)
        for name in (
            "status",
            "updated_at_min",
            "updated_at_max",
            "created_at_min",
            "created_at_max",
        )
    }
    filters["since_id"] = _since(request)
    try:
        orders, headers = page(
            request, _orders(sim, filters), lambda o: o.id, filters, lambda f: _orders(sim, f)
        )
    except BadPageInfo:
        return _json({"errors": {"page_info": "Invalid value."}}, 400)
    body = {"orders": [shapes.order(sim.store, o) for o in orders]}
    return _json(body, headers=headers)


async def get_order(sim: Simulator, request: Request) -> Response:
    """``GET orders/{id}.json``."""
    order = sim.store.orders.get(request.path_params["id"])
    return _json({"order": shapes.order(sim.store, order)}) if order else _json(NOT_FOUND, 404)


async def order_transactions(sim: Simulator, request: Request) -> Response:
    """``GET orders/{id}/transactions.json``: where redemptions are itemised [C]."""
    order = sim.store.orders.get(request.path_params["id"])
    if order is None:
        return _json(NOT_FOUND, 404)
    return _json({"transactions": [shapes.order_transaction(t) for t in order.transactions]})


async def create_webhook(sim: Simulator, request: Request) -> Response:
    """``POST webhooks.json`` → 201 with the subscription."""
    data = (await _body(request)).get("webhook") or {}
    topic, address = data.get("topic"), data.get("address")
    if topic not in TOPICS:
        return _json({"errors": {"topic": ["Invalid topic specified."]}}, 422)
    if not isinstance(address, str) or not address.startswith(("http://", "https://")):
        return _json({"errors": {"address": ["is invalid"]}}, 422)
    for existing in sim.store.subscriptions.values():
        if existing.topic == topic and existing.address == address:
            return _json({"errors": {"address": ["for this topic has already been taken"]}}, 422)
    now = sim.clock.now()
    sub = WebhookSubscription(
        id=sim.store.next_id("webhook"),
        topic=topic,
        address=address,
        format=data.get("format") or "json",
        api_version=request.path_params["version"],
        created_at=now,
        updated_at=now,
    )
    sim.store.subscriptions[sub.id] = sub
    return _json({"webhook": shapes.subscription(sub)}, 201)


async def list_webhooks(sim: Simulator, request: Request) -> Response:
    """``GET webhooks.json`` (optional ``topic``)."""
    topic = request.query_params.get("topic")
    subs = [s for s in sim.store.subscriptions.values() if topic in (None, s.topic)]
    return _json({"webhooks": [shapes.subscription(s) for s in subs]})


async def delete_webhook(sim: Simulator, request: Request) -> Response:
    """``DELETE webhooks/{id}.json`` → 200 ``{}``."""
    if sim.store.subscriptions.pop(request.path_params["id"], None) is None:
        return _json(NOT_FOUND, 404)
    return _json({})


Endpoint = Callable[[Simulator, Request], Awaitable[Response]]

ROUTES: list[tuple[str, str, Endpoint]] = [
    ("GET", "shop.json", shop),
    ("GET", "gift_cards.json", list_cards),
    ("POST", "gift_cards.json", create_card),
    ("GET", "gift_cards/search.json", search_cards),
    ("GET", "gift_cards/count.json", count_cards),
    ("GET", "gift_cards/{id:int}.json", get_card),
    ("PUT", "gift_cards/{id:int}.json", update_card),
    ("POST", "gift_cards/{id:int}/disable.json", disable_card),
    ("GET", "orders.json", list_orders),
    ("GET", "orders/{id:int}.json", get_order),
    ("GET", "orders/{id:int}/transactions.json", order_transactions),
    ("GET", "webhooks.json", list_webhooks),
    ("POST", "webhooks.json", create_webhook),
    ("DELETE", "webhooks/{id:int}.json", delete_webhook),
]


def routes(sim: Simulator) -> list[Route]:
    """Starlette routes for every REST endpoint, behind faults, auth and the leaky bucket."""

    size = sim.config.rest_bucket

    def limited() -> Response:
        return _json(
            {"errors": THROTTLED_MESSAGE},
            429,
            {
                "Retry-After": "2.0",
                "X-Shopify-Shop-Api-Call-Limit": f"{size}/{size}",
            },
        )

    def wrap(endpoint: Endpoint) -> Callable[[Request], Awaitable[Response]]:
        async def handler(request: Request) -> Response:
            async def inner(req: Request) -> Response:
                if not sim.rest_bucket.take():
                    return limited()
                response = await endpoint(sim, req)
                response.headers["X-Shopify-Shop-Api-Call-Limit"] = sim.rest_bucket.header()
                return response

            return await sim.guard("rest", request, inner, limited)

        return handler

    by_path: dict[str, dict[str, Endpoint]] = {}
    for method, path, endpoint in ROUTES:
        by_path.setdefault(path, {})[method] = endpoint
    out = []
    for path, methods in by_path.items():
        out.append(
            Route(
                PREFIX + path,
                _dispatch({m: wrap(e) for m, e in methods.items()}),
                methods=list(methods),
            )
        )
    return out


def _dispatch(
    handlers: dict[str, Callable[[Request], Awaitable[Response]]],
) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        return await handlers[request.method](request)

    return handler
