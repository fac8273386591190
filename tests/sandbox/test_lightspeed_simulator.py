"""The Lightspeed Retail (R-Series) simulator, driven over real HTTP as a connector would drive
the real account.

Each test states one behaviour of the contract in integrations.md section 3.1-3.4.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from omnigift_sandbox.lightspeed import LightspeedConfig, create_app
from omnigift_sandbox.loopback import LoopbackServer

TOKEN = "ls-test-token"
ACCOUNT = 4242
API = f"/API/V3/Account/{ACCOUNT}"
GIFT = "5"  # the sample account's gift card payment type (looked up in a test below)
CASH = "1"
LS_HEADERS = (
    "x-ls-acct-id",
    "x-ls-oauth-client-id",
    "x-ls-api-bucket-level",
    "x-ls-api-burst-level",
    "x-ls-api-drip-rate",
    "x-ls-api-request-cost",
)


class Sim:
    """A running simulator and clients for its API and control plane."""

    def __init__(self, server: LoopbackServer, config: LightspeedConfig) -> None:
        self.server = server
        self.config = config
        self.api = httpx.Client(
            base_url=server.base_url + API,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        self.raw = httpx.Client(base_url=server.base_url, timeout=10)

    def state(self) -> dict[str, Any]:
        return self.raw.get("/__sim/state").json()

    def card_in_state(self, account_id: str) -> dict[str, Any]:
        return next(
            c for c in self.state()["credit_accounts"] if c["creditAccountID"] == account_id
        )

    def advance(self, seconds: float) -> None:
        assert self.raw.post("/__sim/clock", json={"advance_seconds": seconds}).status_code == 200

    def new_card(self, code: str, value: str | None = None) -> str:
        created = self.api.post("/CreditAccount.json", json={"code": code, "name": "Gift Card"})
        assert created.status_code == 200, created.text
        account_id = created.json()["CreditAccount"]["creditAccountID"]
        if value is not None:
            loaded = self.api.post("/Sale.json", json=load_sale(account_id, value))
            assert loaded.status_code == 200, loaded.text
        return str(account_id)

    def fault(self, **body: Any) -> None:
        assert self.raw.post("/__sim/faults", json=body).status_code == 201


def load_sale(account_id: str, value: str) -> dict[str, Any]:
    """The documented single-step load: a negative gift card payment, paid in cash."""
    return {
        "completed": True,
        "employeeID": 2,
        "registerID": 1,
        "shopID": 1,
        "SalePayments": {
            "SalePayment": [
                {"amount": f"-{value}", "creditAccountID": account_id, "paymentTypeID": GIFT},
                {"amount": value, "paymentTypeID": CASH},
            ]
        },
    }


def redeem_sale(account_id: str, amount: str, **extra: Any) -> dict[str, Any]:
    """The documented redeem: one line, one gift card payment (single objects, not arrays)."""
    return {
        "employeeID": 2,
        "registerID": 1,
        "shopID": 1,
        "completed": True,
        "SaleLines": {"SaleLine": {"itemID": 12, "unitQuantity": 1, "unitPrice": amount}},
        "SalePayments": {
            "SalePayment": {"amount": amount, "creditAccountID": account_id, "paymentTypeID": GIFT}
        },
        **extra,
    }


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def start(**overrides: Any) -> tuple[LoopbackServer, LightspeedConfig]:
    settings: dict[str, Any] = {
        "access_token": TOKEN,
        "account_id": ACCOUNT,
        # Roomy limits so tests that are not about limits never meet them.
        "bucket_size": 100000.0,
        "burst_limit": 100000,
    }
    settings.update(overrides)
    config = LightspeedConfig(**settings)
    return LoopbackServer(create_app(config)).start(), config


@pytest.fixture
def sim() -> Iterator[Sim]:
    server, config = start()
    try:
        yield Sim(server, config)
    finally:
        server.stop()


@pytest.fixture
def limited() -> Iterator[Sim]:
    """The documented defaults: bucket 90, drip 1/s, burst 20/s."""
    server, config = start(bucket_size=90.0, burst_limit=20)
    try:
        yield Sim(server, config)
    finally:
        server.stop()


# --- auth (3.1) ------------------------------------------------------------------------------


def test_a_call_without_a_valid_bearer_token_is_refused_with_the_documented_401(sim: Sim) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Token {TOKEN}"}):
        answer = sim.raw.get(f"{API}/CreditAccount.json", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"] == "access_denied"
        assert answer.json()["hint"] == "Access token could not be verified"
    assert sim.api.get("/CreditAccount.json").status_code == 200


def test_another_accounts_path_is_refused(sim: Sim) -> None:
    assert (
        sim.raw.get(
            "/API/V3/Account/1/CreditAccount.json", headers={"Authorization": f"Bearer {TOKEN}"}
        ).status_code
        == 403
    )


def test_an_expired_token_is_refused_and_a_refresh_grant_issues_a_working_pair(sim: Sim) -> None:
    assert sim.raw.post("/__sim/tokens/expire").status_code == 200
    expired = sim.api.get("/CreditAccount.json")
    assert expired.status_code == 401
    assert expired.json()["hint"] == "Access token could not be verified"

    form = {
        "client_id": sim.config.client_id,
        "client_secret": sim.config.client_secret,
        "grant_type": "refresh_token",
        "refresh_token": sim.config.refresh_token,
    }
    issued = sim.raw.post("/auth/oauth/token", data=form)
    assert issued.status_code == 200
    body = issued.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 1800
    fresh = {"Authorization": f"Bearer {body['access_token']}"}
    assert sim.raw.get(f"{API}/CreditAccount.json", headers=fresh).status_code == 200

    # Once the new access token is used, the old refresh token is revoked.
    reused = sim.raw.post("/auth/oauth/token", data=form)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert (
        sim.raw.post("/auth/oauth/token", data={**form, "refresh_token": ""}).json()["error"]
        == "invalid_request"
    )

    # An issued token lives 1800 s of the simulator's clock.
    sim.advance(1801)
    assert sim.raw.get(f"{API}/CreditAccount.json", headers=fresh).status_code == 401


def test_the_authorization_code_grant_exchanges_a_code_valid_60_seconds(sim: Sim) -> None:
    redirect = sim.raw.get(
        "/auth/oauth/authorize",
        params={
            "response_type": "code",
            "client_id": sim.config.client_id,
            "scope": "employee:register employee:customers",
            "state": "xyz",
            "redirect_uri": "https://example.com/cb",
        },
    )
    assert redirect.status_code == 302
    location = httpx.URL(redirect.headers["location"])
    assert location.params["state"] == "xyz"
    form = {
        "client_id": sim.config.client_id,
        "grant_type": "authorization_code",
        "code": location.params["code"],
    }
    token = sim.raw.post("/auth/oauth/token", data=form)
    assert token.status_code == 200
    assert sim.raw.post("/auth/oauth/token", data=form).status_code == 400  # used once


# --- gift card credit accounts (3.2) ---------------------------------------------------------


def test_a_gift_card_credit_account_is_created_with_a_code_of_8_to_32_characters(
    sim: Sim,
) -> None:
    for code in ("1234567", "9" * 33, ""):
        refused = sim.api.post("/CreditAccount.json", json={"code": code})
        assert refused.status_code == 422, code
        assert refused.json()["httpCode"] == "422"
    for code in ("12345678", "A" * 32):
        made = sim.api.post("/CreditAccount.json", json={"code": code, "name": "Gift Card"})
        assert made.status_code == 200
        shown = made.json()["CreditAccount"]
        assert made.json()["@attributes"] == {"count": "1"}
        assert shown["giftCard"] == "true" and shown["customerID"] == "0"
        assert shown["balance"] == "0" and shown["code"] == code
    duplicate = sim.api.post("/CreditAccount.json", json={"code": "12345678"})
    assert duplicate.status_code == 422


def test_codes_are_masked_without_the_view_gift_card_numbers_scope() -> None:
    server, _ = start(scopes=["employee:register", "employee:customers"])
    try:
        api = httpx.Client(
            base_url=server.base_url + API, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        made = api.post("/CreditAccount.json", json={"code": "2312345678904"})
        assert made.json()["CreditAccount"]["code"] == "*********8904"
        found = api.get(
            "/CreditAccount.json",
            params={"giftCard": "true", "archived": "true", "code": "2312345678904"},
        )
        assert found.json()["CreditAccount"]["code"].endswith("8904")
    finally:
        server.stop()


def test_gift_cards_are_listed_only_with_giftCard_true_and_looked_up_by_code_once_a_second(
    sim: Sim,
) -> None:
    sim.new_card("2312345678904")
    assert "CreditAccount" not in sim.api.get("/CreditAccount.json").json()
    lookup = {"giftCard": "true", "archived": "true", "code": "2312345678904"}
    found = sim.api.get("/CreditAccount.json", params=lookup)
    assert found.json()["CreditAccount"]["code"] == "2312345678904"
    again = sim.api.get("/CreditAccount.json", params=lookup)
    assert again.status_code == 429 and again.headers["retry-after"] == "1"
    sim.advance(1.1)
    assert sim.api.get("/CreditAccount.json", params=lookup).status_code == 200
    sim.advance(1.1)
    like = sim.api.get("/CreditAccount.json", params={**lookup, "code": "~,2312%"})
    assert like.status_code == 400  # only "=" for code lookups


def test_archiving_a_card_keeps_its_balance(sim: Sim) -> None:
    card = sim.new_card("2312345678904", "40")
    archived = sim.api.delete(f"/CreditAccount/{card}.json").json()["CreditAccount"]
    assert archived["archived"] == "true" and archived["balance"] == "-40"
    listed = sim.api.get("/CreditAccount.json", params={"giftCard": "true"}).json()
    assert "CreditAccount" not in listed
    only = sim.api.get("/CreditAccount.json", params={"giftCard": "true", "archived": "only"})
    assert only.json()["CreditAccount"]["creditAccountID"] == card


# --- sales move balances (3.2) ---------------------------------------------------------------


def test_the_gift_card_payment_type_is_found_by_its_type(sim: Sim) -> None:
    kinds = sim.api.get("/PaymentType.json").json()["PaymentType"]
    gift = [k for k in kinds if k["type"] == "gift card"]
    assert [k["paymentTypeID"] for k in gift] == [GIFT]


def test_loading_a_card_by_sale_makes_its_balance_negative(sim: Sim) -> None:
    card = sim.new_card("2312345678904")
    sale = sim.api.post("/Sale.json", json=load_sale(card, "100")).json()["Sale"]
    payment = as_list(sale["SalePayments"]["SalePayment"])[0]
    link = payment["SaleAccounts"]["SaleAccount"]
    assert payment["amount"] == "-100" and link["creditAccountID"] == card
    line = as_list(sale["SaleLines"]["SaleLine"])[0]
    assert line["Note"]["note"] == "Gift Card Purchase 2312345678904"
    assert link["saleLineID"] == line["saleLineID"]
    shown = sim.api.get(f"/CreditAccount/{card}.json").json()["CreditAccount"]
    assert shown["balance"] == "-100"  # a funded card is negative
    assert sim.card_in_state(card)["spendable"] == "100"


def test_a_sale_with_a_gift_card_payment_reduces_what_the_card_holds(sim: Sim) -> None:
    card = sim.new_card("2312345678904", "100")
    sale = sim.api.post("/Sale.json", json=redeem_sale(card, "11.49")).json()["Sale"]
    payment = sale["SalePayments"]["SalePayment"]
    assert isinstance(payment, dict)  # a single payment is an object, not an array
    assert payment["amount"] == "11.49" and payment["PaymentType"]["type"] == "gift card"
    assert sale["completed"] == "true" and sale["calcTotal"] == "11.49"
    balance = sim.api.get(f"/CreditAccount/{card}.json").json()["CreditAccount"]["balance"]
    assert balance == "-88.51"


def test_a_payment_above_the_balance_is_refused_and_changes_nothing(sim: Sim) -> None:
    card = sim.new_card("2312345678904", "10")
    before = len(sim.state()["sales"])
    refused = sim.api.post("/Sale.json", json=redeem_sale(card, "10.01"))
    assert refused.status_code == 422
    assert sim.card_in_state(card)["balance"] == "-10"
    assert len(sim.state()["sales"]) == before
    assert sim.api.post("/Sale.json", json=redeem_sale(card, "10")).status_code == 200
    assert sim.card_in_state(card)["balance"] == "0"


def test_a_sale_left_open_books_its_card_payment_only_when_completed(sim: Sim) -> None:
    card = sim.new_card("2312345678904")
    step_one = load_sale(card, "25")
    step_one["completed"] = False
    step_one["SalePayments"]["SalePayment"] = step_one["SalePayments"]["SalePayment"][:1]
    sale = sim.api.post("/Sale.json", json=step_one).json()["Sale"]
    assert sim.card_in_state(card)["balance"] == "0"
    done = sim.api.put(
        f"/Sale/{sale['saleID']}.json",
        json={
            "completed": True,
            "SalePayments": {"SalePayment": [{"amount": "25", "paymentTypeID": CASH}]},
        },
    )
    assert done.status_code == 200 and done.json()["Sale"]["completed"] == "true"
    assert sim.card_in_state(card)["balance"] == "-25"


def test_voiding_a_sale_gives_the_card_its_payment_back(sim: Sim) -> None:
    card = sim.new_card("2312345678904", "50")
    sale = sim.api.post("/Sale.json", json=redeem_sale(card, "20")).json()["Sale"]
    voided = sim.api.put(f"/Sale/{sale['saleID']}.json", json={"voided": True}).json()["Sale"]
    assert voided["voided"] == "true"
    assert voided["SalePayments"]["SalePayment"]["archived"] == "true"
    assert sim.card_in_state(card)["balance"] == "-50"


def test_a_register_named_ecom_cannot_take_gift_card_payments(sim: Sim) -> None:
    card = sim.new_card("2312345678904", "50")
    registers = sim.api.get("/Register.json").json()["Register"]
    ecom = next(r["registerID"] for r in registers if r["name"] == "eCom")
    refused = sim.api.post("/Sale.json", json={**redeem_sale(card, "5"), "registerID": ecom})
    assert refused.status_code == 422


def test_listing_sales_since_a_timestamp_returns_the_new_ones(sim: Sim) -> None:
    card = sim.new_card("2312345678904", "100")
    sim.advance(10)
    cursor = sim.state()["now"]
    sim.advance(5)
    made = [
        sim.api.post("/Sale.json", json=redeem_sale(card, "1")).json()["Sale"]["saleID"]
        for _ in range(3)
    ]
    seen: list[str] = []
    page = sim.api.get(
        "/Sale.json",
        params={
            "timeStamp": f">,{cursor}",
            "completed": "true",
            "sort": "timeStamp",
            "limit": "2",
            "load_relations": '["SalePayments","SaleLines"]',
        },
    ).json()
    while True:
        for sale in as_list(page.get("Sale", [])):
            assert "SalePayments" in sale and "SaleLines" in sale
            seen.append(sale["saleID"])
        if not page["@attributes"]["next"]:
            break
        page = sim.raw.get(
            page["@attributes"]["next"], headers={"Authorization": f"Bearer {TOKEN}"}
        ).json()
    assert seen == made
    counted = sim.api.get("/Sale.json", params={"timeStamp": f">,{cursor}", "count": "1"})
    assert counted.json() == {"@attributes": {"count": "3"}}
    assert sim.api.get("/Sale.json", params={"count": "1", "limit": "5"}).status_code == 400


def test_a_late_commit_lands_behind_the_poll_cursor(sim: Sim) -> None:
    card = sim.new_card("2312345678904", "100")
    sim.advance(60)
    cursor = sim.state()["now"]
    late = sim.raw.post(
        "/__sim/sale",
        json={
            "lines": [{"description": "Mug", "price": "5", "quantity": 1}],
            "gift_card_code": "2312345678904",
            "backdate_seconds": 30,
        },
    ).json()
    since = sim.api.get("/Sale.json", params={"timeStamp": f">,{cursor}"}).json()
    assert "Sale" not in since
    overlap = sim.api.get("/Sale.json", params={"timeStamp": f">=,{late['sale']['timeStamp']}"})
    assert overlap.json()["Sale"]["saleID"] == late["saleID"]
    assert card


def test_the_reference_fields_written_on_a_sale_read_back_and_filter(sim: Sim) -> None:
    card = sim.new_card("2312345678904", "100")
    body = redeem_sale(card, "3", referenceNumber="act_01J", referenceNumberSource="omnigift")
    sale = sim.api.post("/Sale.json", json=body).json()["Sale"]
    assert sale["referenceNumber"] == "act_01J" and sale["referenceNumberSource"] == "omnigift"
    found = sim.api.get("/Sale.json", params={"referenceNumber": "act_01J"}).json()["Sale"]
    assert found["saleID"] == sale["saleID"]
    sim.api.put(f"/Sale/{sale['saleID']}.json", json={"referenceNumber": "act_02K"})
    again = sim.api.get(f"/Sale/{sale['saleID']}.json").json()["Sale"]
    assert again["referenceNumber"] == "act_02K"
    assert "Sale" not in sim.api.get("/Sale.json", params={"referenceNumber": "act_01J"}).json()


# --- rate limits (3.3) -----------------------------------------------------------------------


def test_every_api_answer_carries_the_x_ls_headers(sim: Sim) -> None:
    answer = sim.api.get("/CreditAccount.json")
    for name in LS_HEADERS:
        assert name in answer.headers
    assert answer.headers["x-ls-acct-id"] == str(ACCOUNT)
    assert answer.headers["x-ls-api-request-cost"] == "1"
    assert "retry-after" not in answer.headers


def test_the_bucket_fills_then_answers_429_with_retry_after_until_it_drains(
    limited: Sim,
) -> None:
    card = limited.new_card("2312345678904")  # a write: 10 drips
    first = limited.api.get("/CreditAccount.json")
    assert first.headers["x-ls-api-bucket-level"].split("/")[1] == "90"
    assert first.headers["x-ls-api-drip-rate"] == "1"
    answers = [
        limited.api.put(f"/CreditAccount/{card}.json", json={"description": "x"})
        for _ in range(12)  # writes cost 10 drips each
    ]
    statuses = [a.status_code for a in answers]
    first_blocked = statuses.index(429)
    assert set(statuses[:first_blocked]) == {200}, statuses
    # The request that overflowed the bucket was let through; the next one was blocked.
    overflowed = answers[first_blocked - 1].headers["x-ls-api-bucket-level"]
    assert Decimal(overflowed.split("/")[0]) > 90, overflowed
    blocked = limited.api.get("/CreditAccount.json")
    assert blocked.status_code == 429
    assert blocked.headers["x-ls-api-ratelimit-type"] == "api-leaky-bucket"
    wait = int(blocked.headers["retry-after"])
    level = Decimal(blocked.headers["x-ls-api-bucket-level"].split("/")[0])
    assert level >= 90 and wait >= 1
    limited.advance(wait)
    assert limited.api.get("/CreditAccount.json").status_code == 200


def test_the_burst_limiter_blocks_past_20_requests_in_one_second() -> None:
    server, _ = start(burst_limit=20)  # a roomy bucket: only the burst limiter can block
    try:
        api = httpx.Client(
            base_url=server.base_url + API, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        blocked = None
        for _ in range(400):
            answer = api.get("/Shop.json")
            if answer.status_code == 429:
                blocked = answer
                break
        assert blocked is not None, "quick requests should cross 20 in some second"
        assert blocked.headers["x-ls-api-ratelimit-type"] == "api-burst-limiter"
        assert blocked.headers["retry-after"] == "1"
        assert blocked.headers["x-ls-api-burst-level"] == "21/20"
        assert blocked.json()["message"] == "burst rate limit exceeded"
    finally:
        server.stop()


# --- faults (section 0, 3.4) -----------------------------------------------------------------


def test_a_status_fault_answers_without_doing_the_work(sim: Sim) -> None:
    sim.fault(target="CreditAccount", method="POST", kind="status", status=409)
    refused = sim.api.post("/CreditAccount.json", json={"code": "2312345678904"})
    assert refused.status_code == 409
    assert sim.state()["credit_accounts"] == []
    assert sim.api.post("/CreditAccount.json", json={"code": "2312345678904"}).status_code == 200


def test_an_ambiguous_fault_does_the_work_then_answers_an_error(sim: Sim) -> None:
    card = sim.new_card("2312345678904", "30")
    sim.fault(target="Sale", kind="ambiguous", status=502)
    answer = sim.api.post("/Sale.json", json=redeem_sale(card, "4", referenceNumber="act_9"))
    assert answer.status_code == 502
    assert sim.card_in_state(card)["balance"] == "-26"
    found = sim.api.get("/Sale.json", params={"referenceNumber": "act_9"})
    assert found.json()["Sale"]["referenceNumber"] == "act_9"  # read back before any retry


def test_a_throttle_fault_answers_429_with_retry_after(sim: Sim) -> None:
    sim.fault(kind="throttle", seconds=7)
    answer = sim.api.get("/Sale.json")
    assert answer.status_code == 429 and answer.headers["retry-after"] == "7"
    assert answer.headers["x-ls-api-ratelimit-type"] == "api-leaky-bucket"
    assert sim.api.get("/Sale.json").status_code == 200


def test_a_latency_fault_delays_the_answer(sim: Sim) -> None:
    sim.fault(kind="latency", seconds=0.4)
    began = time.monotonic()
    assert sim.api.get("/Sale.json").status_code == 200
    assert time.monotonic() - began >= 0.4


def test_a_down_fault_answers_503_for_its_duration(sim: Sim) -> None:
    sim.fault(kind="down", seconds=0.5)
    assert sim.api.get("/Sale.json").status_code == 503
    assert sim.api.get("/CreditAccount.json").status_code == 503
    assert sim.raw.get("/__sim/faults").json()["faults"][0]["kind"] == "down"
    time.sleep(0.6)
    assert sim.api.get("/Sale.json").status_code == 200


def test_faults_are_listed_and_cleared_and_bad_ones_refused(sim: Sim) -> None:
    sim.fault(kind="status", status=500, count=2)
    assert sim.raw.get("/__sim/faults").json()["faults"][0]["count"] == 2
    assert sim.raw.post("/__sim/faults", json={"kind": "nope"}).status_code == 422
    assert sim.raw.delete("/__sim/faults").json() == {"faults": []}
    assert sim.api.get("/Sale.json").status_code == 200


# --- control plane ---------------------------------------------------------------------------


def test_a_till_sale_pays_with_a_gift_card_and_sells_a_new_one(sim: Sim) -> None:
    sim.new_card("2312345678904", "30")
    answer = sim.raw.post(
        "/__sim/sale",
        json={
            "lines": [{"description": "Scarf", "price": "25", "quantity": 2}],
            "gift_card_code": "2312345678904",
            "gift_card_amount": "20",
            "sell_gift_card": {"code": "777700001111", "amount": "40"},
        },
    )
    assert answer.status_code == 201
    body = answer.json()
    assert body["sold_gift_card"]["balance"] == "-40"
    assert body["sold_gift_card"]["spendable"] == "40"
    payments = as_list(body["sale"]["SalePayments"]["SalePayment"])
    assert sorted(p["amount"] for p in payments) == ["-40", "20", "70"]  # card, load, cash
    assert body["gift_card_payment_ids"] == [
        p["salePaymentID"] for p in payments if p["amount"] == "20"
    ]
    assert sim.card_in_state("1")["balance"] == "-10"
    refused = sim.raw.post(
        "/__sim/sale",
        json={
            "lines": [{"description": "Coat", "price": "90", "quantity": 1}],
            "gift_card_code": "2312345678904",
            "gift_card_amount": "10.01",
        },
    )
    assert refused.status_code == 422
    assert sim.card_in_state("1")["balance"] == "-10"


def test_staff_create_a_gift_card_loaded_by_a_sale(sim: Sim) -> None:
    made = sim.raw.post("/__sim/credit_accounts", json={"code": "5550000111", "amount": "15"})
    assert made.status_code == 201
    assert made.json()["balance"] == "-15" and made.json()["saleID"]
    empty = sim.raw.post("/__sim/credit_accounts", json={})
    assert empty.status_code == 201 and len(empty.json()["code"]) == 13
    short = sim.raw.post("/__sim/credit_accounts", json={"code": "123"})
    assert short.status_code == 422


def test_the_state_dump_shows_every_card_and_sale(sim: Sim) -> None:
    card = sim.new_card("2312345678904", "100")
    sim.api.post("/Sale.json", json=redeem_sale(card, "12.50"))
    state = sim.state()
    assert state["account_id"] == ACCOUNT
    (shown,) = state["credit_accounts"]
    assert shown["code"] == "2312345678904"
    assert shown["balance"] == "-87.5" and shown["spendable"] == "87.5"
    assert [s["saleID"] for s in state["sales"]] == ["1", "2"]
    assert all("SalePayments" in s for s in state["sales"])
    assert state["bucket"]["size"] == 100000.0
    assert state["faults"] == []


def test_an_oauth_fault_hits_the_token_endpoint_only(sim: Sim) -> None:
    sim.fault(target="oauth", kind="status", status=502)
    form = {
        "client_id": sim.config.client_id,
        "grant_type": "refresh_token",
        "refresh_token": sim.config.refresh_token,
    }
    assert sim.api.get("/Sale.json").status_code == 200
    assert sim.raw.post("/auth/oauth/token", data=form).status_code == 502
    assert sim.raw.post("/auth/oauth/token", data=form).status_code == 200


def test_a_till_sale_for_a_customer_names_them_and_their_contact_email(sim: Sim) -> None:
    answer = sim.raw.post(
        "/__sim/sale",
        json={
            "lines": [],
            "customer": {"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"},
            "sell_gift_card": {"code": "777700002222", "amount": "40"},
        },
    )
    assert answer.status_code == 201, answer.text
    customer_id = answer.json()["sale"]["customerID"]

    bare = sim.api.get(f"/Customer/{customer_id}.json").json()["Customer"]
    full = sim.api.get(
        f"/Customer/{customer_id}.json", params={"load_relations": '["Contact"]'}
    ).json()["Customer"]

    assert (bare["firstName"], bare["lastName"]) == ("Ada", "Lovelace") and "Contact" not in bare
    (email,) = as_list(full["Contact"]["Emails"]["ContactEmail"])
    assert email == {"address": "ada@example.com", "useType": "Primary"}
    assert sim.api.get("/Customer/999.json").status_code == 404
