"""Historical import of cards from CSV, and export of every card."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from ulid import ULID

from omnigift.codes import luhn_check_digit
from omnigift.config import Settings
from omnigift.db.migrate import upgrade
from omnigift.db.tables import accounts, activities, events, gift_cards, lots, postings
from omnigift.ledger.cards import CardType
from omnigift.ledger.imports import (
    ImportFileError,
    ImportReport,
    RowError,
    export_cards,
    import_csv,
)
from omnigift.ledger.issuing import IssueCard, issue_card
from omnigift.ledger.lookup import Caller, find_by_code
from omnigift.ledger.origin import Channel, Origin
from omnigift.ledger.postings import SystemAccount, system_account_id
from omnigift.runtime import Runtime

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
HEADER = "code,balance,currency,expires_at,customer_email,note"
TABLES = {
    "accounts": accounts,
    "gift_cards": gift_cards,
    "lots": lots,
    "activities": activities,
    "postings": postings,
    "events": events,
}


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = Runtime.from_settings(Settings(data_dir=tmp_path, secret_key="x" * 40))
    await upgrade(runtime.db)
    yield runtime
    await runtime.db.dispose()


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"


async def run_import(runtime: Runtime, text: str, **options: Any) -> ImportReport:
    return await import_csv(
        runtime.db, runtime.policy, io.StringIO(text), clock=lambda: NOW, **options
    )


async def counts(runtime: Runtime) -> dict[str, int]:
    async with runtime.db.read() as conn:
        return {
            name: (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            for name, table in TABLES.items()
        }


async def rows_of(runtime: Runtime, table: Any, *where: Any) -> list[dict[str, Any]]:
    async with runtime.db.read() as conn:
        result = await conn.execute(select(table).where(*where))
        return [dict(row._mapping) for row in result]


async def card_by_last4(runtime: Runtime, last4: str) -> dict[str, Any]:
    query = (
        select(gift_cards, accounts.c.balance, accounts.c.held, accounts.c.version)
        .join_from(gift_cards, accounts, gift_cards.c.id == accounts.c.id)
        .where(gift_cards.c.code_last4 == last4)
    )
    async with runtime.db.read() as conn:
        return dict((await conn.execute(query)).one()._mapping)


def per_card(cards: int, valued: int | None = None) -> dict[str, int]:
    """The rows ``cards`` imported cards add (``valued`` of them with a non-zero balance)."""
    valued = cards if valued is None else valued
    return {
        "accounts": cards,
        "gift_cards": cards,
        "lots": valued,
        "activities": cards,
        "postings": 2 * valued,
        "events": 2 * cards,
    }


def added(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before[name] for name in before}


# --- Good rows ------------------------------------------------------------------------------


async def test_good_rows_become_active_physical_import_cards_with_their_balances(
    runtime: Runtime,
) -> None:
    report = await run_import(
        runtime,
        csv_text(
            "HIST0000000001,25.00,USD,2030-01-01,ann@example.com,sold in store 12",
            "HIST0000000002,1000,JPY,,,",
        ),
    )

    assert report == ImportReport(imported=2, errors=[])
    usd = await card_by_last4(runtime, "0001")
    assert usd["type"] == "physical"
    assert usd["state"] == "active"
    assert usd["issued_channel"] == "import"
    assert (usd["balance"], usd["held"], usd["currency"]) == (2500, 0, "USD")
    assert usd["initial_value"] == 2500
    assert usd["expires_at"] == datetime(2030, 1, 1, tzinfo=UTC)
    assert usd["metadata"] == {"customer_email": "ann@example.com", "note": "sold in store 12"}
    assert usd["created_at"] == NOW
    jpy = await card_by_last4(runtime, "0002")
    assert (jpy["balance"], jpy["currency"], jpy["expires_at"]) == (1000, "JPY", None)
    assert jpy["metadata"] == {}


async def test_each_card_gets_one_paid_lot_holding_its_whole_balance(runtime: Runtime) -> None:
    await run_import(runtime, csv_text("HIST0000000001,25.00,USD,2030-01-01,,"))

    card = await card_by_last4(runtime, "0001")
    [lot] = await rows_of(runtime, lots, lots.c.account_id == card["id"])
    assert (lot["kind"], lot["amount"], lot["remaining"]) == ("paid", 2500, 2500)


async def test_each_card_opens_with_an_import_activity_credited_from_the_issued_account(
    runtime: Runtime,
) -> None:
    await run_import(runtime, csv_text("HIST0000000001,25.00,USD,,,"))

    card = await card_by_last4(runtime, "0001")
    [activity] = await rows_of(runtime, activities, activities.c.account_id == card["id"])
    assert activity["type"] == "import"
    assert (activity["amount"], activity["balance_after"]) == (2500, 2500)
    assert (activity["state_after"], activity["channel"]) == ("active", "import")
    entries = await rows_of(runtime, postings, postings.c.activity_id == activity["id"])
    assert sorted((e["account_id"], e["amount"]) for e in entries) == sorted(
        [(card["id"], 2500), (system_account_id(SystemAccount.ISSUED, "USD"), -2500)]
    )


async def test_every_ledger_invariant_holds_after_an_import(runtime: Runtime) -> None:
    await run_import(
        runtime,
        csv_text(
            "HIST0000000001,25.00,USD,,,",
            "HIST0000000002,0.01,USD,,,",
            "HIST0000000003,0,USD,,,",
            "HIST0000000004,300,JPY,,,",
        ),
    )

    async with runtime.db.read() as conn:
        unbalanced = (
            await conn.execute(
                select(postings.c.activity_id)
                .group_by(postings.c.activity_id)
                .having(func.sum(postings.c.amount) != 0)
            )
        ).all()
        assert unbalanced == []
        for card in (
            await conn.execute(select(accounts).where(accounts.c.kind == "gift_card"))
        ).all():
            posted = (
                await conn.execute(
                    select(func.coalesce(func.sum(postings.c.amount), 0)).where(
                        postings.c.account_id == card.id
                    )
                )
            ).scalar_one()
            in_lots = (
                await conn.execute(
                    select(func.coalesce(func.sum(lots.c.remaining), 0)).where(
                        lots.c.account_id == card.id
                    )
                )
            ).scalar_one()
            assert card.balance == posted == in_lots
        issued = (
            await conn.execute(
                select(func.sum(postings.c.amount)).where(
                    postings.c.account_id == system_account_id(SystemAccount.ISSUED, "USD")
                )
            )
        ).scalar_one()
    assert issued == -(2500 + 1)


async def test_each_card_gets_created_and_activity_events_with_sequences_1_and_2(
    runtime: Runtime,
) -> None:
    await run_import(runtime, csv_text("HIST0000000001,25.00,USD,,,"))

    card = await card_by_last4(runtime, "0001")
    assert card["version"] == 2
    found = await rows_of(runtime, events, events.c.account_id == card["id"])
    by_sequence = {event["sequence"]: event for event in found}
    assert sorted(by_sequence) == [1, 2]
    created, activity = by_sequence[1], by_sequence[2]
    assert created["type"] == "gift_card.created"
    assert activity["type"] == "gift_card.activity.created"
    assert created["data"]["gift_card"]["balance"] == {"amount": 2500, "currency": "USD"}
    assert created["data"]["gift_card"]["version"] == 2
    assert activity["data"]["activity"]["type"] == "import"
    assert activity["data"]["activity"]["gift_card_id"] == card["id"]
    assert "code" not in created["data"]["gift_card"]


async def test_zero_balance_card_is_active_with_no_lot_and_no_postings(runtime: Runtime) -> None:
    before = await counts(runtime)
    report = await run_import(runtime, csv_text("HIST0000000001,0.00,USD,,,"))

    assert report.imported == 1
    card = await card_by_last4(runtime, "0001")
    assert (card["state"], card["balance"], card["initial_value"]) == ("active", 0, None)
    system_accounts = len(SystemAccount)
    assert added(before, await counts(runtime)) == {
        **per_card(1, valued=0),
        "accounts": 1 + system_accounts,
    }
    [activity] = await rows_of(runtime, activities, activities.c.account_id == card["id"])
    assert (activity["type"], activity["amount"], activity["balance_after"]) == ("import", None, 0)


async def _comparable(runtime: Runtime, card_id: str) -> dict[str, Any]:
    """A card's rows in every table, with its own ids and code replaced by placeholders."""
    card = (await rows_of(runtime, gift_cards, gift_cards.c.id == card_id))[0]
    found: dict[str, Any] = {
        "accounts": await rows_of(runtime, accounts, accounts.c.id == card_id),
        "gift_cards": [card],
        "lots": await rows_of(runtime, lots, lots.c.account_id == card_id),
        "activities": await rows_of(runtime, activities, activities.c.account_id == card_id),
        "events": sorted(
            await rows_of(runtime, events, events.c.account_id == card_id),
            key=lambda event: event["sequence"],
        ),
    }
    activity_ids = [activity["id"] for activity in found["activities"]]
    found["postings"] = sorted(
        (
            {key: value for key, value in posting.items() if key != "id"}
            for posting in await rows_of(
                runtime, postings, postings.c.activity_id.in_(activity_ids)
            )
        ),
        key=lambda posting: posting["amount"],
    )
    names = {card_id: "<card>"}
    names.update({activity_id: "<activity>" for activity_id in activity_ids})
    names.update({lot["id"]: "<lot>" for lot in found["lots"]})
    names.update({event["id"]: "<event>" for event in found["events"]})
    names[card["code_last4"]] = "<last4>"  # last: four digits may also occur inside an id

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                key: scrub(item)
                for key, item in value.items()
                if key not in {"code_hash", "code_sealed"}
            }
        if isinstance(value, list):
            return [scrub(item) for item in value]
        if isinstance(value, str):
            for name, placeholder in names.items():
                value = value.replace(name, placeholder)
        return value

    return {table: scrub(rows) for table, rows in found.items()}


@pytest.mark.parametrize(("balance", "value"), [("25.00", 2500), ("0", None)])
async def test_an_imported_card_has_exactly_the_rows_issue_card_writes_for_an_import(
    runtime: Runtime, balance: str, value: int | None
) -> None:
    await run_import(runtime, csv_text(f"HIST0000000001,{balance},USD,2028-03-01,a@b.example,n"))
    imported = await card_by_last4(runtime, "0001")
    no_minimum = replace(runtime.policy, min_paid_expiry=timedelta(0))
    async with runtime.db.transaction() as conn:
        issued = await issue_card(
            conn,
            IssueCard(
                type=CardType.PHYSICAL,
                currency="USD",
                initial_value=value,
                code="HIST0000000002",
                expires_at=datetime(2028, 3, 1, tzinfo=UTC),
                metadata={"customer_email": "a@b.example", "note": "n"},
                activate=True,
                imported=True,
            ),
            no_minimum,
            Origin(channel=Channel.IMPORT),
            NOW,
        )

    assert await _comparable(runtime, imported["id"]) == await _comparable(
        runtime, issued.written.card.id
    )


@pytest.mark.parametrize(
    ("balance", "currency", "minor"),
    [
        ("0.29", "USD", 29),  # 0.29 * 100 is 28.999999999999996 as a float
        ("19.99", "USD", 1999),
        ("25", "USD", 2500),
        ("25.000", "USD", 2500),  # trailing zeros are only notation
        ("1000", "JPY", 1000),
        ("1.234", "BHD", 1234),
        ("10000000000.00", "USD", 10**12),
    ],
)
async def test_balances_are_converted_exactly_with_the_currency_exponent(
    runtime: Runtime, balance: str, currency: str, minor: int
) -> None:
    report = await run_import(runtime, csv_text(f"HIST0000000001,{balance},{currency},,,"))

    assert report.errors == []
    assert (await card_by_last4(runtime, "0001"))["balance"] == minor


async def test_codes_are_normalized_before_they_are_stored(runtime: Runtime) -> None:
    await run_import(runtime, csv_text("hist-0000 0000-01,1.00,usd,,,"))

    card = await card_by_last4(runtime, "0001")
    assert runtime.policy.vault.unseal(card["code_sealed"]) == "HIST0000000001"
    assert card["code_hash"] == runtime.policy.vault.lookup_hash("HIST0000000001")
    assert card["currency"] == "USD"


async def test_historical_expiry_is_kept_even_when_sooner_than_the_paid_value_minimum(
    runtime: Runtime,
) -> None:
    soon = NOW + timedelta(days=30)
    report = await run_import(runtime, csv_text(f"HIST0000000001,5.00,USD,{soon.date()},,"))

    assert report.errors == []
    assert (await card_by_last4(runtime, "0001"))["expires_at"] == datetime.combine(
        soon.date(), datetime.min.time(), UTC
    )


@pytest.mark.parametrize(
    ("expires_at", "stored"),
    [
        ("2030-06-30", datetime(2030, 6, 30, tzinfo=UTC)),
        ("2030-06-30T15:30:00", datetime(2030, 6, 30, 15, 30, tzinfo=UTC)),
        ("2030-06-30T15:30:00Z", datetime(2030, 6, 30, 15, 30, tzinfo=UTC)),
        ("2030-06-30T15:30:00+02:00", datetime(2030, 6, 30, 13, 30, tzinfo=UTC)),
    ],
)
async def test_expiry_is_an_iso_date_or_date_time_taken_as_utc(
    runtime: Runtime, expires_at: str, stored: datetime
) -> None:
    await run_import(runtime, csv_text(f"HIST0000000001,5.00,USD,{expires_at},,"))

    assert (await card_by_last4(runtime, "0001"))["expires_at"] == stored


async def test_columns_may_come_in_any_order_and_optional_ones_may_be_left_out(
    runtime: Runtime,
) -> None:
    report = await run_import(
        runtime, csv_text("USD, 7.50 ,HIST0000000001", header="Currency, Balance ,CODE")
    )

    assert report == ImportReport(imported=1, errors=[])
    card = await card_by_last4(runtime, "0001")
    assert (card["balance"], card["expires_at"], card["metadata"]) == (750, None, {})


async def test_notes_may_hold_commas_quotes_and_line_breaks(runtime: Runtime) -> None:
    text = csv_text('HIST0000000001,5.00,USD,,,"gift, from ""Bob""\nsecond line"')

    assert (await run_import(runtime, text)).errors == []
    card = await card_by_last4(runtime, "0001")
    assert card["metadata"] == {"note": 'gift, from "Bob"\nsecond line'}


async def test_blank_lines_are_skipped_and_line_numbers_still_match_the_file(
    runtime: Runtime,
) -> None:
    report = await run_import(
        runtime, csv_text("", "HIST0000000001,5.00,USD,,,", ",,,,,", "", "SHORT,5.00,USD,,,")
    )

    assert report.imported == 1
    assert [error.line for error in report.errors] == [6]


async def test_progress_is_reported_after_each_batch_with_the_rows_handled_so_far(
    runtime: Runtime,
) -> None:
    seen: list[int] = []
    rows = [f"HIST000000000{n},1.00,USD,,," for n in range(1, 6)]

    await run_import(runtime, csv_text(*rows), batch_size=2, progress=seen.append)

    assert seen == [2, 4, 5]


async def test_ids_are_ulids_that_sort_in_file_order(runtime: Runtime) -> None:
    rows = [f"HIST000000000{n},1.00,USD,,," for n in range(1, 10)]
    await run_import(runtime, csv_text(*rows))

    async with runtime.db.read() as conn:
        found = (await conn.execute(select(gift_cards.c.id, gift_cards.c.code_last4))).all()
    in_id_order = [last4 for _, last4 in sorted(found)]
    assert in_id_order == [f"000{n}" for n in range(1, 10)]
    for card_id, _ in found:
        prefix, _, value = card_id.partition("_")
        assert prefix == "gc"
        assert ULID.from_str(value).datetime == NOW


# --- Refused rows ---------------------------------------------------------------------------

GOOD_BEFORE = "HIST0000000001,10.00,USD,,,"
GOOD_AFTER = "HIST0000000003,20.00,USD,,,"
GENERATED_SHAPE = "6011" + "0" * 14 + "1"  # 19 digits, plus a wrong check digit below
WRONG_CHECK = GENERATED_SHAPE + str((int(luhn_check_digit(GENERATED_SHAPE)) + 1) % 10)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        pytest.param("SHORT12,5.00,USD,,,", "invalid code: a code must be 8", id="short code"),
        pytest.param("A" * 21 + ",5.00,USD,,,", "8 to 20 letters", id="long code"),
        pytest.param("HIST*0000002,5.00,USD,,,", "8 to 20 letters", id="punctuation in code"),
        pytest.param(f"{WRONG_CHECK},5.00,USD,,,", "Luhn", id="generated shape bad check"),
        pytest.param(",5.00,USD,,,", "code is missing", id="missing code"),
        pytest.param("HIST0000000002,-5.00,USD,,,", "balance -5.00 is negative", id="negative"),
        pytest.param(
            "HIST0000000002,5.001,USD,,,",
            "balance 5.001 has more decimal places than USD has (2)",
            id="over-precise USD",
        ),
        pytest.param(
            "HIST0000000002,100.5,JPY,,,",
            "more decimal places than JPY has (0)",
            id="over-precise JPY",
        ),
        pytest.param("HIST0000000002,ten,USD,,,", "is not a decimal amount", id="words"),
        pytest.param("HIST0000000002,1e3,USD,,,", "is not a decimal amount", id="exponent"),
        pytest.param("HIST0000000002,$5.00,USD,,,", "is not a decimal amount", id="symbol"),
        pytest.param("HIST0000000002,1000000000000,USD,,,", "too large", id="too large"),
        pytest.param("HIST0000000002,,USD,,,", "balance is missing", id="missing balance"),
        pytest.param("HIST0000000002,5.00,XYZ,,,", "unknown currency 'XYZ'", id="currency"),
        pytest.param("HIST0000000002,5.00,,,,", "currency is missing", id="missing currency"),
        pytest.param("HIST0000000002,5.00,USD,31/12/2030,,", "not an ISO 8601", id="bad date"),
        pytest.param("HIST0000000002,5.00,USD,2030-02-30,,", "not an ISO 8601", id="no such day"),
        pytest.param("HIST0000000002,5.00,USD,2020-01-01,,", "is in the past", id="past expiry"),
        pytest.param("HIST0000000002,5.00,USD,,", "expected 6 fields", id="missing field"),
        pytest.param("HIST0000000002,5.00,USD,,,,", "expected 6 fields", id="extra field"),
    ],
)
async def test_bad_row_is_refused_with_its_line_number_and_writes_nothing(
    runtime: Runtime, row: str, message: str
) -> None:
    before = await counts(runtime)

    report = await run_import(runtime, csv_text(GOOD_BEFORE, row, GOOD_AFTER))

    assert report.imported == 2
    [error] = report.errors
    assert error.line == 3
    assert message in error.message
    system_accounts = len(SystemAccount)
    assert added(before, await counts(runtime)) == {
        **per_card(2),
        "accounts": 2 + system_accounts,
    }
    async with runtime.db.read() as conn:
        last4s = set((await conn.execute(select(gift_cards.c.code_last4))).scalars())
    assert last4s == {"0001", "0003"}


async def test_row_with_short_code_is_refused_with_its_line_number_and_writes_nothing(
    runtime: Runtime,
) -> None:
    report = await run_import(runtime, csv_text("SHORT1,5.00,USD,,,"))

    assert report == ImportReport(
        imported=0, errors=[RowError(2, "invalid code: a code must be 8 to 20 letters and digits")]
    )
    assert await counts(runtime) == dict.fromkeys(TABLES, 0)


async def test_unreadable_line_stops_the_import_there_and_says_so(runtime: Runtime) -> None:
    text = csv_text(
        "HIST0000000001,1.00,USD,,,",
        "HIST0000000002,1.00,USD,,," + "x" * (csv.field_size_limit() + 1),
        "HIST0000000003,1.00,USD,,,",
    )

    report = await run_import(runtime, text)

    assert report.imported == 1
    [error] = report.errors
    assert error.line == 3
    assert "could not read the file from this line on" in error.message


async def test_every_problem_of_a_row_is_reported_at_once(runtime: Runtime) -> None:
    report = await run_import(runtime, csv_text("SHORT,-1,XYZ,someday,,"))

    [error] = report.errors
    assert error.line == 2
    for part in ("invalid code", "negative", "unknown currency", "not an ISO 8601"):
        assert part in error.message


async def test_secret_codes_are_not_repeated_in_error_messages(runtime: Runtime) -> None:
    report = await run_import(runtime, csv_text("SECRET*CODE,5.00,USD,,,"))

    assert "SECRET" not in report.errors[0].message


async def test_code_repeated_in_the_file_is_refused_on_later_lines_naming_the_first(
    runtime: Runtime,
) -> None:
    report = await run_import(
        runtime,
        csv_text(
            "HIST0000000001,10.00,USD,,,",
            "HIST0000000002,10.00,USD,,,",
            "hist-0000-0000-01,99.00,USD,,,",  # the same code, written differently
            "HIST0000000001,5.00,EUR,,,",
        ),
    )

    assert report.imported == 2
    assert report.errors == [
        RowError(4, "same code as line 2"),
        RowError(5, "same code as line 2"),
    ]
    assert (await card_by_last4(runtime, "0001"))["balance"] == 1000


async def test_repeats_are_found_across_batches_too(runtime: Runtime) -> None:
    rows = [f"HIST000000000{n},1.00,USD,,," for n in range(1, 6)]
    report = await run_import(runtime, csv_text(*rows, rows[0], rows[3]), batch_size=2)

    assert report.imported == 5
    assert report.errors == [RowError(7, "same code as line 2"), RowError(8, "same code as line 5")]


async def test_code_already_in_the_database_is_refused_and_the_existing_card_is_untouched(
    runtime: Runtime,
) -> None:
    async with runtime.db.transaction() as conn:
        await issue_card(
            conn,
            IssueCard(
                type=CardType.DIGITAL, currency="USD", initial_value=100, code="HIST00000001"
            ),
            runtime.policy,
            Origin(),
            NOW,
        )
    before = await counts(runtime)

    report = await run_import(
        runtime, csv_text("HIST00000001,50.00,USD,,,", "HIST00000002,5.00,USD,,,")
    )

    assert report == ImportReport(
        imported=1, errors=[RowError(2, "a card with this code already exists")]
    )
    assert added(before, await counts(runtime)) == per_card(1)
    existing = await card_by_last4(runtime, "0001")
    assert (existing["balance"], existing["type"], existing["issued_channel"]) == (
        100,
        "digital",
        "api",
    )


async def test_importing_the_same_file_again_imports_nothing_more(runtime: Runtime) -> None:
    text = csv_text("HIST0000000001,10.00,USD,,,", "HIST0000000002,10.00,USD,,,")
    await run_import(runtime, text)
    before = await counts(runtime)

    report = await run_import(runtime, text)

    assert report.imported == 0
    assert [error.line for error in report.errors] == [2, 3]
    assert await counts(runtime) == before


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("code,currency,expires_at", "missing column(s): balance"),
        ("code,balance,currency,expiry", "unknown column(s): 'expiry'"),
        ("code,balance,currency,code", "column(s) named twice: code"),
    ],
)
async def test_file_with_a_bad_header_is_refused_before_anything_is_written(
    runtime: Runtime, header: str, message: str
) -> None:
    with pytest.raises(ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        await run_import(runtime, csv_text("HIST0000000001,1.00,USD,x", header=header))

    assert await counts(runtime) == dict.fromkeys(TABLES, 0)


async def test_empty_file_is_refused(runtime: Runtime) -> None:
    with pytest.raises(ImportFileError, match="empty"):
        await run_import(runtime, "")


# --- Finding and exporting ------------------------------------------------------------------


async def test_an_imported_card_can_be_found_by_its_code(runtime: Runtime) -> None:
    await run_import(runtime, csv_text("HIST0000000001,25.00,USD,,,"))

    card = await find_by_code(
        runtime.db,
        "hist 0000 0000 01",
        None,
        Caller(api_key_id="key_test", address=None),
        runtime.policy,
        runtime.limits,
        NOW,
    )

    assert (card.balance, card.currency, card.code_last4) == (2500, "USD", "0001")


async def _import_three(runtime: Runtime) -> None:
    await run_import(
        runtime,
        csv_text(
            "HIST0000000001,25.00,USD,2030-01-01,ann@example.com,store 12",
            "HIST0000000002,1000,JPY,,,",
            "HIST0000000003,0,EUR,,,",
        ),
    )


async def test_export_masks_codes_by_default(runtime: Runtime) -> None:
    await _import_three(runtime)

    exported = [row async for row in export_cards(runtime.db, runtime.policy)]

    assert [row.code for row in exported] == ["•••• 0001", "•••• 0002", "•••• 0003"]
    first = exported[0]
    assert first.id.startswith("gc_")
    assert (first.balance, first.currency, first.state) == ("25.00", "USD", "active")
    assert (first.expires_at, first.customer_email, first.note) == (
        "2030-01-01T00:00:00Z",
        "ann@example.com",
        "store 12",
    )
    assert first.created_at == "2026-11-24T12:00:00Z"
    assert [(row.balance, row.expires_at, row.note) for row in exported[1:]] == [
        ("1000", "", ""),
        ("0.00", "", ""),
    ]


async def test_export_reveals_full_codes_when_asked(runtime: Runtime) -> None:
    await _import_three(runtime)

    exported = [row async for row in export_cards(runtime.db, runtime.policy, reveal=True)]

    assert [row.code for row in exported] == ["HIST0000000001", "HIST0000000002", "HIST0000000003"]


async def test_export_streams_every_card_in_id_order_page_by_page(runtime: Runtime) -> None:
    rows = [f"HIST000000000{n},{n}.00,USD,,," for n in range(1, 8)]
    ticks = iter(range(100))
    await import_csv(
        runtime.db,
        runtime.policy,
        io.StringIO(csv_text(*rows)),
        clock=lambda: NOW + timedelta(seconds=next(ticks)),  # each batch is written later
        batch_size=3,
    )

    exported = [row async for row in export_cards(runtime.db, runtime.policy, page_size=2)]

    assert [row.id for row in exported] == sorted(row.id for row in exported)
    assert [row.balance for row in exported] == [f"{n}.00" for n in range(1, 8)]


async def test_a_twenty_thousand_row_import_completes(runtime: Runtime) -> None:
    rows = [f"BULK{n:08d},{n % 500}.{n % 100:02d},USD,2031-01-01,,batch" for n in range(20_000)]

    report = await run_import(runtime, csv_text(*rows))

    assert (report.imported, report.errors) == (20_000, [])
    zero_balances = sum(1 for n in range(20_000) if n % 500 == 0 and n % 100 == 0)
    assert added(dict.fromkeys(TABLES, 0), await counts(runtime)) == {
        **per_card(20_000, valued=20_000 - zero_balances),
        "accounts": 20_000 + len(SystemAccount),
    }
    expected_total = sum((n % 500) * 100 + n % 100 for n in range(20_000))
    async with runtime.db.read() as conn:
        total = (
            await conn.execute(
                select(func.sum(accounts.c.balance)).where(accounts.c.kind == "gift_card")
            )
        ).scalar_one()
        unbalanced = (
            await conn.execute(
                select(func.count()).select_from(
                    select(postings.c.activity_id)
                    .group_by(postings.c.activity_id)
                    .having(func.sum(postings.c.amount) != 0)
                    .subquery()
                )
            )
        ).scalar_one()
    assert (total, unbalanced) == (expected_total, 0)
    exported = 0
    async for _ in export_cards(runtime.db, runtime.policy):
        exported += 1
    assert exported == 20_000
