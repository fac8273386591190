"""Finding a card by code, without helping anyone guess codes (API.md, lookup)."""

from __future__ import annotations

from sqlalchemy import select

from omnigift.codes import luhn_check_digit
from omnigift.db.tables import events
from tests.conftest import make_key
from tests.factories import issue, post, usd


def _mistyped(code: str) -> str:
    """The same code with one digit changed: the check digit no longer matches."""
    digits = code.replace(" ", "")
    wrong = str((int(digits[5]) + 1) % 10)
    return digits[:5] + wrong + digits[6:]


def _unknown_valid_code() -> str:
    body = "1234567890123456789"
    return body + luhn_check_digit(body)


async def lookup(client, headers, code, pin=None):
    body = {"code": code} if pin is None else {"code": code, "pin": pin}
    return await client.post("/v1/gift-cards/lookup", json=body, headers=headers)


async def test_lookup_finds_a_card_by_its_code_in_any_format(app_client, admin):
    issued = await issue(app_client, admin, 1000)
    looker = await make_key(app_client, "cards:lookup")
    dashed = issued["code"].replace(" ", "-").lower()
    response = await lookup(app_client, looker, dashed)
    assert response.status_code == 200
    assert response.json()["id"] == issued["id"] and "code" not in response.json()


async def test_unknown_code_wrong_check_digit_and_wrong_pin_get_the_same_answer(app_client, admin):
    issued = await issue(app_client, admin, 1000, pin="4321")
    looker = await make_key(app_client, "cards:lookup")
    answers = [
        await lookup(app_client, looker, _unknown_valid_code()),
        await lookup(app_client, looker, _mistyped(issued["code"])),
        await lookup(app_client, looker, issued["code"], pin="0000"),
        await lookup(app_client, looker, issued["code"]),
    ]
    assert [a.status_code for a in answers] == [404] * 4
    assert len({(a.json()["code"], a.json()["detail"]) for a in answers}) == 1
    assert (await lookup(app_client, looker, issued["code"], pin="4321")).status_code == 200


async def test_too_many_misses_are_refused_with_retry_after(app_client, admin):
    looker = await make_key(app_client, "cards:lookup")
    for _ in range(10):
        assert (await lookup(app_client, looker, _unknown_valid_code())).status_code == 404
    refused = await lookup(app_client, looker, _unknown_valid_code())
    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_attempts"
    assert 0 < int(refused.headers["retry-after"]) <= 15 * 60


async def test_misses_count_per_client_address_across_keys(app_client, admin):
    for _ in range(10):
        key = await make_key(app_client, "cards:lookup")
        await lookup(app_client, key, _unknown_valid_code())
    fresh = await make_key(app_client, "cards:lookup")
    assert (await lookup(app_client, fresh, _unknown_valid_code())).status_code == 429


async def test_redeem_by_code_counts_misses_too(app_client, admin):
    till = await make_key(app_client, "cards:redeem")
    for _ in range(10):
        response = await post(
            app_client, "/v1/redemptions", till, {"code": _unknown_valid_code(), "amount": usd(1)}
        )
        assert response.status_code == 404
    response = await post(
        app_client, "/v1/redemptions", till, {"code": _unknown_valid_code(), "amount": usd(1)}
    )
    assert response.status_code == 429


async def test_a_pin_locks_after_five_wrong_tries(app_client, admin):
    issued = await issue(app_client, admin, 1000, pin="4321")
    for _ in range(5):
        looker = await make_key(app_client, "cards:lookup")  # fresh key: not the rate limit
        app_client._transport.client = (f"198.51.100.{_}", 1)  # nor the address limit
        assert (await lookup(app_client, looker, issued["code"], pin="9999")).status_code == 404
    app_client._transport.client = ("198.51.100.99", 1)
    looker = await make_key(app_client, "cards:lookup")
    assert (await lookup(app_client, looker, issued["code"], pin="4321")).status_code == 404


async def test_a_surge_of_misses_raises_an_event_and_tightens_limits(app_client, admin):
    runtime = app_client.app.state.runtime
    runtime.limits = type(runtime.limits)(
        max_misses=10, window=runtime.limits.window, surge_misses=12, pin_max_failures=5
    )
    for n in range(12):
        app_client._transport.client = (f"192.0.2.{n}", 1)
        key = await make_key(app_client, "cards:lookup")
        await lookup(app_client, key, _unknown_valid_code())
    async with runtime.db.read() as conn:
        surges = (
            await conn.execute(
                select(events.c.type).where(events.c.type == "security.lookup_surge")
            )
        ).all()
    assert len(surges) == 1
    app_client._transport.client = ("192.0.2.200", 1)
    key = await make_key(app_client, "cards:lookup")
    for _ in range(5):
        assert (await lookup(app_client, key, _unknown_valid_code())).status_code == 404
    assert (await lookup(app_client, key, _unknown_valid_code())).status_code == 429


async def test_lookup_needs_the_lookup_scope(app_client, admin):
    reader = await make_key(app_client, "cards:read")
    assert (await lookup(app_client, reader, _unknown_valid_code())).status_code == 403
