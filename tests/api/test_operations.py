"""The finance view, health, metrics, request ids and the OpenAPI document."""

from __future__ import annotations

from tests.factories import act, issue, post, usd


async def test_ledger_balances_show_liability_equal_to_the_sum_of_card_balances(app_client, admin):
    first = await issue(app_client, admin, 5000)
    second = await issue(app_client, admin, 2000)
    await act(app_client, admin, first["id"], "redeem", 1500)
    await act(
        app_client,
        admin,
        second["id"],
        "adjust_increment",
        300,
        reason="x",
        lot={"kind": "promotional"},
    )
    await post(app_client, f"/v1/gift-cards/{second['id']}/holds", admin, {"amount": usd(100)})
    response = await app_client.get("/v1/ledger/balances", headers=admin)
    assert response.status_code == 200
    [usd_row] = response.json()["data"]
    assert usd_row["outstanding_liability"] == usd(5000 - 1500 + 2000 + 300)
    accounts = {name: money["amount"] for name, money in usd_row["system_accounts"].items()}
    assert accounts["issued"] == -7000
    assert accounts["redeemed"] == 1500
    assert accounts["adjustments"] == -300
    assert accounts["holds"] == 100
    postings_total = sum(v for k, v in accounts.items() if k != "holds")
    assert postings_total == -usd_row["outstanding_liability"]["amount"]


async def test_health_answers_without_a_key(app_client):
    response = await app_client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_metrics_count_requests_and_activities(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    await act(app_client, admin, issued["id"], "redeem", 10)
    text = (await app_client.get("/metrics")).text
    assert 'omnigift_activities_total{type="redeem"}' in text
    assert "omnigift_http_request_duration_seconds_bucket" in text
    assert 'route="/v1/gift-cards/{card_id}/activities"' in text


async def test_every_response_carries_a_request_id(app_client, admin):
    mine = await app_client.get("/healthz", headers={"X-Request-Id": "till-7-0001"})
    assert mine.headers["x-request-id"] == "till-7-0001"
    generated = await app_client.get("/v1/gift-cards", headers=admin)
    assert generated.headers["x-request-id"].startswith("req_")


async def test_openapi_describes_every_endpoint(app_client):
    paths = (await app_client.get("/openapi.json")).json()["paths"]
    for path in [
        "/v1/gift-cards",
        "/v1/gift-cards/{card_id}",
        "/v1/gift-cards/lookup",
        "/v1/gift-cards/{card_id}/activities",
        "/v1/redemptions",
        "/v1/activities",
        "/v1/gift-cards/{card_id}/holds",
        "/v1/holds/{hold_id}/capture",
        "/v1/holds/{hold_id}/void",
        "/v1/ledger/balances",
        "/healthz",
    ]:
        assert path in paths, path


async def test_responses_match_their_documented_schemas(app_client, admin):
    from omnigift.api.schemas import Activity, GiftCard, Hold, LedgerBalances

    issued = await issue(app_client, admin, 1000)
    GiftCard.model_validate(issued)
    GiftCard.model_validate(
        (await app_client.get(f"/v1/gift-cards/{issued['id']}", headers=admin)).json()
    )
    Activity.model_validate((await act(app_client, admin, issued["id"], "redeem", 5)).json())
    Hold.model_validate(
        (
            await post(
                app_client, f"/v1/gift-cards/{issued['id']}/holds", admin, {"amount": usd(5)}
            )
        ).json()
    )
    LedgerBalances.model_validate(
        (await app_client.get("/v1/ledger/balances", headers=admin)).json()
    )


async def test_codes_never_reach_the_database_or_event_payloads(app_client, admin):
    from sqlalchemy import select

    from omnigift.db.tables import metadata

    issued = await issue(app_client, admin, 1000)
    written = {issued["code"], issued["code"].replace(" ", "")}  # as answered, and bare
    runtime = app_client.app.state.runtime
    async with runtime.db.read() as conn:
        for table in metadata.tables.values():
            for row in await conn.execute(select(table)):
                assert not any(code in repr(tuple(row)) for code in written), table.name


async def test_codes_never_reach_the_logs_or_an_error_answer(app_client, admin, caplog):
    import logging

    from structlog.testing import capture_logs

    issued = await issue(app_client, admin, 1000)
    bare = issued["code"].replace(" ", "")
    mistyped = bare[:-1] + str((int(bare[-1]) + 1) % 10)  # its check digit no longer holds
    seen = {issued["code"], bare, mistyped}
    with capture_logs() as events, caplog.at_level(logging.DEBUG):
        answers = [
            await app_client.post("/v1/gift-cards/lookup", json={"code": bare}, headers=admin),
            await app_client.post("/v1/gift-cards/lookup", json={"code": mistyped}, headers=admin),
            await post(
                app_client,
                "/v1/redemptions",
                admin,
                {"code": issued["code"], "amount": usd(5000)},  # more than it holds
            ),
            await post(app_client, "/v1/redemptions", admin, {"code": mistyped, "amount": usd(1)}),
            await post(
                app_client, "/v1/redemptions", admin, {"code": bare, "amount": {"amount": "x"}}
            ),
        ]

    assert [a.status_code for a in answers] == [200, 404, 409, 404, 422]
    logged = repr(events) + caplog.text
    assert events  # the refused requests were logged, just without the codes
    assert not any(code in logged for code in seen)
    for refused in answers[1:]:
        assert not any(code in refused.text for code in seen), refused.text
