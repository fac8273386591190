"""The BigCommerce simulator, driven over real HTTP as a connector would drive the real store.

Each test states one behaviour of the contract in integrations.md section 2.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from omnigift_sandbox.bigcommerce import BigCommerceConfig, create_app
from omnigift_sandbox.loopback import LoopbackServer
from tests.support.receiver import wait_until

TOKEN = "sim-token"
SECRET = "sim-client-secret"
V2 = "/stores/abc123/v2"
V3 = "/stores/abc123/v3"
RATE_HEADERS = (
    "x-rate-limit-time-window-ms",
    "x-rate-limit-time-reset-ms",
    "x-rate-limit-requests-quota",
    "x-rate-limit-requests-left",
)
CERTIFICATE = {
    "to_name": "John Doe",
    "to_email": "john@example.com",
    "from_name": "Jane Doe",
    "from_email": "jane@example.com",
    "amount": "100",
}


@dataclass
class Arrival:
    headers: dict[str, str]
    body: dict[str, Any]
    verified: bool
    status: int


@dataclass
class HookReceiver:
    """A webhook destination on loopback that records every attempt and checks its signature
    with the app's client secret, as BigCommerce's docs tell a receiver to."""

    fail_with: int | None = None
    arrivals: list[Arrival] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/bigcommerce"

    def start(self) -> HookReceiver:
        receiver = self
        key = base64.b64encode(SECRET.encode()).decode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(key).verify(raw, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
                with receiver.lock:
                    status = receiver.fail_with or (200 if verified else 401)
                    receiver.arrivals.append(Arrival(headers, json.loads(raw), verified, status))
                self.send_response(status)
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

    def verified(self) -> list[dict[str, Any]]:
        """The bodies that verified and were accepted (answered 200)."""
        with self.lock:
            return [a.body for a in self.arrivals if a.verified and a.status == 200]

    def scopes(self) -> list[str]:
        return [body["scope"] for body in self.verified()]


def make_server(**overrides: Any) -> LoopbackServer:
    config = BigCommerceConfig(
        access_token=TOKEN,
        client_secret=SECRET,
        webhook_retry_delays=[0.05, 0.05],
        webhook_timeout=2.0,
        **overrides,
    )
    return LoopbackServer(create_app(config))


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with make_server() as running:
        yield running


@pytest.fixture
def api(server: LoopbackServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, headers={"X-Auth-Token": TOKEN}) as client:
        yield client


@pytest.fixture
def sim(server: LoopbackServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[HookReceiver]:
    running = HookReceiver().start()
    yield running
    running.stop()


def issue(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = api.post(f"{V2}/gift_certificates", json={**CERTIFICATE, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def subscribe(api: httpx.Client, receiver: HookReceiver, scope: str = "store/order/*") -> int:
    response = api.post(
        f"{V3}/hooks",
        json={
            "scope": scope,
            "destination": receiver.url,
            "is_active": True,
            "headers": {"X-Omnigift-Key": "hook-key"},
        },
    )
    assert response.status_code == 200, response.text
    return int(response.json()["data"]["id"])


def buy(sim: httpx.Client, price: str = "40", codes: list[str] | None = None) -> dict[str, Any]:
    response = sim.post(
        "/__sim/checkout",
        json={
            "email": "shopper@example.com",
            "first_name": "Sam",
            "last_name": "Shopper",
            "products": [{"name": "Shirt", "price": price, "quantity": 1, "type": "physical"}],
            "gift_certificate_codes": codes or [],
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


# --- auth, store, rate limits -------------------------------------------------------------


def test_a_request_without_the_auth_token_is_refused_401_in_the_v2_error_shape(
    server: LoopbackServer,
) -> None:
    response = httpx.get(f"{server.base_url}{V2}/gift_certificates")
    assert response.status_code == 401
    assert response.json()[0]["status"] == 401
    wrong = httpx.get(f"{server.base_url}{V2}/store", headers={"X-Auth-Token": "nope"})
    assert wrong.status_code == 401


def test_the_auth_header_name_is_case_insensitive(server: LoopbackServer) -> None:
    response = httpx.get(f"{server.base_url}{V2}/store", headers={"x-auth-token": TOKEN})
    assert response.status_code == 200
    assert response.json()["currency"] == "USD"
    assert {"id", "domain", "name"} <= set(response.json())


def test_every_vendor_response_carries_the_four_rate_limit_headers(api: httpx.Client) -> None:
    for response in (api.get(f"{V2}/store"), api.get(f"{V2}/gift_certificates/999")):
        assert all(name in response.headers for name in RATE_HEADERS)
    assert api.get(f"{V2}/store").headers["x-rate-limit-time-window-ms"] == "30000"
    assert api.get(f"{V2}/store").headers["x-rate-limit-requests-quota"] == "150"


def test_a_spent_quota_answers_429_with_rate_headers_and_no_retry_after() -> None:
    with make_server(quota=3, window_ms=60000) as running:
        client = httpx.Client(base_url=running.base_url, headers={"X-Auth-Token": TOKEN})
        lefts = [client.get(f"{V2}/store").headers["x-rate-limit-requests-left"] for _ in "abc"]
        assert lefts == ["2", "1", "0"]
        refused = client.get(f"{V2}/store")
        assert refused.status_code == 429
        assert refused.headers["x-rate-limit-requests-left"] == "0"
        assert 0 < int(refused.headers["x-rate-limit-time-reset-ms"]) <= 60000
        assert "retry-after" not in refused.headers
        assert httpx.delete(f"{running.base_url}/__sim/quota").status_code == 204
        assert client.get(f"{V2}/store").status_code == 200


def test_the_quota_window_resets_after_window_ms() -> None:
    with make_server(quota=1, window_ms=300) as running:
        client = httpx.Client(base_url=running.base_url, headers={"X-Auth-Token": TOKEN})
        assert client.get(f"{V2}/store").status_code == 200
        assert client.get(f"{V2}/store").status_code == 429
        time.sleep(0.35)
        assert client.get(f"{V2}/store").status_code == 200


# --- v2 gift certificates -----------------------------------------------------------------


def test_create_trims_the_code_to_20_chars_and_answers_4dp_money_and_unix_date_strings(
    api: httpx.Client,
) -> None:
    created = issue(
        api,
        code="OMNI-ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        expiry_date="Tue, 20 Jan 2026 08:45:38 CST",
        amount="10",
    )
    assert created["code"] == "OMNI-ABCDEFGHIJKLMNO"
    assert created["amount"] == "10.0000"
    assert created["balance"] == "10.0000"  # defaults to the amount
    assert created["status"] == "active"
    assert created["expiry_date"] == "1768920338"  # 2026-01-20T14:45:38Z
    assert created["purchase_date"].isdigit()
    assert created["currency_code"] == "USD"
    assert api.get(f"{V2}/gift_certificates/{created['id']}").json() == created


def test_create_without_a_code_generates_one_shaped_like_bigcommerce(api: httpx.Client) -> None:
    code = issue(api)["code"]
    assert re.fullmatch(r"[A-Z0-9]{3}(-[A-Z0-9]{3}){3}", code), code


def test_create_refuses_a_missing_required_field_400_in_the_v2_error_shape(
    api: httpx.Client,
) -> None:
    body = {k: v for k, v in CERTIFICATE.items() if k != "from_email"}
    response = api.post(f"{V2}/gift_certificates", json=body)
    assert response.status_code == 400
    [error] = response.json()
    assert error["status"] == 400 and "from_email" in error["message"]


def test_create_refuses_a_code_already_in_use_409(api: httpx.Client) -> None:
    issue(api, code="TWICE")
    response = api.post(f"{V2}/gift_certificates", json={**CERTIFICATE, "code": "TWICE"})
    assert response.status_code == 409
    assert response.json()[0]["status"] == 409


def test_an_empty_certificate_list_answers_204_no_content(api: httpx.Client) -> None:
    response = api.get(f"{V2}/gift_certificates")
    assert response.status_code == 204
    assert response.content == b""


def test_the_list_filters_pages_and_sorts_by_id(api: httpx.Client) -> None:
    ids = [issue(api, to_email=f"r{i}@example.com")["id"] for i in range(5)]
    page = api.get(f"{V2}/gift_certificates", params={"limit": 2, "page": 2}).json()
    assert [c["id"] for c in page] == ids[2:4]
    desc = api.get(f"{V2}/gift_certificates", params={"direction": "desc", "min_id": ids[1]})
    assert [c["id"] for c in desc.json()] == ids[:0:-1]
    by_email = api.get(f"{V2}/gift_certificates", params={"to_email": "r3@example.com"}).json()
    assert [c["id"] for c in by_email] == [ids[3]]
    assert api.get(f"{V2}/gift_certificates", params={"code": "NONE"}).status_code == 204


def test_put_balance_overwrites_last_write_wins(api: httpx.Client) -> None:
    certificate = issue(api)
    url = f"{V2}/gift_certificates/{certificate['id']}"
    # Two writers both read 100 and each redeem: 30 and 50. Both PUTs succeed; one is lost.
    seen = [api.get(url).json()["balance"] for _ in range(2)]
    assert seen == ["100.0000", "100.0000"]
    assert api.put(url, json={"balance": "70"}).status_code == 200
    assert api.put(url, json={"balance": "50"}).json()["balance"] == "50.0000"
    assert api.get(url).json()["balance"] == "50.0000"  # not 20: no ledger


def test_concurrent_puts_all_succeed_and_the_last_applied_one_wins(
    server: LoopbackServer, api: httpx.Client
) -> None:
    certificate = issue(api)
    url = f"{server.base_url}{V2}/gift_certificates/{certificate['id']}"

    def put(balance: int) -> int:
        return httpx.put(
            url, json={"balance": balance}, headers={"X-Auth-Token": TOKEN}
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(put, range(1, 17)))
    assert statuses == [200] * 16
    final = api.get(url).json()["balance"]
    assert final in {f"{n}.0000" for n in range(1, 17)}


def test_put_balance_is_not_capped_at_the_amount_but_cannot_go_negative(
    api: httpx.Client,
) -> None:
    url = f"{V2}/gift_certificates/{issue(api)['id']}"
    assert api.put(url, json={"balance": "250"}).json()["balance"] == "250.0000"
    refused = api.put(url, json={"balance": "-1", "status": "disabled"})
    assert refused.status_code == 400
    assert api.get(url).json()["status"] == "active"  # a refused PUT changes nothing


def test_put_overwrites_status_and_expiry(api: httpx.Client) -> None:
    url = f"{V2}/gift_certificates/{issue(api)['id']}"
    changed = api.put(
        url, json={"status": "disabled", "expiry_date": "Mon, 02 Jan 2023 08:45:38 +0000"}
    ).json()
    assert changed["status"] == "disabled"
    assert changed["expiry_date"] == "1672649138"
    assert api.put(url, json={"status": "spent"}).status_code == 400


def test_delete_one_answers_204_and_delete_all_removes_every_certificate(
    api: httpx.Client,
) -> None:
    first, second = issue(api), issue(api)
    assert api.delete(f"{V2}/gift_certificates/{first['id']}").status_code == 204
    assert api.get(f"{V2}/gift_certificates/{first['id']}").status_code == 404
    assert api.delete(f"{V2}/gift_certificates").status_code == 204
    assert api.get(f"{V2}/gift_certificates/{second['id']}").status_code == 404
    assert api.get(f"{V2}/gift_certificates").status_code == 204


def test_an_unknown_certificate_is_404(api: httpx.Client) -> None:
    response = api.get(f"{V2}/gift_certificates/424242")
    assert response.status_code == 404
    assert response.json()[0]["status"] == 404
    assert api.put(f"{V2}/gift_certificates/424242", json={"balance": 1}).status_code == 404


# --- checkout, orders, transactions -------------------------------------------------------


def test_checkout_spends_certificates_first_and_the_card_pays_the_rest(
    api: httpx.Client, sim: httpx.Client
) -> None:
    certificate = issue(api, amount="25")
    placed = buy(sim, price="40", codes=[certificate["code"]])
    order = placed["order"]
    assert order["status_id"] == 11 and order["status"] == "Awaiting Fulfillment"
    assert order["total_inc_tax"] == "40.0000"
    assert order["gift_certificate_amount"] == "25.0000"
    after = api.get(f"{V2}/gift_certificates/{certificate['id']}").json()
    assert after["balance"] == "0.0000"

    transactions = api.get(f"{V3}/orders/{order['id']}/transactions").json()["data"]
    card, rest = transactions
    assert card["method"] == "gift_certificate" and card["gateway"] == "giftcertificate"
    assert card["amount"] == 25.0 and card["event"] == "purchase"
    assert card["gift_certificate"] == {
        "code": certificate["code"],
        "original_balance": 25.0,
        "starting_balance": 25.0,
        "remaining_balance": 0.0,
        "status": "active",
    }
    assert rest["method"] == "credit_card" and rest["amount"] == 15.0


def test_a_certificate_larger_than_the_order_keeps_the_rest(
    api: httpx.Client, sim: httpx.Client
) -> None:
    certificate = issue(api, amount="100")
    placed = buy(sim, price="30", codes=[certificate["code"]])
    assert [t["method"] for t in placed["transactions"]] == ["gift_certificate"]
    assert placed["order"]["payment_method"] == "Gift Certificate"
    balance = api.get(f"{V2}/gift_certificates/{certificate['id']}").json()["balance"]
    assert balance == "70.0000"


@pytest.mark.parametrize(
    "change",
    [
        {"status": "disabled"},
        {"currency_code": "EUR"},
        {"expiry_date": "Mon, 02 Jan 2023 08:45:38 +0000"},
    ],
)
def test_checkout_with_an_unusable_certificate_is_422_and_changes_nothing(
    api: httpx.Client, sim: httpx.Client, change: dict[str, str]
) -> None:
    good = issue(api, amount="10")
    bad = issue(api, amount="10")
    api.put(f"{V2}/gift_certificates/{bad['id']}", json=change)
    response = sim.post(
        "/__sim/checkout",
        json={
            "email": "shopper@example.com",
            "products": [{"name": "Shirt", "price": "40", "quantity": 1}],
            "gift_certificate_codes": [good["code"], bad["code"]],
        },
    )
    assert response.status_code == 422
    assert api.get(f"{V2}/gift_certificates/{good['id']}").json()["balance"] == "10.0000"
    assert api.get(f"{V2}/orders").status_code == 204


def test_checkout_with_an_unknown_code_is_422(sim: httpx.Client) -> None:
    response = sim.post(
        "/__sim/checkout",
        json={
            "email": "s@example.com",
            "products": [{"name": "X", "price": "5"}],
            "gift_certificate_codes": ["NOPE"],
        },
    )
    assert response.status_code == 422


def test_buying_gift_certificates_issues_one_active_certificate_per_unit(
    api: httpx.Client, sim: httpx.Client
) -> None:
    response = sim.post(
        "/__sim/checkout",
        json={
            "email": "buyer@example.com",
            "products": [
                {
                    "name": "Gift certificate",
                    "price": "25",
                    "quantity": 2,
                    "type": "giftcertificate",
                    "recipient": {"name": "Ada", "email": "ada@example.com"},
                },
            ],
        },
    )
    assert response.status_code == 201
    placed = response.json()
    assert len(placed["gift_certificates"]) == 2
    order_id = placed["order"]["id"]
    products = api.get(f"{V2}/orders/{order_id}/products").json()
    assert [p["type"] for p in products] == ["giftcertificate", "giftcertificate"]
    ids = [p["gift_certificate_id"] for p in products]
    assert ids == [c["id"] for c in placed["gift_certificates"]]
    issued = api.get(f"{V2}/gift_certificates", params={"order_id": order_id}).json()
    assert {c["status"] for c in issued} == {"active"}
    assert {c["to_email"] for c in issued} == {"ada@example.com"}
    assert {c["balance"] for c in issued} == {"25.0000"}
    # Digital-only: nothing ships.
    assert api.get(f"{V2}/orders/{order_id}/shipping_addresses").status_code == 204


def test_an_order_reads_back_with_rfc2822_dates_and_4dp_money(
    api: httpx.Client, sim: httpx.Client
) -> None:
    order_id = buy(sim, price="12.5")["order"]["id"]
    order = api.get(f"{V2}/orders/{order_id}").json()
    assert order["date_created"].endswith("+0000") and "," in order["date_created"]
    assert order["subtotal_ex_tax"] == "12.5000"
    assert order["store_credit_amount"] == "0.0000"
    assert order["billing_address"]["email"] == "shopper@example.com"
    [address] = api.get(f"{V2}/orders/{order_id}/shipping_addresses").json()
    assert address["first_name"] == "Sam"
    assert api.get(f"{V2}/orders/999999").status_code == 404


def test_orders_filter_by_min_id_status_and_min_date_modified(
    api: httpx.Client, sim: httpx.Client
) -> None:
    first = buy(sim)["order"]
    second = buy(sim)["order"]
    sim.post(f"/__sim/orders/{first['id']}/refund", json={})
    by_id = api.get(f"{V2}/orders", params={"min_id": second["id"]}).json()
    assert [o["id"] for o in by_id] == [second["id"]]
    refunded = api.get(f"{V2}/orders", params={"status_id": 4}).json()
    assert [o["id"] for o in refunded] == [first["id"]]
    since = api.get(
        f"{V2}/orders", params={"min_date_modified": "2000-01-01T00:00:00Z", "sort": "id:desc"}
    ).json()
    assert [o["id"] for o in since] == [second["id"], first["id"]]
    future = api.get(
        f"{V2}/orders", params={"min_date_modified": "Fri, 01 Jan 2100 00:00:00 +0000"}
    )
    assert future.status_code == 204


def test_a_refund_of_items_is_listed_with_them_and_never_gives_a_line_back_twice(
    api: httpx.Client, sim: httpx.Client
) -> None:
    order = sim.post(
        "/__sim/checkout",
        json={
            "email": "shopper@example.com",
            "products": [
                {"name": "Gift card", "price": "50", "quantity": 2, "type": "digital", "sku": "GC"},
                {"name": "Shirt", "price": "30", "quantity": 1, "type": "physical"},
            ],
        },
    ).json()["order"]
    card_line, _shirt = api.get(f"{V2}/orders/{order['id']}/products").json()
    path = f"/__sim/orders/{order['id']}/refund"
    item = {"item_type": "PRODUCT", "item_id": card_line["id"], "quantity": 1}
    made = sim.post(path, json={"items": [item], "reason": "changed mind"})
    assert made.status_code == 200, made.text

    [listed] = api.get(f"{V3}/orders/{order['id']}/payment_actions/refunds").json()["data"]
    assert listed["id"] == made.json()["refund_id"]
    assert listed["total_amount"] == 50.0
    assert listed["reason"] == "changed mind"
    assert listed["items"] == [
        {
            "item_type": "PRODUCT",
            "item_id": card_line["id"],
            "reason": "",
            "quantity": 1,
            "requested_amount": 50.0,
        }
    ]
    assert api.get(f"{V2}/orders/{order['id']}").json()["refunded_amount"] == "50.0000"
    too_many = sim.post(path, json={"items": [{**item, "quantity": 2}]})
    assert too_many.status_code == 422
    stranger = sim.post(path, json={"items": [{**item, "item_id": 999999}]})
    assert stranger.status_code == 422
    assert api.get(f"{V2}/orders/{order['id']}").json()["status_id"] == 14


def test_a_refund_puts_the_money_back_on_the_certificate_that_paid(
    api: httpx.Client, sim: httpx.Client
) -> None:
    certificate = issue(api, amount="25")
    order_id = buy(sim, price="40", codes=[certificate["code"]])["order"]["id"]
    response = sim.post(f"/__sim/orders/{order_id}/refund", json={"amount": "10"})
    assert response.status_code == 200
    assert response.json()["order"]["status_id"] == 14
    balance = api.get(f"{V2}/gift_certificates/{certificate['id']}").json()["balance"]
    assert balance == "10.0000"
    refunds = [
        t
        for t in api.get(f"{V3}/orders/{order_id}/transactions").json()["data"]
        if t["event"] == "refund"
    ]
    assert [(t["method"], t["amount"]) for t in refunds] == [("gift_certificate", 10.0)]
    assert refunds[0]["gift_certificate"]["remaining_balance"] == 10.0

    rest = sim.post(f"/__sim/orders/{order_id}/refund", json={})
    assert rest.json()["order"]["status_id"] == 4
    assert api.get(f"{V2}/gift_certificates/{certificate['id']}").json()["balance"] == "25.0000"
    assert sim.post(f"/__sim/orders/{order_id}/refund", json={"amount": "1"}).status_code == 422


def test_staff_can_issue_a_certificate_from_the_control_panel(
    api: httpx.Client, sim: httpx.Client
) -> None:
    response = sim.post("/__sim/gift_certificates", json={"amount": "15", "code": "STAFF-1"})
    assert response.status_code == 201
    made = response.json()
    assert made["code"] == "STAFF-1"
    assert api.get(f"{V2}/gift_certificates/{made['id']}").json()["balance"] == "15.0000"


def test_the_state_dump_shows_certificates_orders_and_webhook_counters(
    api: httpx.Client, sim: httpx.Client
) -> None:
    issue(api)
    buy(sim)
    state = sim.get("/__sim/state").json()
    assert len(state["gift_certificates"]) == 1
    assert state["orders"][0]["transactions"][0]["method"] == "credit_card"
    assert {"sent", "failed", "retried"} <= set(state["webhooks"])


# --- v3 hooks and outgoing webhooks -------------------------------------------------------


def test_hooks_can_be_registered_read_changed_and_deleted(
    api: httpx.Client, receiver: HookReceiver
) -> None:
    hook_id = subscribe(api, receiver, scope="store/order/created")
    hook = api.get(f"{V3}/hooks/{hook_id}").json()["data"]
    assert hook["destination"] == receiver.url and hook["is_active"] is True
    assert hook["headers"] == {"X-Omnigift-Key": "hook-key"}
    assert {"created_at", "updated_at"} <= set(hook)
    changed = api.put(f"{V3}/hooks/{hook_id}", json={"is_active": False}).json()["data"]
    assert changed["is_active"] is False
    assert [h["id"] for h in api.get(f"{V3}/hooks").json()["data"]] == [hook_id]
    assert api.delete(f"{V3}/hooks/{hook_id}").status_code == 200
    missing = api.get(f"{V3}/hooks/{hook_id}")
    assert missing.status_code == 404
    assert missing.json()["status"] == 404 and "title" in missing.json()


def test_a_hook_without_a_destination_is_refused_422_in_the_v3_error_shape(
    api: httpx.Client,
) -> None:
    response = api.post(f"{V3}/hooks", json={"scope": "store/order/created"})
    assert response.status_code == 422
    assert "destination" in response.json()["errors"]


def test_a_checkout_sends_created_at_status_0_then_status_updated_then_transactions(
    api: httpx.Client, sim: httpx.Client, receiver: HookReceiver
) -> None:
    subscribe(api, receiver)
    certificate = issue(api, amount="10")
    order_id = buy(sim, price="40", codes=[certificate["code"]])["order"]["id"]
    assert wait_until(lambda: len(receiver.verified()) == 4, timeout=5)
    assert receiver.scopes() == [
        "store/order/created",
        "store/order/statusUpdated",
        "store/order/transaction/created",
        "store/order/transaction/created",
    ]
    created, updated = receiver.verified()[:2]
    assert created["data"] == {"type": "order", "id": order_id}  # id only: re-GET the order
    assert updated["data"]["status"] == {"previous_status_id": 0, "new_status_id": 11}
    assert created["producer"] == "stores/abc123"
    assert len(created["hash"]) == 40 and isinstance(created["created_at"], int)
    arrival = receiver.arrivals[0]
    assert arrival.headers["x-omnigift-key"] == "hook-key"  # custom headers echoed
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(arrival.headers)
    assert arrival.headers["webhook-signature"].startswith("v1,")
    assert all(a.verified for a in receiver.arrivals)


def test_a_refund_sends_refund_created_with_a_refund_id(
    api: httpx.Client, sim: httpx.Client, receiver: HookReceiver
) -> None:
    subscribe(api, receiver, scope="store/order/refund/created")
    order_id = buy(sim)["order"]["id"]
    refund_id = sim.post(f"/__sim/orders/{order_id}/refund", json={"amount": "5"}).json()[
        "refund_id"
    ]
    assert wait_until(lambda: len(receiver.verified()) == 1, timeout=5)
    [event] = receiver.verified()
    assert event["data"] == {"type": "order", "id": order_id, "refund": {"refund_id": refund_id}}


def test_staff_certificates_send_no_webhook(
    api: httpx.Client, sim: httpx.Client, receiver: HookReceiver
) -> None:
    subscribe(api, receiver, scope="store/*")
    sim.post("/__sim/gift_certificates", json={"amount": "15"})
    issue(api)
    time.sleep(0.3)
    assert receiver.arrivals == []
    assert sim.get("/__sim/state").json()["webhooks"]["emitted"] == 0


def test_a_failing_destination_is_retried_then_the_hook_is_deactivated(
    api: httpx.Client, sim: httpx.Client, receiver: HookReceiver
) -> None:
    receiver.fail_with = 500
    hook_id = subscribe(api, receiver, scope="store/order/created")
    buy(sim)
    assert wait_until(lambda: sim.get("/__sim/state").json()["webhooks"]["deactivated"] == 1, 5)
    assert len(receiver.arrivals) == 3  # the first try and two retries (webhook_retry_delays)
    ids = {a.headers["webhook-id"] for a in receiver.arrivals}
    assert len(ids) == 1  # a retry is the same message
    counters = sim.get("/__sim/state").json()["webhooks"]
    assert counters["failed"] == 3 and counters["retried"] == 2 and counters["sent"] == 0
    assert api.get(f"{V3}/hooks/{hook_id}").json()["data"]["is_active"] is False
    buy(sim)
    time.sleep(0.3)
    assert len(receiver.arrivals) == 3  # an inactive hook gets nothing


def test_a_destination_that_recovers_gets_the_event_on_a_retry(
    api: httpx.Client, sim: httpx.Client, receiver: HookReceiver
) -> None:
    receiver.fail_with = 503
    subscribe(api, receiver, scope="store/order/created")
    buy(sim)
    assert wait_until(lambda: len(receiver.arrivals) >= 1, 5)
    receiver.fail_with = None
    assert wait_until(lambda: len(receiver.verified()) == 1, 5)
    assert wait_until(lambda: sim.get("/__sim/state").json()["webhooks"]["sent"] == 1, 5)


def test_duplicate_delivery_repeats_the_same_body_hash(
    api: httpx.Client, sim: httpx.Client, receiver: HookReceiver
) -> None:
    subscribe(api, receiver, scope="store/order/created")
    sim.post("/__sim/webhooks/behaviour", json={"duplicate": True})
    buy(sim)
    assert wait_until(lambda: len(receiver.verified()) == 2, 5)
    first, second = receiver.verified()
    assert first == second and first["hash"] == second["hash"]
    assert receiver.arrivals[0].headers["webhook-id"] != receiver.arrivals[1].headers["webhook-id"]


def test_reordering_sends_a_burst_newest_first(
    api: httpx.Client, sim: httpx.Client, receiver: HookReceiver
) -> None:
    subscribe(api, receiver)
    sim.post("/__sim/webhooks/behaviour", json={"reorder": True})
    buy(sim)
    assert wait_until(lambda: len(receiver.verified()) == 3, 5)
    assert receiver.scopes() == [
        "store/order/transaction/created",
        "store/order/statusUpdated",
        "store/order/created",
    ]


def test_bad_signature_copies_fail_verification_and_the_genuine_one_arrives(
    api: httpx.Client, sim: httpx.Client, receiver: HookReceiver
) -> None:
    subscribe(api, receiver, scope="store/order/created")
    sim.post("/__sim/webhooks/behaviour", json={"bad_signature": True})
    buy(sim)
    assert wait_until(lambda: len(receiver.arrivals) == 2, 5)
    assert [a.verified for a in receiver.arrivals] == [False, True]
    assert sim.get("/__sim/state").json()["webhooks"]["bad_signatures"] == 1


def test_the_signature_key_is_the_client_secret_bytes(
    api: httpx.Client, sim: httpx.Client, receiver: HookReceiver
) -> None:
    subscribe(api, receiver, scope="store/order/created")
    buy(sim)
    assert wait_until(lambda: len(receiver.arrivals) == 1, 5)
    arrival = receiver.arrivals[0]
    raw = json.dumps(arrival.body, separators=(",", ":"))
    expected = Webhook(SECRET.encode()).sign(
        arrival.headers["webhook-id"],
        datetime.fromtimestamp(int(arrival.headers["webhook-timestamp"]), UTC),
        raw,
    )
    assert arrival.headers["webhook-signature"] == expected


# --- faults -------------------------------------------------------------------------------


def fault(sim: httpx.Client, **body: Any) -> None:
    assert sim.post("/__sim/faults", json=body).status_code == 201


def test_a_status_fault_answers_that_status_and_does_nothing(
    api: httpx.Client, sim: httpx.Client
) -> None:
    fault(sim, target="v2", kind="status", status=507, count=1)
    response = api.post(f"{V2}/gift_certificates", json=CERTIFICATE)
    assert response.status_code == 507
    assert response.json()[0]["status"] == 507
    assert api.get(f"{V2}/gift_certificates").status_code == 204


def test_an_ambiguous_fault_does_the_write_then_answers_503(
    api: httpx.Client, sim: httpx.Client
) -> None:
    url = f"{V2}/gift_certificates/{issue(api)['id']}"
    fault(sim, target="v2", kind="ambiguous", count=1)
    assert api.put(url, json={"balance": "60"}).status_code == 503
    assert api.get(url).json()["balance"] == "60.0000"


def test_a_quota_fault_answers_429_with_rate_headers(api: httpx.Client, sim: httpx.Client) -> None:
    fault(sim, target="all", kind="quota", count=2)
    for _ in range(2):
        response = api.get(f"{V2}/store")
        assert response.status_code == 429
        assert response.headers["x-rate-limit-requests-left"] == "0"
        assert int(response.headers["x-rate-limit-time-reset-ms"]) > 0
    assert api.get(f"{V2}/store").status_code == 200


def test_an_overload_fault_answers_429_without_rate_headers(
    api: httpx.Client, sim: httpx.Client
) -> None:
    fault(sim, target="v3", kind="overload", count=1)
    response = api.get(f"{V3}/hooks")
    assert response.status_code == 429
    assert not any(name in response.headers for name in RATE_HEADERS)
    assert response.json()["status"] == 429  # v3 error shape


def test_faults_hit_only_their_api_family(api: httpx.Client, sim: httpx.Client) -> None:
    fault(sim, target="v3", kind="status", status=500, count=1)
    assert api.get(f"{V2}/store").status_code == 200
    assert api.get(f"{V3}/hooks").status_code == 500
    assert api.get(f"{V3}/hooks").status_code == 200


def test_a_latency_fault_delays_the_answer(api: httpx.Client, sim: httpx.Client) -> None:
    fault(sim, target="v2", kind="latency", seconds=0.4, count=1)
    started = time.monotonic()
    assert api.get(f"{V2}/store").status_code == 200
    assert time.monotonic() - started >= 0.4


def test_a_down_store_answers_503_everywhere_for_the_given_seconds(
    api: httpx.Client, sim: httpx.Client
) -> None:
    fault(sim, target="all", kind="down", seconds=0.4)
    assert api.get(f"{V2}/store").status_code == 503
    assert api.get(f"{V3}/hooks").status_code == 503
    time.sleep(0.45)
    assert api.get(f"{V2}/store").status_code == 200


def test_faults_are_listed_and_cleared(sim: httpx.Client) -> None:
    fault(sim, target="v2", kind="status", status=500, count=3)
    listed = sim.get("/__sim/faults").json()
    assert listed == [{"target": "v2", "kind": "status", "count": 3, "status": 500, "seconds": 0.0}]
    assert sim.delete("/__sim/faults").status_code == 204
    assert sim.get("/__sim/faults").json() == []
    assert sim.post("/__sim/faults", json={"kind": "explode"}).status_code == 400
