"""Customers over the API: create, find, change, merge (issue 6)."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import make_key
from tests.factories import customer, issue, row_counts


async def events_of(client: httpx.AsyncClient, headers: dict[str, str], kind: str) -> list[dict]:
    found = await client.get("/v1/events", params={"type": kind}, headers=headers)
    return list(found.json()["data"])


async def test_a_customer_is_created_with_normalized_contacts_and_an_event(app_client, admin):
    made = await customer(
        app_client,
        admin,
        email=" Ada@Example.COM ",
        phone="+44 (20) 7946-0018",
        name="Ada Lovelace",
        external_ids={"int_shop": "gid://shopify/Customer/1"},
        consents={"email_marketing": True},
    )

    assert made["id"].startswith("cus_")
    assert made["email"] == "ada@example.com" and made["phone"] == "+442079460018"
    assert made["consents"] == {"email_marketing": True, "sms_marketing": False}
    assert made["external_ids"] == {"int_shop": "gid://shopify/Customer/1"}
    (created,) = await events_of(app_client, admin, "customer.created")
    assert created["data"]["customer"]["id"] == made["id"]


async def test_an_email_another_customer_has_is_refused_naming_them(app_client, admin):
    first = await customer(app_client, admin)
    before = await row_counts(app_client)

    again = await app_client.post(
        "/v1/customers", json={"email": "ADA@example.com", "name": "A. L."}, headers=admin
    )

    assert again.status_code == 409
    assert again.json()["code"] == "customer_exists"
    assert again.json()["existing_id"] == first["id"]
    assert await row_counts(app_client) == before


async def test_concurrent_creates_with_one_email_make_one_customer(app_client, admin):
    answers = await asyncio.gather(
        *(
            app_client.post("/v1/customers", json={"email": "same@example.com"}, headers=admin)
            for _ in range(8)
        )
    )

    assert sorted(a.status_code for a in answers) == [201] + [409] * 7
    listed = await app_client.get("/v1/customers", headers=admin)
    assert len(listed.json()["data"]) == 1


async def test_a_customer_needs_a_way_to_reach_or_name_them(app_client, admin):
    for body, field in (
        ({}, None),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12"}, "phone"),
    ):
        refused = await app_client.post("/v1/customers", json=body, headers=admin)
        assert refused.status_code == 422, body
        if field:
            assert refused.json()["errors"][0]["field"] == field


async def test_a_customer_is_found_by_email_or_phone(app_client, admin):
    ada = await customer(app_client, admin, email="ada@example.com", phone="+15550100199")
    await customer(app_client, admin, email="grace@example.com")

    by_email = await app_client.get(
        "/v1/customers", params={"email": "ADA@example.com"}, headers=admin
    )
    by_phone = await app_client.get(
        "/v1/customers", params={"phone": "+1 555 010 0199"}, headers=admin
    )

    assert [c["id"] for c in by_email.json()["data"]] == [ada["id"]]
    assert [c["id"] for c in by_phone.json()["data"]] == [ada["id"]]


async def test_changing_a_customer_merges_external_ids_and_consents_and_says_so(app_client, admin):
    ada = await customer(
        app_client, admin, email="ada@example.com", external_ids={"int_a": "1", "int_b": "2"}
    )

    changed = await app_client.patch(
        f"/v1/customers/{ada['id']}",
        json={
            "name": "Ada King",
            "external_ids": {"int_a": None, "int_c": "3"},
            "consents": {"sms_marketing": True},
        },
        headers=admin,
    )

    assert changed.status_code == 200, changed.text
    after = changed.json()
    assert after["name"] == "Ada King" and after["email"] == "ada@example.com"
    assert after["external_ids"] == {"int_b": "2", "int_c": "3"}
    assert after["consents"] == {"email_marketing": False, "sms_marketing": True}
    (updated,) = await events_of(app_client, admin, "customer.updated")
    assert updated["data"]["customer"]["name"] == "Ada King"


async def test_taking_another_customers_phone_is_refused(app_client, admin):
    await customer(app_client, admin, phone="+15550100199")
    grace = await customer(app_client, admin, email="grace@example.com")

    taken = await app_client.patch(
        f"/v1/customers/{grace['id']}", json={"phone": "+1 555 010 0199"}, headers=admin
    )

    assert taken.status_code == 409 and taken.json()["code"] == "customer_exists"


async def test_merging_moves_the_duplicates_cards_and_fills_what_the_survivor_lacks(
    app_client, admin
):
    online = await customer(app_client, admin, email="ada@example.com", external_ids={"shop": "7"})
    at_till = await customer(app_client, admin, phone="+15550100199", name="Ada")
    card = await issue(app_client, admin, 5000, customer_id=at_till["id"])

    merged = await app_client.post(
        f"/v1/customers/{online['id']}/merge", json={"duplicate_id": at_till["id"]}, headers=admin
    )

    assert merged.status_code == 200, merged.text
    survivor = merged.json()
    assert survivor["email"] == "ada@example.com" and survivor["phone"] == "+15550100199"
    assert survivor["name"] == "Ada" and survivor["external_ids"] == {"shop": "7"}
    cards = await app_client.get(
        "/v1/gift-cards", params={"customer_id": online["id"]}, headers=admin
    )
    assert [c["id"] for c in cards.json()["data"]] == [card["id"]]
    retired = (await app_client.get(f"/v1/customers/{at_till['id']}", headers=admin)).json()
    assert retired["merged_into"] == online["id"]
    (event,) = await events_of(app_client, admin, "customer.merged")
    assert event["data"]["gift_card_ids"] == [card["id"]]
    updated = await events_of(app_client, admin, "gift_card.updated")
    assert [e["data"]["gift_card"]["customer_id"] for e in updated] == [online["id"]]


async def test_a_merge_repeated_changes_nothing_and_a_contradicting_one_is_refused(
    app_client, admin
):
    a = await customer(app_client, admin, email="a@example.com")
    b = await customer(app_client, admin, email="b@example.com")
    c = await customer(app_client, admin, email="c@example.com")
    path = f"/v1/customers/{a['id']}/merge"
    assert (await app_client.post(path, json={"duplicate_id": b["id"]}, headers=admin)).is_success
    before = await row_counts(app_client)

    again = await app_client.post(path, json={"duplicate_id": b["id"]}, headers=admin)
    elsewhere = await app_client.post(
        f"/v1/customers/{c['id']}/merge", json={"duplicate_id": b["id"]}, headers=admin
    )
    itself = await app_client.post(path, json={"duplicate_id": a["id"]}, headers=admin)

    assert again.status_code == 200 and again.json()["id"] == a["id"]
    assert elsewhere.status_code == 409 and elsewhere.json()["code"] == "invalid_state"
    assert itself.status_code == 422
    assert await row_counts(app_client) == before


async def test_a_card_issued_to_a_merged_customer_goes_to_who_took_them_over(app_client, admin):
    a = await customer(app_client, admin, email="a@example.com")
    b = await customer(app_client, admin, email="b@example.com")
    await app_client.post(
        f"/v1/customers/{a['id']}/merge", json={"duplicate_id": b["id"]}, headers=admin
    )

    issued = await issue(app_client, admin, 1000, customer_id=b["id"])

    assert issued["customer_id"] == a["id"]


async def test_a_card_for_an_unknown_customer_is_refused(app_client, admin):
    refused = await app_client.post(
        "/v1/gift-cards",
        json={"type": "digital", "currency": "USD", "customer_id": "cus_nobody"},
        headers={**admin, "Idempotency-Key": "k-1"},
    )

    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "customer_id"


async def test_customers_need_their_own_scopes(app_client):
    redeemer = await make_key(app_client, "cards:redeem", "cards:read")
    reader = await make_key(app_client, "customers:read")

    assert (await app_client.get("/v1/customers", headers=redeemer)).status_code == 403
    assert (await app_client.get("/v1/customers", headers=reader)).status_code == 200
    denied = await app_client.post("/v1/customers", json={"name": "X"}, headers=reader)
    assert denied.status_code == 403
