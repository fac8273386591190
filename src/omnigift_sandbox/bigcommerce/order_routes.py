"""v2 order routes and the v3 transactions route (integrations.md 2.3), plus ``/v2/store``."""

from __future__ import annotations

import operator
from datetime import datetime

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import order_views
from .errors import ApiError
from .formats import FormatError, parse_date
from .gate import vendor
from .pages import page, v2_list
from .simulator import Simulator
from .state import Order

BASE = "/stores/{store_hash}"
SORTABLE = ("id", "date_created", "date_modified", "status_id")


async def get_store(request: Request, sim: Simulator) -> Response:
    """``GET /v2/store``: the store profile, used as a connection check."""
    config = sim.config
    return JSONResponse(
        {
            "id": config.store_hash,
            "domain": f"{config.store_hash}.example-sim.test",
            "secure_url": f"https://{config.store_hash}.example-sim.test",
            "name": "Omnigift BigCommerce Simulator",
            "currency": config.currency,
            "currency_symbol": "$" if config.currency == "USD" else config.currency,
            "timezone": {"name": "Etc/UTC", "raw_offset": 0},
            "plan_name": "Standard",
        }
    )


async def list_orders(request: Request, sim: Simulator) -> Response:
    """``GET /v2/orders`` with ``min_id``, ``max_id``, ``min_date_modified``, ``status_id``,
    ``page``, ``limit`` and ``sort`` (``field:asc|desc``)."""
    query = dict(request.query_params)
    rows = [o for o in sim.store.orders.values() if _matches(o, query)]
    field, _, direction = query.get("sort", "id:asc").partition(":")
    if field not in SORTABLE:
        raise ApiError(400, f"The 'sort' field must be one of {', '.join(SORTABLE)}.")
    rows.sort(key=lambda o: (getattr(o, field), o.id), reverse=direction.lower() == "desc")
    return v2_list([order_views.show(o) for o in page(rows, query)])


async def get_order(request: Request, sim: Simulator) -> Response:
    """``GET /v2/orders/{id}``."""
    return JSONResponse(order_views.show(_find(request, sim)))


async def get_products(request: Request, sim: Simulator) -> Response:
    """``GET /v2/orders/{id}/products``."""
    order = _find(request, sim)
    rows = [order_views.show_product(p) for p in order.products]
    return v2_list(list(page(rows, dict(request.query_params))))


async def get_shipping(request: Request, sim: Simulator) -> Response:
    """``GET /v2/orders/{id}/shipping_addresses`` (empty → 204 for digital-only orders)."""
    return v2_list(list(order_views.show_shipping(_find(request, sim))))


async def get_transactions(request: Request, sim: Simulator) -> Response:
    """``GET /v3/orders/{id}/transactions`` → ``{"data": [...], "meta": {}}``."""
    order = _find(request, sim)
    return JSONResponse(
        {"data": [order_views.show_transaction(t) for t in order.transactions], "meta": {}}
    )


async def get_refunds(request: Request, sim: Simulator) -> Response:
    """``GET /v3/orders/{id}/payment_actions/refunds``: the order's refunds, oldest first [C]."""
    order = _find(request, sim)
    return JSONResponse({"data": [order_views.show_refund(r) for r in order.refunds], "meta": {}})


def _find(request: Request, sim: Simulator) -> Order:
    try:
        order_id = int(request.path_params["order_id"])
    except ValueError:
        order_id = -1
    order = sim.store.orders.get(order_id)
    if order is None:
        raise ApiError(404, "The requested resource was not found.")
    return order


def _matches(order: Order, query: dict[str, str]) -> bool:
    try:
        if "min_id" in query and order.id < int(query["min_id"]):
            return False
        if "max_id" in query and order.id > int(query["max_id"]):
            return False
        if "status_id" in query and order.status_id != int(query["status_id"]):
            return False
    except ValueError as exc:
        raise ApiError(400, "A filter value is not an integer.") from exc
    for name, attribute, keep in (
        ("min_date_modified", "date_modified", operator.ge),
        ("max_date_modified", "date_modified", operator.le),
        ("min_date_created", "date_created", operator.ge),
        ("max_date_created", "date_created", operator.le),
    ):
        if name in query:
            try:
                bound = parse_date(query[name], name)
            except FormatError as exc:
                raise ApiError(400, str(exc)) from exc
            # v2 dates have whole seconds; compare at that precision.
            value: datetime = getattr(order, attribute).replace(microsecond=0)
            if not keep(value, bound):
                return False
    return True


routes = [
    Route(BASE + "/v2/store", vendor("v2", get_store), methods=["GET"]),
    Route(BASE + "/v2/orders", vendor("v2", list_orders), methods=["GET"]),
    Route(BASE + "/v2/orders/{order_id}", vendor("v2", get_order), methods=["GET"]),
    Route(BASE + "/v2/orders/{order_id}/products", vendor("v2", get_products), methods=["GET"]),
    Route(
        BASE + "/v2/orders/{order_id}/shipping_addresses",
        vendor("v2", get_shipping),
        methods=["GET"],
    ),
    Route(
        BASE + "/v3/orders/{order_id}/transactions",
        vendor("v3", get_transactions),
        methods=["GET"],
    ),
    Route(
        BASE + "/v3/orders/{order_id}/payment_actions/refunds",
        vendor("v3", get_refunds),
        methods=["GET"],
    ),
]
