"""Shopify, end to end over real HTTP: the service with its worker, the Shopify simulator."""

from __future__ import annotations

from typing import Any

from tests.factories import act, card, issue, post, promotion, usd
from tests.support.stack import Platform, Stack, eventually


async def on_shopify(shopify: Platform, code: str) -> dict[str, Any] | None:
    wanted = code.replace(" ", "").lower()
    for gift_card in (await shopify.state())["gift_cards"]:
        if gift_card["code"].lower() == wanted:
            return dict(gift_card)
    return None


def cents(text: str) -> int:
    from decimal import Decimal

    return int(Decimal(text) * 100)


async def balance_on_shopify(shopify: Platform, code: str) -> int | None:
    mirrored = await on_shopify(shopify, code)
    return cents(mirrored["balance"]) if mirrored else None


async def test_a_card_issued_in_the_ledger_appears_on_shopify_with_the_same_code(
    stack: Stack, shopify: Platform
) -> None:
    await stack.connect("shopify", shopify.server.base_url)
    issued = await issue(stack.api, stack.admin, 5000)

    mirrored = await eventually(lambda: on_shopify(shopify, issued["code"]))

    assert cents(mirrored["balance"]) == 5000
    assert mirrored["enabled"] is True


async def test_every_ledger_activity_moves_the_mirror(stack: Stack, shopify: Platform) -> None:
    await stack.connect("shopify", shopify.server.base_url)
    issued = await issue(stack.api, stack.admin, 5000)
    code = issued["code"]
    await eventually(lambda: on_shopify(shopify, code))

    assert (await act(stack.api, stack.admin, issued["id"], "redeem", 1200)).status_code == 201
    await eventually(lambda: _equals(balance_on_shopify(shopify, code), 3800))
    assert (await act(stack.api, stack.admin, issued["id"], "load", 700)).status_code == 201
    await eventually(lambda: _equals(balance_on_shopify(shopify, code), 4500))

    assert (await act(stack.api, stack.admin, issued["id"], "deactivate")).status_code == 201
    gone = await eventually(lambda: _disabled(shopify, code))
    assert cents(gone["balance"]) == 0


async def test_a_shopify_checkout_spend_is_a_redeem_in_the_ledger(
    stack: Stack, shopify: Platform
) -> None:
    integration = await stack.connect("shopify", shopify.server.base_url)
    issued = await issue(stack.api, stack.admin, 5000)
    await eventually(lambda: on_shopify(shopify, issued["code"]))

    await shopify.sim(
        "POST",
        "checkout",
        {
            "email": "ada@example.com",
            "line_items": [{"title": "Scarf", "price": "20.00", "quantity": 1}],
            "gift_card_codes": [issued["code"]],
        },
    )

    async def redeemed() -> dict[str, Any] | None:
        history = await stack.api.get(
            f"/v1/gift-cards/{issued['id']}/activities", headers=stack.admin
        )
        found = [a for a in history.json()["data"] if a["type"] == "redeem"]
        return found[0] if found else None

    activity = await eventually(redeemed)
    assert activity["amount"]["amount"] == 2000
    assert activity["origin"]["channel"] == "online"
    assert activity["origin"]["integration_id"] == integration["id"]
    assert activity["reference"]["platform"] == "shopify"
    assert (await card(stack.api, stack.admin, issued["id"]))["balance"]["amount"] == 3000
    # The mirror is left alone: Shopify already spent it.
    assert await balance_on_shopify(shopify, issued["code"]) == 3000


async def _equals(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def _disabled(shopify: Platform, code: str) -> dict[str, Any] | None:
    mirrored = await on_shopify(shopify, code)
    return mirrored if mirrored and not mirrored["enabled"] else None


async def history(stack: Stack, card_id: str) -> list[dict[str, Any]]:
    response = await stack.api.get(f"/v1/gift-cards/{card_id}/activities", headers=stack.admin)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def checkout(shopify: Platform, code: str, price: str, **extra: Any) -> dict[str, Any]:
    return dict(
        await shopify.sim(
            "POST",
            "checkout",
            {
                "email": "ada@example.com",
                "line_items": [{"title": "Scarf", "price": price, "quantity": 1}],
                "gift_card_codes": [code],
                **extra,
            },
        )
    )


async def mirrored_card(
    stack: Stack, shopify: Platform, amount: int, **settings: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    integration = await stack.connect("shopify", shopify.server.base_url, **settings)
    issued = await issue(stack.api, stack.admin, amount)
    await eventually(lambda: on_shopify(shopify, issued["code"]))
    return integration, issued


async def test_an_ambiguous_debit_is_read_back_and_never_applied_twice(
    stack: Stack, shopify: Platform
) -> None:
    _, issued = await mirrored_card(stack, shopify, 5000)
    # The next GraphQL call is applied by Shopify, but its answer is lost (503).
    await shopify.sim("POST", "faults", {"target": "graphql", "kind": "ambiguous", "count": 1})

    assert (await act(stack.api, stack.admin, issued["id"], "redeem", 1500)).status_code == 201

    await eventually(lambda: _equals(balance_on_shopify(shopify, issued["code"]), 3500))
    debits = [t for t in (await on_shopify(shopify, issued["code"]))["transactions"]]
    assert len(debits) == 1, debits


async def test_duplicated_and_reordered_notifications_apply_each_spend_once(
    stack: Stack, shopify: Platform
) -> None:
    _, issued = await mirrored_card(stack, shopify, 10000)
    await shopify.sim("POST", "webhooks/behaviour", {"duplicate": True, "reorder": True})

    await checkout(shopify, issued["code"], "10.00")
    await checkout(shopify, issued["code"], "25.00")

    async def two_redeems() -> list[dict[str, Any]] | None:
        found = [a for a in await history(stack, issued["id"]) if a["type"] == "redeem"]
        return found if len(found) == 2 else None

    redeems = await eventually(two_redeems)
    assert sorted(a["amount"]["amount"] for a in redeems) == [1000, 2500]
    await _settled(stack)
    assert len([a for a in await history(stack, issued["id"]) if a["type"] == "redeem"]) == 2
    assert (await card(stack.api, stack.admin, issued["id"]))["balance"]["amount"] == 6500
    assert await balance_on_shopify(shopify, issued["code"]) == 6500


async def test_a_platform_spend_on_an_emptied_card_is_an_overdraft_exception(
    stack: Stack, shopify: Platform
) -> None:
    integration, issued = await mirrored_card(stack, shopify, 5000)
    # Shopify is down for our API calls: the ledger's redeem can't reach the mirror yet.
    await shopify.sim("POST", "faults", {"target": "graphql", "kind": "down", "seconds": 1.5})
    assert (await act(stack.api, stack.admin, issued["id"], "redeem", 5000)).status_code == 201
    await checkout(shopify, issued["code"], "20.00")  # the shop still takes the card

    async def overdraft() -> dict[str, Any] | None:
        listed = await stack.api.get(
            "/v1/sync-exceptions", params={"gift_card_id": issued["id"]}, headers=stack.admin
        )
        found = [e for e in listed.json()["data"] if e["kind"] == "overdraft"]
        return found[0] if found else None

    exception = await eventually(overdraft)
    assert exception["amount"] == {"amount": 2000, "currency": "USD"}
    assert exception["integration_id"] == integration["id"]
    events = await stack.api.get(
        "/v1/events", params={"type": "sync.exception"}, headers=stack.admin
    )
    assert events.json()["data"], "the exception is an event too"
    # Once Shopify is back, its mirror converges on the ledger: empty.
    await eventually(lambda: _equals(balance_on_shopify(shopify, issued["code"]), 0), timeout=15)
    assert (await card(stack.api, stack.admin, issued["id"]))["balance"]["amount"] == 0


async def test_our_gift_card_product_sold_on_shopify_issues_a_card_mirrored_back(
    stack: Stack, shopify: Platform
) -> None:
    integration = await stack.connect(
        "shopify", shopify.server.base_url, sell_cards=True, gift_card_skus=["OMNI-GC"]
    )
    await shopify.sim(
        "POST",
        "checkout",
        {
            "email": "grace@example.com",
            "customer": {"first_name": "Grace", "last_name": "Hopper"},
            "line_items": [
                {"title": "Gift card", "price": "50.00", "quantity": 1, "sku": "OMNI-GC"}
            ],
        },
    )

    async def sold() -> dict[str, Any] | None:
        listed = await stack.api.get("/v1/gift-cards", headers=stack.admin)
        cards = listed.json()["data"]
        return cards[0] if cards else None

    sold_card = await eventually(sold)
    assert sold_card["balance"]["amount"] == 5000
    assert sold_card["state"] == "active"
    assert sold_card["issued_via"]["channel"] == "online"
    assert sold_card["issued_via"]["integration_id"] == integration["id"]
    revealed = await stack.api.get(
        f"/v1/gift-cards/{sold_card['id']}", params={"reveal": "true"}, headers=stack.admin
    )
    code = revealed.json()["code"]
    mirrored = await eventually(lambda: on_shopify(shopify, code))
    assert cents(mirrored["balance"]) == 5000


async def test_shopify_native_cards_are_imported_with_their_code_unknown(
    stack: Stack, shopify: Platform
) -> None:
    integration = await stack.connect("shopify", shopify.server.base_url, pull_cards=True)
    native = await shopify.sim("POST", "gift_cards", {"initial_value": "25.00"})

    started = await stack.api.post(
        f"/v1/integrations/{integration['id']}/import", headers=stack.admin
    )
    assert started.status_code == 202, started.text
    run = await eventually(lambda: _finished_run(stack, integration["id"], started.json()["id"]))
    assert run["state"] == "done", run
    listed = (await stack.api.get("/v1/gift-cards", headers=stack.admin)).json()["data"]
    assert len(listed) == 1
    imported = listed[0]
    assert imported["balance"]["amount"] == 2500
    assert imported["metadata"]["code_known"] is False
    assert imported["metadata"]["platform_last_characters"] == native["code"][-4:]

    # Staff find it by the last 4 characters Shopify shows.
    found = await stack.api.get(
        "/v1/gift-cards", params={"last4": native["code"][-4:]}, headers=stack.admin
    )
    assert [c["id"] for c in found.json()["data"]] == [imported["id"]]

    # Spent in the Shopify checkout: the imported card follows.
    await checkout(shopify, native["code"], "5.00")
    await eventually(lambda: _card_balance_is(stack, imported["id"], 2000))


async def test_staff_attach_a_physical_serial_to_a_card_whose_code_is_unknown(
    stack: Stack, shopify: Platform
) -> None:
    integration = await stack.connect("shopify", shopify.server.base_url, pull_cards=True)
    await shopify.sim("POST", "gift_cards", {"initial_value": "25.00"})
    started = await stack.api.post(
        f"/v1/integrations/{integration['id']}/import", headers=stack.admin
    )
    await eventually(lambda: _finished_run(stack, integration["id"], started.json()["id"]))
    imported = (await stack.api.get("/v1/gift-cards", headers=stack.admin)).json()["data"][0]
    serial = "7001 2345 6789 0011"

    attached = await stack.api.put(
        f"/v1/gift-cards/{imported['id']}/code", json={"code": serial}, headers=stack.admin
    )
    assert attached.status_code == 200, attached.text
    assert attached.json()["metadata"]["code_known"] is True
    till = await stack.key("cards:lookup", channel="pos")
    scanned = await stack.api.post("/v1/gift-cards/lookup", json={"code": serial}, headers=till)
    assert scanned.status_code == 200 and scanned.json()["id"] == imported["id"]
    again = await stack.api.put(
        f"/v1/gift-cards/{imported['id']}/code", json={"code": serial}, headers=stack.admin
    )
    assert again.status_code == 200
    other = await stack.api.put(
        f"/v1/gift-cards/{imported['id']}/code",
        json={"code": "7001234567890099"},
        headers=stack.admin,
    )
    assert other.status_code == 409 and other.json()["code"] == "invalid_state"


async def test_a_new_integration_first_syncs_history_both_ways(
    stack: Stack, shopify: Platform
) -> None:
    before = await issue(stack.api, stack.admin, 1500)  # in the ledger before the store
    await shopify.sim("POST", "gift_cards", {"initial_value": "12.00"})  # in the store before us

    integration = await stack.connect(
        "shopify", shopify.server.base_url, pull_cards=True, historical_sync=True
    )

    runs = (
        await stack.api.get(f"/v1/integrations/{integration['id']}/runs", headers=stack.admin)
    ).json()["data"]
    assert sorted(r["kind"] for r in runs) == ["export", "import"]
    for run in runs:
        assert (await eventually(lambda r=run: _finished_run(stack, integration["id"], r["id"])))[
            "state"
        ] == "done"
    assert await eventually(lambda: balance_on_shopify(shopify, before["code"])) == 1500
    cards = (await stack.api.get("/v1/gift-cards", headers=stack.admin)).json()["data"]
    assert sorted(c["balance"]["amount"] for c in cards) == [1200, 1500]


async def test_a_card_made_in_shopify_admin_enters_the_ledger_when_pulling(
    stack: Stack, shopify: Platform
) -> None:
    integration = await stack.connect("shopify", shopify.server.base_url, pull_cards=True)

    await shopify.sim("POST", "gift_cards", {"initial_value": "40.00"})

    async def pulled() -> dict[str, Any] | None:
        cards = (await stack.api.get("/v1/gift-cards", headers=stack.admin)).json()["data"]
        return cards[0] if cards else None

    card_in_ledger = await eventually(pulled)
    assert card_in_ledger["balance"]["amount"] == 4000
    assert card_in_ledger["issued_via"]["integration_id"] == integration["id"]
    history = await stack.api.get(
        f"/v1/gift-cards/{card_in_ledger['id']}/activities", headers=stack.admin
    )
    assert [a["type"] for a in history.json()["data"]] == ["import"]


async def test_reconciliation_finds_drift_and_repair_fixes_it_the_safe_way(
    stack: Stack, shopify: Platform
) -> None:
    integration, issued = await mirrored_card(stack, shopify, 5000)
    await _settled(stack)
    path = f"/v1/integrations/{integration['id']}/reconciliation"
    clean = (await stack.api.get(path, headers=stack.admin)).json()
    assert clean["drift_count"] == 0 and clean["checked"] == 1

    # Someone credits the card in Shopify's admin, behind the ledger's back.
    gid = (await on_shopify(shopify, issued["code"]))["id"]
    await _shopify_graphql(
        shopify,
        "mutation($id: ID!, $in: GiftCardCreditInput!) { giftCardCredit(id: $id, creditInput: $in)"
        " { userErrors { code } } }",
        {
            "id": f"gid://shopify/GiftCard/{gid}",
            "in": {"creditAmount": {"amount": "7.00", "currencyCode": "USD"}},
        },
    )
    drifted = (await stack.api.get(path, headers=stack.admin)).json()
    assert drifted["drift_count"] == 1
    assert drifted["drift"][0] == {
        "gift_card_id": issued["id"],
        "external_id": str(gid),
        "field": "balance",
        "ledger": 5000,
        "platform": 5700,
    }

    repair = await stack.api.post(f"{path}/repair", headers=stack.admin)
    assert repair.status_code == 202
    await eventually(lambda: _finished_run(stack, integration["id"], repair.json()["id"]))
    await eventually(lambda: _equals(balance_on_shopify(shopify, issued["code"]), 5000))
    await _settled(stack)
    assert (await stack.api.get(path, headers=stack.admin)).json()["drift_count"] == 0


async def _shopify_graphql(shopify: Platform, query: str, variables: dict[str, Any]) -> Any:
    from tests.support.stack import SHOPIFY_TOKEN

    response = await shopify.http.post(
        "/admin/api/2025-07/graphql.json",
        json={"query": query, "variables": variables},
        headers={"X-Shopify-Access-Token": SHOPIFY_TOKEN},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _finished_run(stack: Stack, integration_id: str, run_id: str) -> dict[str, Any] | None:
    response = await stack.api.get(
        f"/v1/integrations/{integration_id}/runs/{run_id}", headers=stack.admin
    )
    run = dict(response.json())
    return run if run["state"] in ("done", "failed") else None


async def _card_balance_is(stack: Stack, card_id: str, amount: int) -> bool:
    return bool((await card(stack.api, stack.admin, card_id))["balance"]["amount"] == amount)


async def _settled(stack: Stack) -> None:
    """Wait until every integration has no work queued."""

    async def idle() -> bool:
        listed = (await stack.api.get("/v1/integrations", headers=stack.admin)).json()["data"]
        return all(i["health"]["pending_sync_jobs"] == 0 for i in listed)

    await eventually(idle, timeout=15)


ADA = {"name": "Ada Lovelace", "email": "ada@example.com", "message": "Happy birthday"}


async def test_with_send_notifications_the_customer_is_uploaded_and_shopify_emails_them(
    stack: Stack, shopify: Platform
) -> None:
    await stack.connect("shopify", shopify.server.base_url, send_notifications=True)
    issued = await issue(stack.api, stack.admin, 5000, recipient=ADA)

    mirrored = await eventually(lambda: on_shopify(shopify, issued["code"]))

    customers = (await shopify.state())["customers"]
    assert [(c["email"], c["first_name"], c["last_name"]) for c in customers] == [
        ("ada@example.com", "Ada", "Lovelace")
    ]
    assert mirrored["customer_id"] == customers[0]["id"] and mirrored["notify"] is True
    sent = await shopify.sim("GET", "notifications")
    assert [(n["kind"], n["to"], n["gift_card_id"], n["message"]) for n in sent] == [
        ("gift_card", "ada@example.com", mirrored["id"], "Happy birthday")
    ]
    assert sent[0]["last_characters"] == issued["code"][-4:].lower()


async def test_a_customer_the_shop_already_has_is_not_uploaded_twice(
    stack: Stack, shopify: Platform
) -> None:
    await shopify.sim(  # Ada bought something online before: Shopify made her a customer
        "POST",
        "checkout",
        {"email": "ada@example.com", "line_items": [{"title": "Hat", "price": "9.00"}]},
    )
    await stack.connect("shopify", shopify.server.base_url, send_notifications=True)
    issued = await issue(stack.api, stack.admin, 5000, recipient=ADA)

    mirrored = await eventually(lambda: on_shopify(shopify, issued["code"]))

    customers = (await shopify.state())["customers"]
    assert len(customers) == 1 and mirrored["customer_id"] == customers[0]["id"]
    assert [n["to"] for n in await shopify.sim("GET", "notifications")] == ["ada@example.com"]


async def test_without_send_notifications_shopify_emails_nobody_and_learns_no_customer(
    stack: Stack, shopify: Platform
) -> None:
    await stack.connect("shopify", shopify.server.base_url)
    issued = await issue(stack.api, stack.admin, 5000, recipient=ADA)

    mirrored = await eventually(lambda: on_shopify(shopify, issued["code"]))

    assert mirrored["notify"] is False and mirrored["customer_id"] is None
    assert (await shopify.state())["customers"] == []
    assert await shopify.sim("GET", "notifications") == []


async def test_our_card_sold_online_is_emailed_to_its_buyer_when_notifications_are_on(
    stack: Stack, shopify: Platform
) -> None:
    await stack.connect(
        "shopify",
        shopify.server.base_url,
        sell_cards=True,
        gift_card_skus=["OMNI-GC"],
        send_notifications=True,
    )
    await shopify.sim(
        "POST",
        "checkout",
        {
            "email": "grace@example.com",
            "customer": {"first_name": "Grace", "last_name": "Hopper"},
            "line_items": [{"title": "Gift card", "price": "50.00", "sku": "OMNI-GC"}],
        },
    )

    async def emailed() -> list[dict[str, Any]] | None:
        sent = await shopify.sim("GET", "notifications")
        return [n for n in sent if n["kind"] == "gift_card"] or None

    (notification,) = await eventually(emailed)
    assert notification["to"] == "grace@example.com"
    assert len((await shopify.state())["customers"]) == 1  # the buyer, not uploaded again


async def _sold_card(stack: Stack, shopify: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    """Our card bought in the Shopify checkout: the ledger's card and the Shopify order."""
    await stack.connect(
        "shopify", shopify.server.base_url, sell_cards=True, gift_card_skus=["OMNI-GC"]
    )
    bought = await shopify.sim(
        "POST",
        "checkout",
        {
            "email": "grace@example.com",
            "line_items": [{"title": "Gift card", "price": "50.00", "sku": "OMNI-GC"}],
        },
    )

    async def sold() -> dict[str, Any] | None:
        listed = (await stack.api.get("/v1/gift-cards", headers=stack.admin)).json()["data"]
        return listed[0] if listed else None

    return await eventually(sold), bought["order"]


async def test_refunding_the_order_that_bought_our_card_clears_and_deactivates_it_if_unused(
    stack: Stack, shopify: Platform
) -> None:
    card, order = await _sold_card(stack, shopify)
    line = order["line_items"][0]["id"]

    await shopify.sim(
        "POST",
        f"orders/{order['id']}/refund",
        {"amount": "50.00", "refund_line_items": [{"line_item_id": line, "quantity": 1}]},
    )

    async def deactivated() -> dict[str, Any] | None:
        found = (await stack.api.get(f"/v1/gift-cards/{card['id']}", headers=stack.admin)).json()
        return found if found["state"] == "deactivated" else None

    after = await eventually(deactivated)
    assert after["balance"]["amount"] == 0
    history = await stack.api.get(f"/v1/gift-cards/{card['id']}/activities", headers=stack.admin)
    assert [a["type"] for a in history.json()["data"]][-2:] == ["clear_balance", "deactivate"]


async def test_refunding_the_order_of_a_card_already_spent_is_flagged_not_undone(
    stack: Stack, shopify: Platform
) -> None:
    card, order = await _sold_card(stack, shopify)
    assert (await act(stack.api, stack.admin, card["id"], "redeem", 1000)).status_code == 201

    await shopify.sim(
        "POST",
        f"orders/{order['id']}/refund",
        {
            "amount": "50.00",
            "refund_line_items": [{"line_item_id": order["line_items"][0]["id"], "quantity": 1}],
        },
    )

    async def flagged() -> list[dict[str, Any]] | None:
        listed = await stack.api.get(
            "/v1/sync-exceptions", params={"gift_card_id": card["id"]}, headers=stack.admin
        )
        return [e for e in listed.json()["data"] if e["kind"] == "refunded_card_spent"] or None

    (exception,) = await eventually(flagged)
    assert exception["amount"]["amount"] == 1000
    kept = (await stack.api.get(f"/v1/gift-cards/{card['id']}", headers=stack.admin)).json()
    assert kept["state"] == "active" and kept["balance"]["amount"] == 4000


async def test_store_credit_is_never_mirrored_to_the_web_store(
    stack: Stack, shopify: Platform
) -> None:
    integration = await stack.connect("shopify", shopify.server.base_url)
    made = await stack.api.post("/v1/customers", json={"name": "Ada"}, headers=stack.admin)
    wallet = f"/v1/customers/{made.json()['id']}/store-credit"
    loaded = await post(
        stack.api, f"{wallet}/activities", stack.admin, {"type": "load", "amount": usd(3000)}
    )
    held = await post(stack.api, f"{wallet}/holds", stack.admin, {"amount": usd(1000)})
    assert loaded.status_code == 201 and held.status_code == 201
    card = await issue(stack.api, stack.admin, 500)  # a card after them: mirrored as usual

    await eventually(lambda: on_shopify(shopify, card["code"]))

    assert len((await shopify.state())["gift_cards"]) == 1
    health = await stack.api.get(f"/v1/integrations/{integration['id']}", headers=stack.admin)
    assert health.json()["health"]["failed_sync_jobs"] == 0


async def test_refunding_a_purchase_withdraws_the_unused_bonus_card_it_earned(
    stack: Stack, shopify: Platform
) -> None:
    bonus_card = {"type": "fixed", "amount": 1000, "target": "new_card"}
    await promotion(stack.api, stack.admin, "card_purchased", bonus_card)
    card, order = await _sold_card(stack, shopify)
    listed = (await stack.api.get("/v1/gift-cards", headers=stack.admin)).json()["data"]
    (bonus,) = [c for c in listed if c["id"] != card["id"]]

    await shopify.sim(
        "POST",
        f"orders/{order['id']}/refund",
        {
            "amount": "50.00",
            "refund_line_items": [{"line_item_id": order["line_items"][0]["id"], "quantity": 1}],
        },
    )

    async def both_withdrawn() -> bool:
        states = []
        for wanted in (card["id"], bonus["id"]):
            found = await stack.api.get(f"/v1/gift-cards/{wanted}", headers=stack.admin)
            states.append((found.json()["state"], found.json()["balance"]["amount"]))
        return states == [("deactivated", 0), ("deactivated", 0)]

    await eventually(both_withdrawn)
