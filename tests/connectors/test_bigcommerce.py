"""BigCommerce, end to end over real HTTP: the service with its worker, the BigCommerce simulator.

Our cards are mirrored as v2 gift certificates (overwrite-only balance, no idempotency); spends
come back from orders, by webhook or by the poll backstop (integrations.md section 2).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from omnigift.db.tables import integrations
from tests.factories import act, card, issue
from tests.support.stack import BC_TOKEN, Platform, Stack, eventually, start_bigcommerce

QUIET = 3600  # a poll interval long enough that only the first poll, or a push, triggers one


@pytest.fixture
async def fast_quota_bigcommerce() -> AsyncIterator[Platform]:
    """A store whose quota window is short, so a 429's reset comes in about a second."""
    platform = await asyncio.to_thread(start_bigcommerce, window_ms=1500)
    yield platform
    await platform.http.aclose()
    await asyncio.to_thread(platform.server.stop)


# --- helpers ---------------------------------------------------------------------------------


def store(bigcommerce: Platform) -> str:
    return f"{bigcommerce.server.base_url}/stores/abc123"


def cents(text: str) -> int:
    return int(Decimal(text) * 100)


def plain(code: str) -> str:
    return code.replace(" ", "").replace("-", "").upper()


async def certificate(bigcommerce: Platform, code: str) -> dict[str, Any] | None:
    for found in (await bigcommerce.state())["gift_certificates"]:
        if plain(found["code"]) == plain(code):
            return dict(found)
    return None


async def balance_on_bigcommerce(bigcommerce: Platform, code: str) -> int | None:
    found = await certificate(bigcommerce, code)
    return cents(found["balance"]) if found else None


async def ledger_balance(stack: Stack, card_id: str) -> int:
    return int((await card(stack.api, stack.admin, card_id))["balance"]["amount"])


async def becomes(read: Any, expected: Any, timeout: float = 10.0) -> None:
    """Wait until the coroutine function ``read`` answers ``expected``."""

    async def check() -> bool:
        value = await read()
        assert value == expected, f"{value!r} != {expected!r}"
        return True

    await eventually(check, timeout=timeout)


async def checkout(bigcommerce: Platform, code: str, price: str, **extra: Any) -> dict[str, Any]:
    return dict(
        await bigcommerce.sim(
            "POST",
            "checkout",
            {
                "email": "sam@example.com",
                "first_name": "Sam",
                "last_name": "Shopper",
                "products": [{"name": "Scarf", "price": price, "quantity": 1, "type": "physical"}],
                "gift_certificate_codes": [plain(code)],
                **extra,
            },
        )
    )


async def redeems(stack: Stack, card_id: str) -> list[dict[str, Any]]:
    history = await stack.api.get(f"/v1/gift-cards/{card_id}/activities", headers=stack.admin)
    assert history.status_code == 200, history.text
    return [a for a in history.json()["data"] if a["type"] == "redeem"]


async def mirrored(stack: Stack, bigcommerce: Platform, amount: int = 5000) -> dict[str, Any]:
    """Issue a card in the ledger and wait for its certificate."""
    issued = await issue(stack.api, stack.admin, amount)
    await eventually(lambda: certificate(bigcommerce, issued["code"]))
    return issued


async def delete_hooks(bigcommerce: Platform) -> None:
    """The store's notifications stop reaching us (the hooks are gone, through its v3 API)."""
    vendor = {"X-Auth-Token": BC_TOKEN}
    hooks = (await bigcommerce.http.get("/stores/abc123/v3/hooks", headers=vendor)).json()["data"]
    assert hooks
    for hook in hooks:
        deleted = await bigcommerce.http.delete(
            f"/stores/abc123/v3/hooks/{hook['id']}", headers=vendor
        )
        assert deleted.status_code == 200, deleted.text


async def first_poll_done(stack: Stack, integration_id: str) -> None:
    async def polled() -> bool:
        async with stack.runtime.db.read() as conn:
            cursors = (
                await conn.execute(
                    select(integrations.c.cursors).where(integrations.c.id == integration_id)
                )
            ).scalar_one()
        return "poll" in (cursors or {})

    await eventually(polled)


async def events_of(stack: Stack, kind: str) -> list[dict[str, Any]]:
    response = await stack.api.get("/v1/events", params={"type": kind}, headers=stack.admin)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def run_to_end(stack: Stack, integration_id: str, started: Any) -> dict[str, Any]:
    assert started.status_code == 202, started.text
    run_id = started.json()["id"]

    async def finished() -> dict[str, Any] | None:
        response = await stack.api.get(
            f"/v1/integrations/{integration_id}/runs/{run_id}", headers=stack.admin
        )
        run = response.json()
        return dict(run) if run["state"] in ("done", "failed") else None

    run = await eventually(finished, timeout=15)
    assert run["state"] == "done", run
    return run


async def reconciliation(stack: Stack, integration_id: str) -> dict[str, Any]:
    response = await stack.api.get(
        f"/v1/integrations/{integration_id}/reconciliation", headers=stack.admin
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- mirror out ------------------------------------------------------------------------------


async def test_a_card_issued_in_the_ledger_appears_as_a_gift_certificate_with_the_same_code(
    stack: Stack, bigcommerce: Platform
) -> None:
    await stack.connect("bigcommerce", store(bigcommerce))
    issued = await issue(stack.api, stack.admin, 5000)

    found = await eventually(lambda: certificate(bigcommerce, issued["code"]))

    assert found["code"] == plain(issued["code"])
    assert cents(found["balance"]) == 5000
    assert found["status"] == "active"
    assert found["currency_code"] == "USD"


async def test_every_ledger_activity_moves_the_certificate_and_deactivation_disables_it(
    stack: Stack, bigcommerce: Platform
) -> None:
    await stack.connect("bigcommerce", store(bigcommerce))
    issued = await mirrored(stack, bigcommerce)
    code = issued["code"]

    assert (await act(stack.api, stack.admin, issued["id"], "redeem", 1200)).status_code == 201
    await becomes(lambda: balance_on_bigcommerce(bigcommerce, code), 3800)
    assert (await act(stack.api, stack.admin, issued["id"], "load", 700)).status_code == 201
    await becomes(lambda: balance_on_bigcommerce(bigcommerce, code), 4500)

    assert (await act(stack.api, stack.admin, issued["id"], "deactivate")).status_code == 201

    async def disabled() -> dict[str, Any] | None:
        found = await certificate(bigcommerce, code)
        return found if found and found["status"] == "disabled" else None

    gone = await eventually(disabled)
    assert cents(gone["balance"]) == 0


# --- native spend flows back -----------------------------------------------------------------


async def test_a_bigcommerce_checkout_spend_is_an_online_redeem_and_is_never_written_back(
    stack: Stack, bigcommerce: Platform
) -> None:
    integration = await stack.connect("bigcommerce", store(bigcommerce))
    issued = await mirrored(stack, bigcommerce)

    await checkout(bigcommerce, issued["code"], "20.00")

    found = await eventually(lambda: redeems(stack, issued["id"]))
    (activity,) = found
    assert activity["amount"]["amount"] == 2000
    assert activity["origin"]["channel"] == "online"
    assert activity["origin"]["integration_id"] == integration["id"]
    assert activity["reference"]["platform"] == "bigcommerce"
    assert await ledger_balance(stack, issued["id"]) == 3000
    # The redeem is a card event: the mirror is pushed again, and must stay at what was spent.
    await asyncio.sleep(0.5)
    assert await balance_on_bigcommerce(bigcommerce, issued["code"]) == 3000
    assert await redeems(stack, issued["id"]) == found


async def test_a_spend_whose_notification_never_arrives_is_never_undone(
    stack: Stack, bigcommerce: Platform
) -> None:
    integration = await stack.connect(
        "bigcommerce", store(bigcommerce), poll_interval_seconds=QUIET
    )
    issued = await mirrored(stack, bigcommerce)
    await first_poll_done(stack, integration["id"])
    await delete_hooks(bigcommerce)  # the store's notifications stop reaching us

    await checkout(bigcommerce, issued["code"], "15.00")  # the certificate now holds 35.00
    assert (await act(stack.api, stack.admin, issued["id"], "redeem", 1000)).status_code == 201

    # The push finds less on the certificate than we know of, so it does not write 40.00 over the
    # spend: it has the orders polled (the only poll due), and writes once the spend is taken in.
    await becomes(lambda: ledger_balance(stack, issued["id"]), 5000 - 1500 - 1000)
    await becomes(lambda: balance_on_bigcommerce(bigcommerce, issued["code"]), 2500)
    (spend,) = [r for r in await redeems(stack, issued["id"]) if r["origin"]["channel"] == "online"]
    assert spend["amount"]["amount"] == 1500
    assert (await bigcommerce.state())["webhooks"]["sent"] == 0


async def test_duplicated_and_reordered_webhooks_apply_a_spend_once(
    stack: Stack, bigcommerce: Platform
) -> None:
    await stack.connect("bigcommerce", store(bigcommerce))
    issued = await mirrored(stack, bigcommerce)
    await bigcommerce.sim("POST", "webhooks/behaviour", {"duplicate": True, "reorder": True})

    await checkout(bigcommerce, issued["code"], "12.50")
    await checkout(bigcommerce, issued["code"], "7.50")

    async def all_delivered() -> bool:
        hooks = (await bigcommerce.state())["webhooks"]
        return bool(hooks["duplicates"] > 0 and hooks["pending"] == 0 and hooks["retrying"] == 0)

    await eventually(all_delivered)
    await becomes(lambda: ledger_balance(stack, issued["id"]), 3000)
    await asyncio.sleep(0.5)  # anything still queued inside the service
    assert sorted(r["amount"]["amount"] for r in await redeems(stack, issued["id"])) == [750, 1250]
    assert await ledger_balance(stack, issued["id"]) == 3000
    await becomes(lambda: balance_on_bigcommerce(bigcommerce, issued["code"]), 3000)


async def test_a_write_whose_answer_is_lost_is_read_back_not_applied_twice(
    stack: Stack, bigcommerce: Platform
) -> None:
    integration = await stack.connect(
        "bigcommerce", store(bigcommerce), poll_interval_seconds=QUIET
    )
    issued = await mirrored(stack, bigcommerce)
    await first_poll_done(stack, integration["id"])
    await becomes(lambda: pending_jobs(stack, integration["id"]), 0)
    # The push reads the certificate (slowly), then its PUT is applied but answered 503.
    await bigcommerce.sim("POST", "faults", {"target": "v2", "kind": "latency", "seconds": 0.2})
    await bigcommerce.sim("POST", "faults", {"target": "v2", "kind": "ambiguous"})

    assert (await act(stack.api, stack.admin, issued["id"], "redeem", 1000)).status_code == 201

    async def faults_spent() -> bool:
        return not await bigcommerce.sim("GET", "faults")

    await eventually(faults_spent)
    await becomes(lambda: balance_on_bigcommerce(bigcommerce, issued["code"]), 4000)
    await becomes(lambda: pending_jobs(stack, integration["id"]), 0)
    assert (await act(stack.api, stack.admin, issued["id"], "redeem", 500)).status_code == 201
    await becomes(lambda: balance_on_bigcommerce(bigcommerce, issued["code"]), 3500)
    assert await ledger_balance(stack, issued["id"]) == 3500


async def pending_jobs(stack: Stack, integration_id: str) -> int:
    return int((await health(stack, integration_id))["pending_sync_jobs"])


async def health(stack: Stack, integration_id: str) -> dict[str, Any]:
    response = await stack.api.get(f"/v1/integrations/{integration_id}", headers=stack.admin)
    assert response.status_code == 200, response.text
    return dict(response.json()["health"])


# --- platform trouble ------------------------------------------------------------------------


async def test_throttling_and_an_outage_hold_the_queue_show_in_health_and_then_converge(
    stack: Stack, fast_quota_bigcommerce: Platform
) -> None:
    bigcommerce = fast_quota_bigcommerce
    integration = await stack.connect("bigcommerce", store(bigcommerce))
    issued = await mirrored(stack, bigcommerce)
    await bigcommerce.sim("POST", "faults", {"kind": "quota", "count": 3})
    await bigcommerce.sim("POST", "faults", {"kind": "down", "seconds": 3})

    assert (await act(stack.api, stack.admin, issued["id"], "redeem", 1000)).status_code == 201
    later = await issue(stack.api, stack.admin, 2500)

    async def failing() -> dict[str, Any] | None:
        seen = await health(stack, integration["id"])
        return seen if seen["failing_since"] and seen["last_error"] else None

    seen = await eventually(failing)
    assert seen["connected"] is False
    assert "503" in seen["last_error"] or "429" in seen["last_error"]
    assert seen["pending_sync_jobs"] >= 1
    (failed,) = await events_of(stack, "integration.failed")
    assert failed["data"]["integration_id"] == integration["id"]

    await becomes(lambda: balance_on_bigcommerce(bigcommerce, issued["code"]), 4000, timeout=20)
    await becomes(lambda: balance_on_bigcommerce(bigcommerce, later["code"]), 2500, timeout=20)
    await eventually(lambda: events_of(stack, "integration.recovered"))
    await becomes(lambda: pending_jobs(stack, integration["id"]), 0)
    recovered = await health(stack, integration["id"])
    assert recovered["failing_since"] is None
    assert recovered["connected"] is True


# --- overdraft -------------------------------------------------------------------------------


async def test_a_platform_spend_of_a_card_the_ledger_emptied_is_an_overdraft_exception(
    stack: Stack, bigcommerce: Platform
) -> None:
    integration = await stack.connect("bigcommerce", store(bigcommerce))
    issued = await mirrored(stack, bigcommerce)
    # The store is unreachable, so the ledger's redeem has not landed when the shopper pays.
    await bigcommerce.sim("POST", "faults", {"kind": "down", "seconds": 1.5})
    assert (await act(stack.api, stack.admin, issued["id"], "redeem", 5000)).status_code == 201
    await checkout(bigcommerce, issued["code"], "20.00")

    async def overdraft() -> list[dict[str, Any]]:
        response = await stack.api.get("/v1/sync-exceptions", headers=stack.admin)
        assert response.status_code == 200, response.text
        return [x for x in response.json()["data"] if x["kind"] == "overdraft"]

    (exception,) = await eventually(overdraft, timeout=15)
    assert exception["integration_id"] == integration["id"]
    assert exception["gift_card_id"] == issued["id"]
    assert exception["amount"]["amount"] == 2000
    assert await events_of(stack, "sync.exception")
    assert await ledger_balance(stack, issued["id"]) == 0
    # The ledger's emptying lands after the spend is taken in: the certificate ends empty too.
    await becomes(lambda: balance_on_bigcommerce(bigcommerce, issued["code"]), 0, timeout=15)


# --- selling our cards -----------------------------------------------------------------------


async def test_our_gift_card_sold_on_bigcommerce_is_issued_in_the_ledger_and_mirrored_back(
    stack: Stack, bigcommerce: Platform
) -> None:
    integration = await stack.connect(
        "bigcommerce", store(bigcommerce), sell_cards=True, gift_card_skus=["OMNI-GC"]
    )
    await bigcommerce.sim(
        "POST",
        "checkout",
        {
            "email": "ada@example.com",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "products": [
                {
                    "name": "Omnigift card",
                    "price": "50",
                    "quantity": 1,
                    "type": "digital",
                    "sku": "OMNI-GC",
                },
                {"name": "Scarf", "price": "20", "quantity": 1, "type": "physical", "sku": "S-1"},
            ],
        },
    )

    async def sold() -> list[dict[str, Any]]:
        response = await stack.api.get("/v1/gift-cards", headers=stack.admin)
        assert response.status_code == 200, response.text
        return list(response.json()["data"])

    (issued,) = await eventually(sold)
    assert issued["state"] == "active"
    assert issued["balance"]["amount"] == 5000
    assert issued["issued_via"]["channel"] == "online"
    assert issued["issued_via"]["integration_id"] == integration["id"]
    assert issued["recipient"]["email"] == "ada@example.com"
    revealed = await stack.api.get(
        f"/v1/gift-cards/{issued['id']}", params={"reveal": "true"}, headers=stack.admin
    )
    code = revealed.json()["code"]
    found = await eventually(lambda: certificate(bigcommerce, code))
    assert cents(found["balance"]) == 5000
    assert found["status"] == "active"
    # Only the one product line is a card, however often the order is announced.
    await asyncio.sleep(0.5)
    assert len(await sold()) == 1


# --- historical import -----------------------------------------------------------------------


async def test_native_certificates_are_imported_and_codes_the_ledger_cant_take_are_reported(
    stack: Stack, bigcommerce: Platform
) -> None:
    native = await bigcommerce.sim("POST", "gift_certificates", {"amount": "15"})
    chosen = await bigcommerce.sim(
        "POST", "gift_certificates", {"amount": "40", "code": "SPRING2024GIFT"}
    )
    short = await bigcommerce.sim("POST", "gift_certificates", {"amount": "10", "code": "AB12"})
    integration = await stack.connect("bigcommerce", store(bigcommerce), pull_cards=True)

    started = await stack.api.post(
        f"/v1/integrations/{integration['id']}/import", headers=stack.admin
    )
    run = await run_to_end(stack, integration["id"], started)

    report = run["report"]
    assert report["seen"] == 3
    assert report["imported"] == 2
    assert run["progress"]["done"] == 3
    (refused,) = report["refused"]
    assert refused["external_id"] == str(short["id"])
    assert "8 to 20" in refused["reason"]

    for made, balance in ((native, 1500), (chosen, 4000)):
        found = await stack.api.post(
            "/v1/gift-cards/lookup", json={"code": made["code"]}, headers=stack.admin
        )
        assert found.status_code == 200, found.text
        assert found.json()["balance"]["amount"] == balance
        assert found.json()["metadata"]["imported_from"]["external_id"] == str(made["id"])

    # An imported card is mirrored by the certificate it came from: spends move that one.
    imported = (
        await stack.api.post(
            "/v1/gift-cards/lookup", json={"code": chosen["code"]}, headers=stack.admin
        )
    ).json()
    assert (await act(stack.api, stack.admin, imported["id"], "redeem", 1000)).status_code == 201
    await becomes(lambda: balance_on_bigcommerce(bigcommerce, chosen["code"]), 3000)
    assert len((await bigcommerce.state())["gift_certificates"]) == 3

    again = await stack.api.post(
        f"/v1/integrations/{integration['id']}/import", headers=stack.admin
    )
    rerun = (await run_to_end(stack, integration["id"], again))["report"]
    assert (rerun["imported"], rerun["already_in_ledger"]) == (0, 2)


# --- reconciliation --------------------------------------------------------------------------


async def test_reconciliation_reports_drift_made_on_the_platform_and_repair_removes_it(
    stack: Stack, bigcommerce: Platform
) -> None:
    integration = await stack.connect("bigcommerce", store(bigcommerce))
    issued = await mirrored(stack, bigcommerce)
    other = await mirrored(stack, bigcommerce, 2000)
    await becomes(lambda: pending_jobs(stack, integration["id"]), 0)

    in_step = await reconciliation(stack, integration["id"])
    assert (in_step["checked"], in_step["drift_count"]) == (2, 0)

    # Staff change the certificate's balance in BigCommerce's control panel.
    found = await certificate(bigcommerce, issued["code"])
    assert found is not None
    changed = await bigcommerce.http.put(
        f"/stores/abc123/v2/gift_certificates/{found['id']}",
        json={"balance": "12.34"},
        headers={"X-Auth-Token": BC_TOKEN},
    )
    assert changed.status_code == 200, changed.text

    drifted = await reconciliation(stack, integration["id"])
    assert drifted["drift_count"] == 1
    (drift,) = drifted["drift"]
    assert drift["gift_card_id"] == issued["id"]
    assert (drift["field"], drift["ledger"], drift["platform"]) == ("balance", 5000, 1234)

    started = await stack.api.post(
        f"/v1/integrations/{integration['id']}/reconciliation/repair", headers=stack.admin
    )
    repaired = await run_to_end(stack, integration["id"], started)
    assert repaired["report"]["queued"] == 1

    await becomes(lambda: balance_on_bigcommerce(bigcommerce, issued["code"]), 5000)
    await becomes(lambda: pending_jobs(stack, integration["id"]), 0)
    after = await reconciliation(stack, integration["id"])
    assert (after["checked"], after["drift_count"]) == (2, 0)
    assert await balance_on_bigcommerce(bigcommerce, other["code"]) == 2000
    assert await ledger_balance(stack, issued["id"]) == 5000
    assert await events_of(stack, "integration.drift_found")


async def test_a_refund_to_the_certificate_not_yet_taken_in_is_never_overwritten(
    stack: Stack, bigcommerce: Platform
) -> None:
    await stack.connect("bigcommerce", store(bigcommerce), poll_interval_seconds=QUIET)
    issued = await mirrored(stack, bigcommerce)
    paid = await checkout(bigcommerce, issued["code"], "20.00")
    await becomes(lambda: ledger_balance(stack, issued["id"]), 3000)
    await delete_hooks(bigcommerce)

    # Staff refund the order in BigCommerce: the certificate gets its 20.00 back, unannounced.
    await bigcommerce.sim("POST", f"orders/{paid['order']['id']}/refund", {})
    assert await balance_on_bigcommerce(bigcommerce, issued["code"]) == 5000
    assert (await act(stack.api, stack.admin, issued["id"], "redeem", 500)).status_code == 201

    # The push must not write 25.00 over the refund: it takes the refund in first.
    await becomes(lambda: ledger_balance(stack, issued["id"]), 5000 - 2000 + 2000 - 500)
    await becomes(lambda: balance_on_bigcommerce(bigcommerce, issued["code"]), 4500)
    history = await stack.api.get(f"/v1/gift-cards/{issued['id']}/activities", headers=stack.admin)
    (refund,) = [a for a in history.json()["data"] if a["type"] == "refund"]
    (spend,) = [
        a
        for a in history.json()["data"]
        if a["origin"]["channel"] == "online" and a["type"] == "redeem"
    ]
    assert refund["amount"]["amount"] == 2000
    assert refund["origin"]["channel"] == "online"
    assert refund["redeem_activity_id"] == spend["id"]  # it reverses the checkout's spend


async def test_a_certificate_bought_in_the_bigcommerce_checkout_enters_the_ledger_when_pulling(
    stack: Stack, bigcommerce: Platform
) -> None:
    integration = await stack.connect("bigcommerce", store(bigcommerce), pull_cards=True)

    bought = await bigcommerce.sim(
        "POST",
        "checkout",
        {
            "email": "ada@example.com",
            "products": [
                {
                    "name": "Gift certificate",
                    "price": "30.00",
                    "quantity": 1,
                    "type": "giftcertificate",
                    "recipient": {"name": "Bo", "email": "bo@example.com"},
                }
            ],
        },
    )
    code = bought["gift_certificates"][0]["code"]

    async def pulled() -> dict[str, Any] | None:
        cards = (await stack.api.get("/v1/gift-cards", headers=stack.admin)).json()["data"]
        return cards[0] if cards else None

    card_in_ledger = await eventually(pulled)
    assert card_in_ledger["balance"]["amount"] == 3000
    assert card_in_ledger["issued_via"]["integration_id"] == integration["id"]
    till = await stack.key("cards:lookup", channel="pos")
    scanned = await stack.api.post("/v1/gift-cards/lookup", json={"code": code}, headers=till)
    assert scanned.status_code == 200 and scanned.json()["id"] == card_in_ledger["id"]


# --- refunding an order that bought our card ------------------------------------------------


async def _sold_two_cards(
    stack: Stack, bigcommerce: Platform
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Two of our cards bought on one order line: the ledger's cards and the order's line."""
    await stack.connect(
        "bigcommerce", store(bigcommerce), sell_cards=True, gift_card_skus=["OMNI-GC"]
    )
    product = {"name": "Omnigift card", "price": "50", "type": "digital", "sku": "OMNI-GC"}
    bought = await bigcommerce.sim(
        "POST",
        "checkout",
        {"email": "ada@example.com", "products": [{**product, "quantity": 2}]},
    )

    async def sold() -> list[dict[str, Any]] | None:
        listed = (await stack.api.get("/v1/gift-cards", headers=stack.admin)).json()["data"]
        return sorted(listed, key=lambda c: c["id"]) if len(listed) == 2 else None

    state = await bigcommerce.state()
    (order,) = [o for o in state["orders"] if o["id"] == bought["order"]["id"]]
    return await eventually(sold), order["products"][0]


async def _refund_units(bigcommerce: Platform, line: dict[str, Any], quantity: int) -> None:
    item = {"item_type": "PRODUCT", "item_id": line["id"], "quantity": quantity}
    await bigcommerce.sim("POST", f"orders/{line['order_id']}/refund", {"items": [item]})


async def _states(stack: Stack, cards: list[dict[str, Any]]) -> list[tuple[str, int]]:
    found = [await card(stack.api, stack.admin, c["id"]) for c in cards]
    return [(c["state"], c["balance"]["amount"]) for c in found]


async def test_refunding_one_of_two_cards_bought_on_bigcommerce_withdraws_just_that_one(
    stack: Stack, bigcommerce: Platform
) -> None:
    cards, line = await _sold_two_cards(stack, bigcommerce)

    await _refund_units(bigcommerce, line, 1)

    await becomes(lambda: _states(stack, cards), [("deactivated", 0), ("active", 5000)])
    # Announced again (the status change, the poll): nothing more is undone.
    await asyncio.sleep(0.5)
    assert await _states(stack, cards) == [("deactivated", 0), ("active", 5000)]

    await _refund_units(bigcommerce, line, 1)
    await becomes(lambda: _states(stack, cards), [("deactivated", 0), ("deactivated", 0)])


async def test_refunding_a_bigcommerce_order_whose_card_was_spent_is_flagged_not_undone(
    stack: Stack, bigcommerce: Platform
) -> None:
    cards, line = await _sold_two_cards(stack, bigcommerce)
    assert (await act(stack.api, stack.admin, cards[0]["id"], "redeem", 1000)).status_code == 201

    await _refund_units(bigcommerce, line, 1)

    async def flagged() -> list[dict[str, Any]] | None:
        listed = await stack.api.get(
            "/v1/sync-exceptions", params={"gift_card_id": cards[0]["id"]}, headers=stack.admin
        )
        return [e for e in listed.json()["data"] if e["kind"] == "refunded_card_spent"] or None

    (exception,) = await eventually(flagged)
    assert exception["amount"]["amount"] == 1000
    assert await _states(stack, cards) == [("active", 4000), ("active", 5000)]
