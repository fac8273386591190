"""The vendor routes under ``/API/V3/Account/{accountID}/`` (integrations.md 3.1-3.3).

JSON only (``.json`` suffix); every value a string; single reads and writes answer
``{"@attributes": {"count": "1"}, <Resource>: {...}}``, lists answer a V3 page.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import accounts, query, render, sales
from .errors import ApiError, api_error
from .limits import LOOKUP
from .runtime import Handler, Simulator
from .state import CreditAccount, PaymentType, Register, Sale, SalePayment, Store, Token

PREFIX = "/API/V3/Account/{account_id}"
CUSTOMERS = "employee:customers"
REGISTER = "employee:register"
UNMASK = "employee:customers_view_gift_card_numbers"


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or 400."""
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise ApiError(400, "The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body


def _ok(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status)


def routes(sim: Simulator) -> list[Route]:
    """Every vendor route, bound to ``sim``."""

    def store_of() -> Store:
        # Read at each call: a reset replaces the store.
        return sim.store

    def gated(resource: str, scope: str | None, handler: Handler) -> Any:
        async def endpoint(request: Request) -> Response:
            return await sim.gate(request, resource, scope, handler)

        return endpoint

    def account_flat(account: CreditAccount) -> dict[str, str]:
        return render.credit_account(account)

    credit_resource: query.Resource[CreditAccount] = query.Resource(
        key="CreditAccount",
        primary="creditAccountID",
        sortable=("creditAccountID", "timeStamp", "customerID"),  # 3.2 [C]
        fields=tuple(render.credit_account(_blank_account()).keys()),
        flat=account_flat,
        equals_only=("code",),  # only "=" for code lookups [C]
    )

    def sale_flat(sale: Sale) -> dict[str, str]:
        return render.sale(store_of(), sale, set())

    sale_resource: query.Resource[Sale] = query.Resource(
        key="Sale",
        primary="saleID",
        # Sortable Sale fields are not in integrations.md; saleID/timeStamp are the usual [U].
        sortable=("saleID", "timeStamp", "completeTime", "createTime"),
        fields=tuple(render.sale(sim.store, _blank_sale(), set()).keys()),
        flat=sale_flat,
    )

    def payment_flat(payment: SalePayment) -> dict[str, str]:
        shown = render.sale_payment(store_of(), payment)
        return {k: v for k, v in shown.items() if isinstance(v, str)}

    payment_resource: query.Resource[SalePayment] = query.Resource(
        key="SalePayment",
        primary="salePaymentID",
        sortable=("salePaymentID", "createTime"),  # [U]
        fields=(
            "salePaymentID",
            "amount",
            "createTime",
            "archived",
            "remoteReference",
            "saleID",
            "paymentTypeID",
            "refPaymentID",
            "registerID",
            "employeeID",
            "creditAccountID",
        ),
        flat=payment_flat,
    )

    # --- Account ---------------------------------------------------------------------------

    async def account_info(request: Request, token: Token) -> Response:
        return _ok(
            render.single(
                "Account",
                {
                    "accountID": str(sim.config.account_id),
                    "name": sim.config.account_name,
                    "link": {"@attributes": {"href": f"/API/V3/Account/{sim.config.account_id}"}},
                },
            )
        )

    # --- CreditAccount ---------------------------------------------------------------------

    def find_account(request: Request) -> CreditAccount:
        account = store_of().accounts.get(int(request.path_params["item_id"]))
        if account is None:
            raise ApiError(404, "CreditAccount not found.")
        return account

    async def list_accounts(request: Request, token: Token) -> Response:
        params = request.query_params
        if "code" in params and not sim.limits.lookup_allowed():
            blocked = api_error(429, "Gift card lookups are limited to 1 request per second.")
            blocked.headers["Retry-After"] = "1"
            blocked.headers["X-LS-API-RateLimit-Type"] = LOOKUP
            return blocked
        records = list(store_of().accounts.values())
        if params.get("giftCard") is None:
            # giftCard=true must be passed for gift cards to be listed at all (3.2 [C]).
            records = [a for a in records if not a.gift_card]
        page = query.select(request, credit_resource, records)
        if page.count is not None:
            return _ok({"@attributes": {"count": str(page.count)}})
        unmask = UNMASK in token.scopes
        items = [render.credit_account(a, unmask=unmask) for a in page.items]
        return _ok(render.listing("CreditAccount", items, page.next, page.previous))

    async def create_account(request: Request, token: Token) -> Response:
        account = accounts.create(store_of(), await read_json(request))
        unmask = UNMASK in token.scopes
        return _ok(render.single("CreditAccount", render.credit_account(account, unmask=unmask)))

    async def get_account(request: Request, token: Token) -> Response:
        account = find_account(request)
        shown = render.credit_account(account, unmask=UNMASK in token.scopes)
        return _ok(render.single("CreditAccount", shown))

    async def put_account(request: Request, token: Token) -> Response:
        account = accounts.update(store_of(), find_account(request), await read_json(request))
        shown = render.credit_account(account, unmask=UNMASK in token.scopes)
        return _ok(render.single("CreditAccount", shown))

    async def delete_account(request: Request, token: Token) -> Response:
        account = accounts.archive(store_of(), find_account(request))
        shown = render.credit_account(account, unmask=UNMASK in token.scopes)
        return _ok(render.single("CreditAccount", shown))

    # --- Sale ------------------------------------------------------------------------------

    def find_sale(request: Request) -> Sale:
        sale = store_of().sales.get(int(request.path_params["item_id"]))
        if sale is None:
            raise ApiError(404, "Sale not found.")
        return sale

    def wanted(request: Request) -> set[str]:
        names = query.relations(request)
        return {"SaleLines", "SalePayments"} if "all" in names else names

    async def list_sales(request: Request, token: Token) -> Response:
        relations = wanted(request)
        page = query.select(request, sale_resource, list(store_of().sales.values()))
        if page.count is not None:
            return _ok({"@attributes": {"count": str(page.count)}})
        items = [render.sale(store_of(), s, relations) for s in page.items]
        return _ok(render.listing("Sale", items, page.next, page.previous))

    async def create_sale(request: Request, token: Token) -> Response:
        sale = sales.create(store_of(), await read_json(request))
        # The documented write answers show lines and payments without load_relations [C].
        shown = render.sale(store_of(), sale, {"SaleLines", "SalePayments"})
        return _ok(render.single("Sale", shown))

    async def get_sale(request: Request, token: Token) -> Response:
        shown = render.sale(store_of(), find_sale(request), wanted(request))
        return _ok(render.single("Sale", shown))

    async def put_sale(request: Request, token: Token) -> Response:
        sale = sales.update(store_of(), find_sale(request), await read_json(request))
        shown = render.sale(store_of(), sale, {"SaleLines", "SalePayments"})
        return _ok(render.single("Sale", shown))

    # --- Customer --------------------------------------------------------------------------

    async def get_customer(request: Request, token: Token) -> Response:
        customer = store_of().customers.get(int(request.path_params["item_id"]))
        if customer is None:
            raise ApiError(404, "Customer not found.")
        shown = render.customer(customer, "Contact" in query.relations(request))
        return _ok(render.single("Customer", shown))

    # --- SalePayment -----------------------------------------------------------------------

    def all_payments() -> list[SalePayment]:
        return [p for s in store_of().sales.values() for p in s.payments]

    async def list_payments(request: Request, token: Token) -> Response:
        page = query.select(request, payment_resource, all_payments())
        if page.count is not None:
            return _ok({"@attributes": {"count": str(page.count)}})
        items = [render.sale_payment(store_of(), p) for p in page.items]
        return _ok(render.listing("SalePayment", items, page.next, page.previous))

    async def get_payment(request: Request, token: Token) -> Response:
        wanted_id = int(request.path_params["item_id"])
        for payment in all_payments():
            if payment.id == wanted_id:
                return _ok(render.single("SalePayment", render.sale_payment(store_of(), payment)))
        raise ApiError(404, "SalePayment not found.")

    # --- Reference data: PaymentType, Register, Shop --------------------------------------

    async def payment_types(request: Request, token: Token) -> Response:
        items = [_payment_type(t) for t in store_of().payment_types.values()]
        return _ok(render.listing("PaymentType", items, "", ""))

    async def registers(request: Request, token: Token) -> Response:
        items = [_register(r) for r in store_of().registers.values()]
        return _ok(render.listing("Register", items, "", ""))

    async def shops(request: Request, token: Token) -> Response:
        shop = {
            "shopID": "1",
            "name": sim.config.account_name,
            "timeZone": "UTC",
            "archived": "false",
        }
        return _ok(render.listing("Shop", [shop], "", ""))

    def at(path: str) -> str:
        return f"{PREFIX}/{path}"

    return [
        Route("/API/V3/Account.json", gated("Account", None, account_info), methods=["GET"]),
        Route(
            at("CreditAccount.json"),
            gated("CreditAccount", CUSTOMERS, list_accounts),
            methods=["GET"],
        ),
        Route(
            at("CreditAccount.json"),
            gated("CreditAccount", CUSTOMERS, create_account),
            methods=["POST"],
        ),
        Route(
            at("CreditAccount/{item_id:int}.json"),
            gated("CreditAccount", CUSTOMERS, get_account),
            methods=["GET"],
        ),
        Route(
            at("CreditAccount/{item_id:int}.json"),
            gated("CreditAccount", CUSTOMERS, put_account),
            methods=["PUT"],
        ),
        Route(
            at("CreditAccount/{item_id:int}.json"),
            gated("CreditAccount", CUSTOMERS, delete_account),
            methods=["DELETE"],
        ),
        Route(
            at("Customer/{item_id:int}.json"),
            gated("Customer", CUSTOMERS, get_customer),
            methods=["GET"],
        ),
        Route(at("Sale.json"), gated("Sale", REGISTER, list_sales), methods=["GET"]),
        Route(at("Sale.json"), gated("Sale", REGISTER, create_sale), methods=["POST"]),
        Route(at("Sale/{item_id:int}.json"), gated("Sale", REGISTER, get_sale), methods=["GET"]),
        Route(at("Sale/{item_id:int}.json"), gated("Sale", REGISTER, put_sale), methods=["PUT"]),
        Route(
            at("SalePayment.json"), gated("SalePayment", REGISTER, list_payments), methods=["GET"]
        ),
        Route(
            at("SalePayment/{item_id:int}.json"),
            gated("SalePayment", REGISTER, get_payment),
            methods=["GET"],
        ),
        Route(
            at("PaymentType.json"), gated("PaymentType", REGISTER, payment_types), methods=["GET"]
        ),
        Route(at("Register.json"), gated("Register", REGISTER, registers), methods=["GET"]),
        Route(at("Shop.json"), gated("Shop", REGISTER, shops), methods=["GET"]),
    ]


def _payment_type(kind: PaymentType) -> dict[str, str]:
    return {
        "paymentTypeID": str(kind.id),
        "name": kind.name,
        "requireCustomer": "false",
        "archived": "false",
        "internalReserved": "true" if kind.internal_reserved else "false",
        "type": kind.type,
        "refundAsPaymentTypeID": str(kind.refund_as_id),
    }


def _register(register: Register) -> dict[str, str]:
    return {
        "registerID": str(register.id),
        "name": register.name,
        "open": "true",
        "archived": "false",
        "shopID": str(register.shop_id),
    }


def _blank_account() -> CreditAccount:
    return CreditAccount(0, "", "", "", True, 0, datetime(2000, 1, 1, tzinfo=UTC))


def _blank_sale() -> Sale:
    moment = datetime(2000, 1, 1, tzinfo=UTC)
    return Sale(0, moment, moment, 0, 0, 0)
