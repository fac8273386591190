"""``omnigift cards import`` and ``omnigift cards export``, run as real processes."""

from __future__ import annotations

import csv
import io
import os
import stat
import subprocess
from pathlib import Path

import pytest

OMNIGIFT = "/work/main/.venv/bin/omnigift"
HEADER = "code,balance,currency,expires_at,customer_email,note"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    data = tmp_path / "data"
    data.mkdir()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("OMNIGIFT_")
    }
    environment.update(
        OMNIGIFT_DATA_DIR=str(data),
        OMNIGIFT_SECRET_KEY="cli-test-secret-" + "x" * 40,
        COLUMNS="200",  # Rich wraps its tables at the terminal width
    )
    return environment


def omnigift(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OMNIGIFT, *map(str, args)], env=env, capture_output=True, text=True, timeout=120
    )


def write_csv(path: Path, *rows: str) -> Path:
    path.write_text("\n".join((HEADER, *rows)) + "\n", encoding="utf-8")
    return path


def exported(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_import_of_a_clean_file_prints_the_summary_and_exits_0(
    env: dict[str, str], tmp_path: Path
) -> None:
    cards = write_csv(
        tmp_path / "cards.csv",
        "HIST0000000001,25.00,USD,2030-01-01,ann@example.com,store 12",
        "HIST0000000002,1000,JPY,,,",
    )

    result = omnigift(env, "cards", "import", cards)

    assert result.returncode == 0, result.stderr
    assert "Imported 2 cards; 0 rows refused" in result.stdout
    assert "Refused rows" not in result.stdout


def test_import_with_refused_rows_lists_them_by_line_and_exits_1(
    env: dict[str, str], tmp_path: Path
) -> None:
    cards = write_csv(
        tmp_path / "cards.csv",
        "HIST0000000001,25.00,USD,,,",
        "SHORT1,10.00,USD,,,",
        "HIST0000000003,5.001,USD,,,",
        "HIST0000000001,1.00,USD,,,",
        "HIST0000000005,7.00,USD,,,",
    )

    result = omnigift(
        env, "cards", "import", cards, "--errors", tmp_path / "refused.csv", "--batch-size", "2"
    )

    assert result.returncode == 1, result.stderr
    assert "Imported 2 cards; 3 rows refused" in result.stdout
    lines = result.stdout.splitlines()
    assert any("3" in line and "invalid code" in line for line in lines)
    assert any("4" in line and "more decimal places than USD" in line for line in lines)
    assert any("5" in line and "same code as line 2" in line for line in lines)
    refused = list(csv.reader((tmp_path / "refused.csv").open(encoding="utf-8")))
    assert [row[0] for row in refused] == ["line", "3", "4", "5"]


def test_importing_the_same_file_twice_refuses_every_row_the_second_time(
    env: dict[str, str], tmp_path: Path
) -> None:
    cards = write_csv(tmp_path / "cards.csv", "HIST0000000001,25.00,USD,,,")
    assert omnigift(env, "cards", "import", cards).returncode == 0

    again = omnigift(env, "cards", "import", cards)

    assert again.returncode == 1
    assert "Imported 0 cards; 1 rows refused" in again.stdout
    assert "a card with this code already exists" in again.stdout


def test_import_of_a_file_with_a_bad_header_exits_2_and_imports_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    cards = tmp_path / "cards.csv"
    cards.write_text("code,amount,currency\nHIST0000000001,25.00,USD\n", encoding="utf-8")

    result = omnigift(env, "cards", "import", cards)

    assert result.returncode == 2
    assert "missing column(s): balance" in result.stderr
    assert "unknown column(s): 'amount'" in result.stderr
    assert exported(omnigift(env, "cards", "export").stdout) == []


def test_import_reads_a_spreadsheet_file_with_a_byte_order_mark(
    env: dict[str, str], tmp_path: Path
) -> None:
    cards = tmp_path / "cards.csv"
    cards.write_text(f"{HEADER}\r\nHIST0000000001,25.00,USD,,,\r\n", encoding="utf-8-sig")

    result = omnigift(env, "cards", "import", cards)

    assert result.returncode == 0, result.stdout + result.stderr


def test_export_writes_csv_to_stdout_with_masked_codes(env: dict[str, str], tmp_path: Path) -> None:
    cards = write_csv(
        tmp_path / "cards.csv",
        "HIST0000000001,25.00,USD,2030-01-01,ann@example.com,store 12",
        "HIST0000000002,0,EUR,,,",
    )
    omnigift(env, "cards", "import", cards)

    result = omnigift(env, "cards", "export")

    assert result.returncode == 0, result.stderr
    rows = exported(result.stdout)
    assert list(rows[0]) == [
        "id",
        "code",
        "balance",
        "currency",
        "state",
        "expires_at",
        "customer_email",
        "note",
        "created_at",
    ]
    assert [row["code"] for row in rows] == ["•••• 0001", "•••• 0002"]
    assert [(row["balance"], row["currency"]) for row in rows] == [
        ("25.00", "USD"),
        ("0.00", "EUR"),
    ]
    assert rows[0]["expires_at"] == "2030-01-01T00:00:00Z"
    assert (rows[0]["customer_email"], rows[0]["note"]) == ("ann@example.com", "store 12")
    assert "HIST0000000001" not in result.stdout + result.stderr
    assert "Exported 2 cards" in result.stderr


def test_export_reveal_writes_full_codes_to_a_file_only_its_owner_can_read(
    env: dict[str, str], tmp_path: Path
) -> None:
    cards = write_csv(tmp_path / "cards.csv", "hist-0000-0000-01,25.00,USD,,,")
    omnigift(env, "cards", "import", cards)
    target = tmp_path / "export.csv"

    result = omnigift(env, "cards", "export", "--output", target, "--reveal")

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    rows = exported(target.read_text(encoding="utf-8"))
    assert [row["code"] for row in rows] == ["HIST0000000001"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_export_of_an_empty_ledger_is_just_the_header(env: dict[str, str]) -> None:
    result = omnigift(env, "cards", "export")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "id,code,balance,currency,state,expires_at,customer_email,note,created_at"
    ]


def test_import_of_a_file_that_is_not_utf8_exits_2_and_says_so(
    env: dict[str, str], tmp_path: Path
) -> None:
    cards = tmp_path / "cards.csv"
    cards.write_text(f"{HEADER}\nHIST0000000001,25.00,EUR,,,café\n", encoding="latin-1")

    result = omnigift(env, "cards", "import", cards)

    assert result.returncode == 2
    assert "not UTF-8" in result.stderr
