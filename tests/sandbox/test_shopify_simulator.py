"""The Shopify simulator over real HTTP: wire contract, rules, faults, checkout, webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from omnigift_sandbox.loopback import LoopbackServer
from omnigift_sandbox.shopify import ShopifyConfig, create_app

TOKEN = "shpat_test"
SECRET = "hush"
GQL = "/admin/api/2025-07/graphql.json"
REST = "/admin/api/2025-07"

CREATE = """
mutation($in: GiftCardCreateInput!) {
  giftCardCreate(input: $in) {
    giftCard { id balance { amount currencyCode } lastCharacters maskedCode enabled }
    giftCardCode
    userErrors { code field message }
  }
}"""
DEBIT = """
mutation($id: ID!, $in: GiftCardDebitInput!) {
  giftCardDebit(id: $id, debitInput: $in) {
    giftCardDebitTransaction {
      id amount { amount currencyCode } note giftCard { balance { amount } }
    }
    userErrors { code field message }
  }
}"""
CREDIT = """
mutation($id: ID!, $in: GiftCardCreditInput!) {
  giftCardCredit(id: $id, creditInput: $in) {
    giftCardCreditTransaction { id amount { amount } }
    userErrors { code field message }
  }
}"""
DEACTIVATE = """
mutation($id: ID!) {
  giftCardDeactivate(id: $id) { giftCard { enabled deactivatedAt } userErrors { code } }
}
"""
TRANSACTIONS = """
query($id: ID!) { giftCard(id: $id) { balance { amount } transactions(first: 10) {
  nodes { __typename id note amount { amount } } } } }
"""


@dataclass
class Hooks:
    """A real webhook receiver on loopback that checks Shopify's HMAC and records arrivals."""

    fail_first: int = 0  # answer 500 to this many attempts
    arrivals: list[tuple[dict[str, str], bytes, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def start(self) -> Hooks:
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                expected = base64.b64encode(
                    hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
                ).decode()
                valid = hmac.compare_digest(expected, headers["x-shopify-hmac-sha256"])
                with hooks.lock:
                    hooks.arrivals.append((headers, body, valid))
                    failing = hooks.fail_first > 0 and valid
                    if failing:
                        hooks.fail_first -= 1
                self.send_response(500 if failing else (200 if valid else 401))
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def topics(self, valid_only: bool = True) -> list[str]:
        with self.lock:
            return [h["x-shopify-topic"] for h, _b, ok in self.arrivals if ok or not valid_only]


def wait_until(condition: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


@dataclass
class Shop:
    client: httpx.Client
    control: httpx.Client

    def gql(self, query: str, **variables: Any) -> dict[str, Any]:
        response = self.client.post(GQL, json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def create(self, value: str = "50.00", **fields: Any) -> tuple[str, str]:
        data = self.gql(CREATE, **{"in": {"initialValue": value, **fields}})
        payload = data["data"]["giftCardCreate"]
        assert payload["userErrors"] == [], payload
        return payload["giftCard"]["id"], payload["giftCardCode"]

    def debit(self, card: str, amount: str, currency: str = "USD", note: str | None = None) -> Any:
        money = {"amount": amount, "currencyCode": currency}
        return self.gql(DEBIT, id=card, **{"in": {"debitAmount": money, "note": note}})["data"][
            "giftCardDebit"
        ]

    def subscribe(self, topic: str, address: str) -> None:
        body = {"webhook": {"topic": topic, "address": address, "format": "json"}}
        assert self.client.post(f"{REST}/webhooks.json", json=body).status_code == 201


def _serve(config: ShopifyConfig) -> Iterator[Shop]:
    with LoopbackServer(create_app(config)) as server:
        headers = {"X-Shopify-Access-Token": TOKEN}
        with (
            httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as client,
            httpx.Client(base_url=server.base_url, timeout=10) as control,
        ):
            yield Shop(client, control)


@pytest.fixture
def shop() -> Iterator[Shop]:
    yield from _serve(
        ShopifyConfig(access_token=TOKEN, client_secret=SECRET, webhook_retry_delays=[0.2, 0.2])
    )


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    receiver = Hooks().start()
    yield receiver
    receiver.stop()


# -- auth and the GraphQL surface --------------------------------------------------------------


def test_a_wrong_access_token_is_401_with_shopifys_message(shop: Shop) -> None:
    for method, path in [("POST", GQL), ("GET", f"{REST}/shop.json")]:
        response = shop.control.request(method, path, headers={"X-Shopify-Access-Token": "nope"})
        assert response.status_code == 401
        assert response.json() == {
            "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"
        }


def test_create_normalises_the_code_and_shows_it_only_in_the_create_payload(shop: Shop) -> None:
    data = shop.gql(CREATE, **{"in": {"initialValue": "25", "code": "ABCD EFGH 1234"}})
    payload = data["data"]["giftCardCreate"]
    assert payload["giftCardCode"] == "abcdefgh1234"
    card = payload["giftCard"]
    assert card["balance"] == {"amount": "25.0", "currencyCode": "USD"}
    assert card["lastCharacters"] == "1234"
    assert card["maskedCode"] == "•••• •••• •••• 1234"
    rest = shop.client.get(f"{REST}/gift_cards/{card['id'].rsplit('/', 1)[1]}.json").json()
    assert "code" not in rest["gift_card"] and rest["gift_card"]["balance"] == "25.00"


def test_a_code_is_generated_when_omitted(shop: Shop) -> None:
    _card, code = shop.create()
    assert len(code) == 16 and code.isalnum() and code == code.lower()


@pytest.mark.parametrize(
    ("code", "error"),
    [("abc1234", "TOO_SHORT"), ("a" * 21, "TOO_LONG"), ("abcd-efgh", "INVALID")],
)
def test_code_format_is_enforced(shop: Shop, code: str, error: str) -> None:
    data = shop.gql(CREATE, **{"in": {"initialValue": "5", "code": code}})
    assert data["data"]["giftCardCreate"]["userErrors"][0]["code"] == error
    assert data["data"]["giftCardCreate"]["giftCard"] is None


def test_codes_are_unique_regardless_of_case(shop: Shop) -> None:
    shop.create(code="samecode99")
    data = shop.gql(CREATE, **{"in": {"initialValue": "5", "code": "SAMECODE99"}})
    assert data["data"]["giftCardCreate"]["userErrors"][0]["code"] == "TAKEN"


def test_initial_value_above_the_issue_limit_is_refused(shop: Shop) -> None:
    data = shop.gql(CREATE, **{"in": {"initialValue": "2000.01"}})
    assert data["data"]["giftCardCreate"]["userErrors"][0]["code"] == "GIFT_CARD_LIMIT_EXCEEDED"


def test_debit_more_than_balance_is_insufficient_funds(shop: Shop) -> None:
    card, _code = shop.create("20.00")
    payload = shop.debit(card, "20.01")
    assert payload["giftCardDebitTransaction"] is None
    assert payload["userErrors"][0]["code"] == "INSUFFICIENT_FUNDS"
    assert shop.gql(TRANSACTIONS, id=card)["data"]["giftCard"]["balance"]["amount"] == "20.0"


def test_a_replayed_debit_makes_a_second_transaction(shop: Shop) -> None:
    card, _code = shop.create("50.00")
    first = shop.debit(card, "10.00", note="omnigift:txn_1")
    second = shop.debit(card, "10.00", note="omnigift:txn_1")
    assert first["giftCardDebitTransaction"]["id"] != second["giftCardDebitTransaction"]["id"]
    gift_card = shop.gql(TRANSACTIONS, id=card)["data"]["giftCard"]
    assert gift_card["balance"]["amount"] == "30.0"
    nodes = gift_card["transactions"]["nodes"]
    assert [(n["__typename"], n["note"], n["amount"]["amount"]) for n in nodes] == [
        ("GiftCardDebitTransaction", "omnigift:txn_1", "-10.0"),
        ("GiftCardDebitTransaction", "omnigift:txn_1", "-10.0"),
    ]


def test_credit_adds_to_the_balance(shop: Shop) -> None:
    card, _code = shop.create("5.00")
    money = {"amount": "7.50", "currencyCode": "USD"}
    payload = shop.gql(CREDIT, id=card, **{"in": {"creditAmount": money}})["data"]
    assert payload["giftCardCredit"]["giftCardCreditTransaction"]["amount"]["amount"] == "7.5"
    assert shop.gql(TRANSACTIONS, id=card)["data"]["giftCard"]["balance"]["amount"] == "12.5"


def test_debit_of_zero_or_in_another_currency_is_refused(shop: Shop) -> None:
    card, _code = shop.create()
    assert shop.debit(card, "0")["userErrors"][0]["code"] == "NEGATIVE_OR_ZERO_AMOUNT"
    assert shop.debit(card, "1", currency="EUR")["userErrors"][0]["code"] == "MISMATCHING_CURRENCY"


def test_deactivation_is_one_way_and_blocks_debits(shop: Shop) -> None:
    card, _code = shop.create()
    first = shop.gql(DEACTIVATE, id=card)["data"]["giftCardDeactivate"]["giftCard"]
    again = shop.gql(DEACTIVATE, id=card)["data"]["giftCardDeactivate"]["giftCard"]
    assert first["enabled"] is False and again["deactivatedAt"] == first["deactivatedAt"]
    assert shop.debit(card, "1")["userErrors"][0]["code"] == "INVALID"


def test_an_expired_card_cannot_be_debited(shop: Shop) -> None:
    card, _code = shop.create(expiresOn="2030-01-01")
    assert shop.debit(card, "1")["userErrors"] == []
    shop.control.post("/__sim/clock", json={"advance_seconds": 20 * 365 * 86400})
    assert shop.debit(card, "1")["userErrors"][0]["code"] == "INVALID"


def test_an_unknown_card_is_gift_card_not_found(shop: Shop) -> None:
    payload = shop.debit("gid://shopify/GiftCard/999", "1")
    assert payload["userErrors"][0]["code"] == "GIFT_CARD_NOT_FOUND"
    assert shop.gql(TRANSACTIONS, id="gid://shopify/GiftCard/999")["data"]["giftCard"] is None


def test_a_document_the_schema_does_not_allow_is_a_graphql_error(shop: Shop) -> None:
    data = shop.gql('{ giftCard(id: "gid://shopify/GiftCard/1") { code } }')
    assert "data" not in data and "code" in data["errors"][0]["message"]


def test_gift_cards_query_filters_and_paginates_with_cursors(shop: Shop) -> None:
    ids = [shop.create(code=f"pagecode{i:04d}")[0] for i in range(3)]
    shop.gql(DEACTIVATE, id=ids[1])
    query = """query($q: String, $after: String) { giftCards(first: 1, after: $after, query: $q) {
      edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"""
    first = shop.gql(query, q="status:enabled")["data"]["giftCards"]
    assert first["edges"][0]["node"]["id"] == ids[0] and first["pageInfo"]["hasNextPage"]
    after = first["pageInfo"]["endCursor"]
    second = shop.gql(query, q="status:enabled", after=after)["data"]["giftCards"]
    assert second["edges"][0]["node"]["id"] == ids[2]
    assert second["pageInfo"]["hasNextPage"] is False
    by_code = shop.gql(query, q="PAGECODE 0002")["data"]["giftCards"]["edges"]
    assert [e["node"]["id"] for e in by_code] == [ids[2]]
    count = shop.gql('{ giftCardsCount(query: "status:disabled") { count precision } }')
    assert count["data"]["giftCardsCount"] == {"count": 1, "precision": "EXACT"}


def test_every_graphql_answer_reports_its_cost(shop: Shop) -> None:
    data = shop.gql("{ shop { name currencyCode myshopifyDomain } }")
    cost = data["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 1 and cost["actualQueryCost"] == 1
    assert cost["throttleStatus"]["maximumAvailable"] == 1000.0
    assert cost["throttleStatus"]["restoreRate"] == 50.0


def test_an_empty_cost_bucket_answers_throttled_without_data() -> None:
    config = ShopifyConfig(
        access_token=TOKEN, client_secret=SECRET, graphql_max_cost=25, graphql_restore_rate=1
    )
    for shop in _serve(config):
        shop.create()
        shop.create()
        data = shop.gql(CREATE, **{"in": {"initialValue": "1"}})
        assert "data" not in data
        assert data["errors"][0]["extensions"]["code"] == "THROTTLED"
        assert data["extensions"]["cost"]["actualQueryCost"] is None
        shop.control.post("/__sim/clock", json={"advance_seconds": 30})
        assert shop.gql("{ shop { name } }")["data"]["shop"]["name"] == "Demo Shop"


# -- REST --------------------------------------------------------------------------------------


def test_rest_answers_carry_the_call_limit_and_a_full_bucket_is_429() -> None:
    config = ShopifyConfig(access_token=TOKEN, client_secret=SECRET, rest_bucket=3)
    for shop in _serve(config):
        seen = [shop.client.get(f"{REST}/shop.json") for _ in range(4)]
        assert [r.status_code for r in seen] == [200, 200, 200, 429]
        assert seen[0].headers["X-Shopify-Shop-Api-Call-Limit"] == "1/3"
        assert seen[3].headers["Retry-After"] == "2.0"
        assert seen[0].headers["X-Request-Id"]
        assert seen[0].json()["shop"]["myshopify_domain"] == "demo.myshopify.com"
        shop.control.post("/__sim/clock", json={"advance_seconds": 2})
        assert shop.client.get(f"{REST}/shop.json").status_code == 200


def test_rest_gift_cards_paginate_with_a_link_header(shop: Shop) -> None:
    for _ in range(3):
        shop.create()
    first = shop.client.get(f"{REST}/gift_cards.json", params={"limit": 2})
    assert len(first.json()["gift_cards"]) == 2
    assert first.links["next"]["url"]
    second = shop.client.get(first.links["next"]["url"])
    assert len(second.json()["gift_cards"]) == 1 and "next" not in second.links
    assert shop.client.get(f"{REST}/gift_cards/count.json").json() == {"count": 3}
    last = first.json()["gift_cards"][0]["last_characters"]
    found = shop.client.get(
        f"{REST}/gift_cards/search.json", params={"query": f"last_characters:{last}"}
    ).json()["gift_cards"]
    assert first.json()["gift_cards"][0]["id"] in [c["id"] for c in found]


def test_webhook_subscriptions_can_be_listed_and_deleted(shop: Shop) -> None:
    body = {"webhook": {"topic": "orders/paid", "address": "http://127.0.0.1:9/x"}}
    created = shop.client.post(f"{REST}/webhooks.json", json=body)
    assert created.status_code == 201
    hook_id = created.json()["webhook"]["id"]
    assert [w["id"] for w in shop.client.get(f"{REST}/webhooks.json").json()["webhooks"]] == [
        hook_id
    ]
    assert shop.client.delete(f"{REST}/webhooks/{hook_id}.json").status_code == 200
    assert shop.client.get(f"{REST}/webhooks.json").json()["webhooks"] == []


# -- checkout, refunds, staff ------------------------------------------------------------------


def test_checkout_spends_gift_cards_first_and_issues_purchased_cards(
    shop: Shop, hooks: Hooks
) -> None:
    _card, code = shop.create("30.00")
    for topic in ("orders/create", "orders/paid", "gift_cards/create"):
        shop.subscribe(topic, hooks.url)
    body = {
        "email": "ada@example.com",
        "customer": {"first_name": "Ada", "last_name": "L"},
        "line_items": [
            {"title": "Shirt", "price": "45.00", "quantity": 1, "sku": "SH-1"},
            {"title": "Gift card", "price": "25.00", "quantity": 2, "gift_card": True},
        ],
        "gift_card_codes": [code.upper()],
    }
    answer = shop.control.post("/__sim/checkout", json=body).json()
    order = answer["order"]
    assert order["total_price"] == "95.00" and order["name"] == "#1001"
    assert order["payment_gateway_names"] == ["gift_card", "bogus"]
    txns = shop.client.get(f"{REST}/orders/{order['id']}/transactions.json").json()
    sales = [(t["gateway"], t["amount"]) for t in txns["transactions"]]
    assert sales == [("gift_card", "30.00"), ("bogus", "65.00")]
    assert txns["transactions"][0]["receipt"]["gift_card_last_characters"] == code[-4:]
    assert len(answer["issued_gift_cards"]) == 2
    issued = shop.client.get(f"{REST}/gift_cards/{answer['issued_gift_cards'][0]['id']}.json")
    assert issued.json()["gift_card"]["order_id"] == order["id"]
    assert wait_until(lambda: len(hooks.topics()) >= 4)
    assert hooks.topics() == [
        "orders/create",
        "orders/paid",
        "gift_cards/create",
        "gift_cards/create",
    ]


def test_checkout_with_an_unknown_code_is_refused_and_changes_nothing(shop: Shop) -> None:
    body = {
        "line_items": [{"title": "x", "price": "5.00", "quantity": 1}],
        "gift_card_codes": ["nosuchcode1"],
    }
    response = shop.control.post("/__sim/checkout", json=body)
    assert response.status_code == 422 and "not valid" in response.json()["error"]
    assert shop.control.get("/__sim/state").json()["orders"] == []


def test_a_refund_goes_back_to_the_gift_card_that_paid(shop: Shop) -> None:
    card, code = shop.create("40.00")
    body = {
        "line_items": [{"title": "x", "price": "30.00", "quantity": 1}],
        "gift_card_codes": [code],
    }
    order = shop.control.post("/__sim/checkout", json=body).json()["order"]
    refund = shop.control.post(f"/__sim/orders/{order['id']}/refund", json={"amount": "10.00"})
    assert refund.status_code == 200
    txn = refund.json()["refund"]["transactions"][0]
    assert (txn["kind"], txn["gateway"], txn["amount"]) == ("refund", "gift_card", "10.00")
    assert shop.gql(TRANSACTIONS, id=card)["data"]["giftCard"]["balance"]["amount"] == "20.0"
    again = shop.client.get(f"{REST}/orders/{order['id']}.json").json()["order"]
    assert again["financial_status"] == "partially_refunded"


def test_a_staff_card_appears_in_state_with_its_full_code(shop: Shop) -> None:
    made = shop.control.post(
        "/__sim/gift_cards", json={"initial_value": "15.00", "customer": {"email": "b@x.io"}}
    ).json()
    cards = shop.control.get("/__sim/state").json()["gift_cards"]
    assert [(c["id"], c["code"], c["balance"]) for c in cards] == [
        (made["id"], made["code"], "15.00")
    ]


# -- faults ------------------------------------------------------------------------------------


def test_an_ambiguous_fault_commits_the_debit_and_then_answers_503(shop: Shop) -> None:
    card, _code = shop.create("50.00")
    shop.control.post("/__sim/faults", json={"target": "graphql", "kind": "ambiguous"})
    money = {"amount": "10.00", "currencyCode": "USD"}
    response = shop.client.post(
        GQL, json={"query": DEBIT, "variables": {"id": card, "in": {"debitAmount": money}}}
    )
    assert response.status_code == 503
    assert shop.gql(TRANSACTIONS, id=card)["data"]["giftCard"]["balance"]["amount"] == "40.0"


def test_a_status_fault_answers_without_doing_anything(shop: Shop) -> None:
    card, _code = shop.create("50.00")
    shop.control.post("/__sim/faults", json={"target": "all", "kind": "status", "status": 500})
    assert shop.control.get("/__sim/faults").json()["faults"][0]["kind"] == "status"
    response = shop.client.post(
        GQL,
        json={
            "query": DEBIT,
            "variables": {
                "id": card,
                "in": {"debitAmount": {"amount": "10.00", "currencyCode": "USD"}},
            },
        },
    )
    assert response.status_code == 500
    assert shop.gql(TRANSACTIONS, id=card)["data"]["giftCard"]["balance"]["amount"] == "50.0"
    assert shop.control.get("/__sim/faults").json()["faults"] == []


def test_throttle_and_down_faults(shop: Shop) -> None:
    shop.control.post("/__sim/faults", json={"target": "rest", "kind": "throttle", "count": 1})
    assert shop.client.get(f"{REST}/shop.json").status_code == 429
    throttled = shop.control.post("/__sim/faults", json={"target": "graphql", "kind": "throttle"})
    assert throttled.status_code == 201
    data = shop.gql("{ shop { name } }")
    assert data["errors"][0]["extensions"]["code"] == "THROTTLED"
    shop.control.post("/__sim/faults", json={"kind": "down", "seconds": 60})
    assert shop.client.get(f"{REST}/shop.json").status_code == 503
    shop.control.delete("/__sim/faults")
    assert shop.client.get(f"{REST}/shop.json").status_code == 200


# -- webhooks ----------------------------------------------------------------------------------


def test_webhooks_are_signed_and_carry_shopify_headers(shop: Shop, hooks: Hooks) -> None:
    shop.subscribe("gift_cards/create", hooks.url)
    card, _code = shop.create("12.00")
    assert wait_until(lambda: len(hooks.arrivals) == 1)
    headers, body, valid = hooks.arrivals[0]
    assert valid
    assert headers["x-shopify-topic"] == "gift_cards/create"
    assert headers["x-shopify-shop-domain"] == "demo.myshopify.com"
    assert headers["x-shopify-api-version"] == "2025-07"
    for name in ("x-shopify-webhook-id", "x-shopify-event-id", "x-shopify-triggered-at"):
        assert headers[name]
    payload = json.loads(body)
    assert payload["id"] == int(card.rsplit("/", 1)[1]) and "code" not in payload


def test_a_failed_webhook_is_retried_with_the_same_bytes(shop: Shop, hooks: Hooks) -> None:
    hooks.fail_first = 1
    shop.subscribe("gift_cards/create", hooks.url)
    shop.create()
    assert wait_until(lambda: len(hooks.arrivals) == 2)
    (h1, b1, _), (h2, b2, _) = hooks.arrivals
    assert b1 == b2 and h1["x-shopify-event-id"] == h2["x-shopify-event-id"]
    webhooks = shop.control.get("/__sim/state").json()["webhooks"]
    assert (webhooks["sent"], webhooks["failed"], webhooks["retried"]) == (1, 1, 1)


def test_a_webhook_is_given_up_after_the_last_retry(shop: Shop, hooks: Hooks) -> None:
    hooks.fail_first = 10
    shop.subscribe("gift_cards/create", hooks.url)
    shop.create()
    assert wait_until(lambda: shop.control.get("/__sim/state").json()["webhooks"]["given_up"] == 1)
    assert len(hooks.arrivals) == 3  # the first try and the two configured retries


def test_duplicate_and_bad_signature_behaviours(shop: Shop, hooks: Hooks) -> None:
    shop.control.post("/__sim/webhooks/behaviour", json={"duplicate": True, "bad_signature": True})
    shop.subscribe("gift_cards/create", hooks.url)
    shop.create()
    assert wait_until(lambda: len(hooks.arrivals) == 3)
    assert [valid for _h, _b, valid in hooks.arrivals] == [False, True, True]
    assert len({h["x-shopify-event-id"] for h, _b, _v in hooks.arrivals}) == 1


def test_reorder_sends_a_window_newest_first(shop: Shop, hooks: Hooks) -> None:
    shop.control.post("/__sim/webhooks/behaviour", json={"reorder": True})
    for topic in ("orders/create", "orders/paid"):
        shop.subscribe(topic, hooks.url)
    body = {"line_items": [{"title": "x", "price": "5.00", "quantity": 1}]}
    shop.control.post("/__sim/checkout", json=body)
    assert wait_until(lambda: len(hooks.arrivals) == 2)
    assert hooks.topics() == ["orders/paid", "orders/create"]


def test_debits_emit_gift_cards_update_unconfirmed(shop: Shop, hooks: Hooks) -> None:
    shop.subscribe("gift_cards/update", hooks.url)
    card, _code = shop.create("9.00")
    shop.debit(card, "4.00")
    assert wait_until(lambda: len(hooks.arrivals) == 1)
    assert json.loads(hooks.arrivals[0][1])["balance"] == "5.00"


CUSTOMER_CREATE = """mutation($in: CustomerInput!) {
  customerCreate(input: $in) { customer { id email } userErrors { field message } } }"""
CUSTOMERS = """query($q: String) { customers(first: 5, query: $q) { nodes { id email } } }"""


def _customer(shop: Shop, email: str) -> str:
    payload = shop.gql(CUSTOMER_CREATE, **{"in": {"email": email}})["data"]["customerCreate"]
    assert payload["userErrors"] == []
    return str(payload["customer"]["id"])


def test_a_customer_email_belongs_to_one_customer_and_is_found_by_search(shop: Shop) -> None:
    ada = _customer(shop, "ada@example.com")
    again = shop.gql(CUSTOMER_CREATE, **{"in": {"email": "ADA@example.com"}})
    assert again["data"]["customerCreate"] == {
        "customer": None,
        "userErrors": [{"field": ["email"], "message": "Email has already been taken"}],
    }
    found = shop.gql(CUSTOMERS, q='email:"ada@example.com"')["data"]["customers"]["nodes"]
    assert found == [{"id": ada, "email": "ada@example.com"}]


def test_a_card_for_a_customer_is_emailed_unless_notify_is_false(shop: Shop) -> None:
    ada = _customer(shop, "ada@example.com")
    told = shop.gql(CREATE, **{"in": {"initialValue": "25", "customerId": ada}})
    silent = shop.gql(CREATE, **{"in": {"initialValue": "25", "customerId": ada, "notify": False}})
    assert silent["data"]["giftCardCreate"]["userErrors"] == []

    sent = shop.control.get("/__sim/notifications").json()
    told_id = int(told["data"]["giftCardCreate"]["giftCard"]["id"].rsplit("/", 1)[1])
    assert [(n["kind"], n["to"], n["gift_card_id"]) for n in sent] == [
        ("gift_card", "ada@example.com", told_id)
    ]


def test_a_card_with_a_recipient_goes_to_them_and_the_buyer_gets_a_confirmation(
    shop: Shop,
) -> None:
    buyer, friend = _customer(shop, "buyer@example.com"), _customer(shop, "friend@example.com")
    shop.gql(
        CREATE,
        **{
            "in": {
                "initialValue": "25",
                "customerId": buyer,
                "recipientAttributes": {"id": friend, "message": "Enjoy"},
            }
        },
    )
    sent = shop.control.get("/__sim/notifications").json()
    assert [(n["kind"], n["to"], n["message"]) for n in sent] == [
        ("gift_card", "friend@example.com", "Enjoy"),
        ("purchase_confirmation", "buyer@example.com", None),
    ]


def test_a_refund_names_the_lines_it_returns_and_never_more_than_were_bought(shop: Shop) -> None:
    body = {"line_items": [{"title": "Card", "price": "25.00", "quantity": 2}]}
    order = shop.control.post("/__sim/checkout", json=body).json()["order"]
    line = order["line_items"][0]["id"]
    path = f"/__sim/orders/{order['id']}/refund"

    first = shop.control.post(
        path, json={"amount": "25.00", "refund_line_items": [{"line_item_id": line, "quantity": 1}]}
    )
    too_many = shop.control.post(
        path, json={"amount": "25.00", "refund_line_items": [{"line_item_id": line, "quantity": 2}]}
    )

    assert first.status_code == 200
    assert first.json()["refund"]["refund_line_items"][0]["line_item_id"] == line
    assert too_many.status_code == 422
    again = shop.client.get(f"{REST}/orders/{order['id']}.json").json()["order"]
    assert [r["refund_line_items"][0]["quantity"] for r in again["refunds"]] == [1]
