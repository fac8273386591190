"""Historical cards in and out: importing cards sold elsewhere from CSV, exporting every card.

An imported card is written with exactly the rows ``issue_card`` writes for
``IssueCard(imported=True, ...)``: the account and card rows, an ``import`` activity that credits
the balance as a paid lot from the ``issued`` system account, its two postings, and the
``gift_card.created`` and ``gift_card.activity.created`` events (sequences 1 and 2). Only the way
they are written differs: a batch of cards at a time, with one executemany INSERT per table, so
a million cards take minutes rather than hours.

Each row is checked on its own. A refused row is reported with its line number and nothing of it
is written; the other rows go on. Every batch commits on its own, so re-running a file after an
interruption imports what is missing and refuses the rest as codes already in use.
"""

from __future__ import annotations

import csv
import re
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from typing import Any, NamedTuple, TextIO

from sqlalchemy import Dialect, Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from omnigift import codes
from omnigift.clock import rfc3339, utcnow
from omnigift.db.engine import Database
from omnigift.db.tables import accounts, activities, events, gift_cards, lots, postings
from omnigift.events.catalogue import EventType
from omnigift.ids import CROCKFORD_PAIRS, crockford
from omnigift.ledger.cards import ActivityType, CardState, CardType
from omnigift.ledger.lots import LotKind
from omnigift.ledger.origin import Channel, Origin
from omnigift.ledger.policy import LedgerPolicy
from omnigift.ledger.postings import SOURCE_OF_LOT, assert_balanced, credit_card
from omnigift.ledger.records import CardRecord, ensure_system_accounts
from omnigift.ledger.views import activity_view, card_view
from omnigift.money import MAX_AMOUNT, exponent, is_known_currency

IMPORT_COLUMNS = ("code", "balance", "currency", "expires_at", "customer_email", "note")
REQUIRED_COLUMNS = ("code", "balance", "currency")
EXPORT_COLUMNS = (
    "id",
    "code",
    "balance",
    "currency",
    "state",
    "expires_at",
    "customer_email",
    "note",
    "created_at",
)
IMPORT_BATCH = 1_000  # cards per transaction
EXPORT_PAGE = 5_000  # cards per query
MASK = "•••• "
IMPORT_ORIGIN = Origin(channel=Channel.IMPORT)

_AMOUNT = re.compile(r"^\d+(?:\.\d+)?$")
_WRITE_ATTEMPTS = 3  # a batch racing a card issued with the same code is checked again

Progress = Callable[[int], None]  # called with the number of rows handled so far


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (no header, missing or unknown columns)."""


class RowError(NamedTuple):
    """A refused row: its 1-based line number in the file (the header is line 1) and why."""

    line: int
    message: str


@dataclass
class ImportReport:
    imported: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def refused(self) -> int:
        return len(self.errors)


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One record of the file: its first line and its fields by column name.

    ``problem`` is set instead when the record could not be read as the header's columns.
    """

    line: int
    fields: Mapping[str, str]
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class CheckedRow:
    """A row that passed every check that needs no database, ready to be written."""

    line: int
    code: str
    code_hash: str
    amount: int
    currency: str
    expires_at: datetime | None
    metadata: dict[str, Any]


class RowRefused(ValueError):
    """A row that cannot become a card; the message says why."""


# --- Reading --------------------------------------------------------------------------------


def read_csv(stream: TextIO) -> Iterator[SourceRow]:
    """The rows of a CSV file whose first line names the columns.

    The header is checked at once (``ImportFileError``); the rows are read lazily. Blank lines
    are skipped. Column names ignore case and surrounding spaces; the order is free.
    """
    reader = csv.reader(stream)
    try:
        header = next(reader, None)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise ImportFileError(f"the header line could not be read: {_unreadable(exc)}") from None
    if header is None:
        raise ImportFileError(
            f"the file is empty; its first line must name the columns: {', '.join(IMPORT_COLUMNS)}"
        )
    names = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    unknown = [name for name in names if name not in IMPORT_COLUMNS]
    doubled = sorted({name for name in names if names.count(name) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {', '.join(repr(name) for name in unknown)}")
    if doubled:
        problems.append(f"column(s) named twice: {', '.join(doubled)}")
    if problems:
        raise ImportFileError(
            f"{'; '.join(problems)} (the columns are {', '.join(IMPORT_COLUMNS)}; "
            f"{', '.join(REQUIRED_COLUMNS)} are required)"
        )
    return _records(reader, names)


def _records(reader: Any, names: list[str]) -> Iterator[SourceRow]:
    ended = reader.line_num
    while True:
        line = ended + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            # The reader cannot be trusted past this point: say so and stop.
            yield SourceRow(
                line,
                {},
                f"could not read the file from this line on ({_unreadable(exc)}); rows after it "
                "were not imported",
            )
            return
        ended = reader.line_num
        if not any(value.strip() for value in record):
            continue
        if len(record) != len(names):
            yield SourceRow(
                line, {}, f"expected {len(names)} fields like the header, found {len(record)}"
            )
            continue
        yield SourceRow(line, dict(zip(names, record, strict=True)))


def _unreadable(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"the file is not UTF-8 text: {exc}"
    return str(exc)


# --- Checking -------------------------------------------------------------------------------


def check_row(row: SourceRow, policy: LedgerPolicy, now: datetime) -> CheckedRow:
    """Every check of a row that needs no database; ``RowRefused`` lists all its problems."""
    if row.problem is not None:
        raise RowRefused(row.problem)
    fields = row.fields
    problems: list[str] = []

    code = codes.normalize(fields.get("code", ""))
    if not code:
        problems.append("code is missing")
    else:
        try:
            policy.codes.validate_imported(code)
        except codes.InvalidCode as exc:
            problems.append(f"invalid code: {exc}")

    currency = fields.get("currency", "").strip().upper()
    if not currency:
        problems.append("currency is missing")
    elif not is_known_currency(currency):
        problems.append(f"unknown currency {currency!r}")
        currency = ""

    amount = 0
    try:
        amount = parse_amount(fields.get("balance", ""), currency or None)
    except RowRefused as exc:
        problems.append(str(exc))

    expires_at = None
    try:
        expires_at = parse_expiry(fields.get("expires_at", ""), now)
    except RowRefused as exc:
        problems.append(str(exc))

    if problems:
        raise RowRefused("; ".join(problems))
    metadata: dict[str, Any] = {}
    for name in ("customer_email", "note"):
        value = fields.get(name, "").strip()
        if value:
            metadata[name] = value
    return CheckedRow(
        line=row.line,
        code=code,
        code_hash=policy.vault.lookup_hash(code),
        amount=amount,
        currency=currency,
        expires_at=expires_at,
        metadata=metadata,
    )


def parse_amount(raw: str, currency: str | None) -> int:
    """A decimal amount in major units (``25.00``) as exact minor units of the currency.

    ``currency`` None checks only the shape (the currency itself was refused).
    """
    text = raw.strip()
    if not text:
        raise RowRefused("balance is missing")
    if text.startswith("-") and _AMOUNT.match(text[1:]):
        raise RowRefused(f"balance {text} is negative")
    if not _AMOUNT.match(text):
        raise RowRefused(f"balance {text!r} is not a decimal amount like 25.00")
    if currency is None:
        return 0
    places = exponent(currency)
    # Trailing zeros are only notation (25.000 is 25.00); any other extra digit is refused.
    if len(text.partition(".")[2].rstrip("0")) > places:
        raise RowRefused(f"balance {text} has more decimal places than {currency} has ({places})")
    minor = Decimal(text).scaleb(places)  # exact: at most `places` significant decimals
    if minor > MAX_AMOUNT:
        raise RowRefused(f"balance {text} is too large")
    return int(minor)


def parse_expiry(raw: str, now: datetime) -> datetime | None:
    """Empty, or an ISO 8601 date or date-time in the future; without an offset it is UTC.

    A date alone is midnight UTC at the start of that day.
    """
    text = raw.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RowRefused(
            f"expires_at {text!r} is not an ISO 8601 date or date-time (like 2027-12-31)"
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment <= now:
        raise RowRefused(f"expires_at {text} is in the past")
    return moment


# --- Importing ------------------------------------------------------------------------------


async def import_csv(
    db: Database,
    policy: LedgerPolicy,
    stream: TextIO,
    *,
    clock: Callable[[], datetime] = utcnow,
    progress: Progress | None = None,
    batch_size: int = IMPORT_BATCH,
) -> ImportReport:
    """Import the cards of a CSV file (see ``read_csv`` and ``import_cards``)."""
    return await import_cards(
        db, policy, read_csv(stream), clock=clock, progress=progress, batch_size=batch_size
    )


async def import_cards(
    db: Database,
    policy: LedgerPolicy,
    rows: Iterable[SourceRow],
    *,
    clock: Callable[[], datetime] = utcnow,
    progress: Progress | None = None,
    batch_size: int = IMPORT_BATCH,
) -> ImportReport:
    """Import historical cards, ``batch_size`` rows per transaction.

    Each batch is checked (shape, code, amount, currency, expiry, codes repeated in the file,
    codes already in the database) and its good rows written in one transaction stamped with
    ``clock()``. ``progress`` is called after each batch with the number of rows handled so far.
    """
    report = ImportReport()
    first_line: dict[str, int] = {}  # code hash -> line of its first appearance in the file
    ready: set[str] = set()  # currencies whose system accounts exist
    handled = 0
    for batch in _chunks(rows, batch_size):
        now = clock()
        checked: list[CheckedRow] = []
        for row in batch:
            try:
                card = check_row(row, policy, now)
            except RowRefused as exc:
                report.errors.append(RowError(row.line, str(exc)))
                continue
            earlier = first_line.setdefault(card.code_hash, card.line)
            if earlier != card.line:
                report.errors.append(RowError(card.line, f"same code as line {earlier}"))
                continue
            checked.append(card)
        if checked:
            written, taken = await _write_batch(db, policy, checked, ready, now)
            report.imported += written
            report.errors.extend(
                RowError(card.line, "a card with this code already exists") for card in taken
            )
        handled += len(batch)
        if progress is not None:
            progress(handled)
    report.errors.sort()
    return report


async def _write_batch(
    db: Database,
    policy: LedgerPolicy,
    checked: list[CheckedRow],
    ready: set[str],
    now: datetime,
) -> tuple[int, list[CheckedRow]]:
    """Write the cards whose codes are free; returns how many, and the rows whose were not."""
    for attempt in range(1, _WRITE_ATTEMPTS + 1):
        try:
            async with db.transaction() as conn:
                in_use = await _codes_in_use(conn, [card.code_hash for card in checked])
                fresh = [card for card in checked if card.code_hash not in in_use]
                currencies = {card.currency for card in fresh} - ready
                for currency in sorted(currencies):
                    await ensure_system_accounts(conn, currency, now)
                await _insert(conn, card_rows(fresh, policy, now))
        except IntegrityError:
            # On PostgreSQL a card with one of these codes may have been issued since the
            # check; the batch rolled back whole, so check again.
            if attempt == _WRITE_ATTEMPTS:
                raise
            continue
        ready.update(currencies)
        return len(fresh), [card for card in checked if card.code_hash in in_use]
    raise AssertionError("unreachable")


async def _codes_in_use(conn: AsyncConnection, hashes: list[str]) -> set[str]:
    query = select(gift_cards.c.code_hash).where(gift_cards.c.code_hash.in_(hashes))
    return set((await conn.execute(query)).scalars())


class BatchIds:
    """Ids in the format of ``omnigift.ids.new_id`` (``gc_<ULID>``), made fast for a batch.

    ``new_id`` takes a lock and reads the clock for every id. Here the 48-bit timestamp is the
    batch's ``now`` and the 80 random bits start at a random value and count up, as in ULID's
    monotonic mode: the ids of a batch sort in file order.
    """

    def __init__(self, now: datetime) -> None:
        self._time = crockford(int(now.timestamp() * 1000), 10)
        self._random = secrets.randbits(79)  # room to count up without a carry

    def new(self, prefix: str) -> str:
        r, p = self._random, CROCKFORD_PAIRS
        self._random = r + 1
        return (
            f"{prefix}_{self._time}{p[r >> 70 & 1023]}{p[r >> 60 & 1023]}{p[r >> 50 & 1023]}"
            f"{p[r >> 40 & 1023]}{p[r >> 30 & 1023]}{p[r >> 20 & 1023]}{p[r >> 10 & 1023]}"
            f"{p[r & 1023]}"
        )


@dataclass
class CardRows:
    """The rows of a batch of new cards, one list per table."""

    accounts: list[dict[str, Any]] = field(default_factory=list)
    gift_cards: list[dict[str, Any]] = field(default_factory=list)
    lots: list[dict[str, Any]] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    postings: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def card_rows(cards: Iterable[CheckedRow], policy: LedgerPolicy, now: datetime) -> CardRows:
    """The rows ``issue_card(IssueCard(imported=True, ...))`` writes, for each card."""
    rows = CardRows()
    ids = BatchIds(now)
    for checked in cards:
        _add_card(rows, checked, policy, ids, now)
    return rows


def _add_card(
    rows: CardRows, checked: CheckedRow, policy: LedgerPolicy, ids: BatchIds, now: datetime
) -> None:
    """Append one card's rows: what ``issue_card`` with ``first_activity`` and
    ``write_activity`` writes for an imported physical card, active with its balance."""
    card_id = ids.new("gc")
    currency = checked.currency
    value = checked.amount or None  # a zero balance: no initial value, lot or postings
    card = CardRecord(
        id=card_id,
        type=CardType.PHYSICAL.value,
        state=CardState.ACTIVE,
        currency=currency,
        balance=checked.amount,
        held=0,
        version=2,  # gift_card.created, gift_card.activity.created
        expires_at=checked.expires_at,
        code_last4=checked.code[-4:],
        code_sealed=policy.vault.seal(checked.code),
        pin_hash=None,
        pin_failures=0,
        pin_failures_since=None,
        initial_value=value,
        customer_id=None,
        recipient=None,
        issued_channel=IMPORT_ORIGIN.channel,
        issued_integration_id=IMPORT_ORIGIN.integration_id,
        issued_location_id=IMPORT_ORIGIN.location_id,
        metadata=checked.metadata,
        created_at=now,
        updated_at=now,
    )
    activity_id = ids.new("act")
    entries = credit_card(card_id, currency, value, SOURCE_OF_LOT[LotKind.PAID]) if value else []
    assert_balanced(entries)

    rows.accounts.append(
        {
            "id": card_id,
            "kind": "gift_card",
            "currency": currency,
            "balance": card.balance,
            "held": 0,
            "version": card.version,
            "created_at": now,
            "updated_at": now,
        }
    )
    rows.gift_cards.append(
        {
            "id": card_id,
            "type": card.type,
            "state": card.state.value,
            "currency": currency,
            "code_hash": checked.code_hash,
            "code_sealed": card.code_sealed,
            "code_last4": card.code_last4,
            "pin_hash": None,
            "initial_value": value,
            "expires_at": card.expires_at,
            "customer_id": None,
            "recipient": None,
            "issued_channel": card.issued_channel,
            "issued_integration_id": card.issued_integration_id,
            "issued_location_id": card.issued_location_id,
            "metadata": card.metadata,
            "created_at": now,
        }
    )
    if value:
        rows.lots.append(
            {
                "id": ids.new("lot"),
                "account_id": card_id,
                "kind": LotKind.PAID.value,
                "amount": value,
                "remaining": value,
                "expires_at": None,  # the card's own expiry ends its value
                "created_at": now,
            }
        )
    activity = {
        "id": activity_id,
        "account_id": card_id,
        "type": ActivityType.IMPORT.value,
        "amount": value,
        "currency": currency,
        "balance_after": card.balance,
        "state_after": card.state.value,
        "reason": None,
        "reference": None,
        "metadata": None,
        **IMPORT_ORIGIN.as_dict(),
        "redeem_activity_id": None,
        "hold_id": None,
        "lot_movements": None,
        "created_at": now,
    }
    rows.activities.append(activity)
    rows.postings.extend(
        {"activity_id": activity_id, "account_id": account, "currency": currency, "amount": amount}
        for account, amount in entries
    )
    card_data = card_view(card)
    rows.events.append(
        {
            "id": ids.new("evt"),
            "type": EventType.GIFT_CARD_CREATED.value,
            "account_id": card_id,
            "sequence": 1,
            "data": {"gift_card": card_data},
            "created_at": now,
        }
    )
    rows.events.append(
        {
            "id": ids.new("evt"),
            "type": EventType.GIFT_CARD_ACTIVITY_CREATED.value,
            "account_id": card_id,
            "sequence": 2,
            "data": {"activity": activity_view(activity), "gift_card": card_data},
            "created_at": now,
        }
    )


async def _insert(conn: AsyncConnection, rows: CardRows) -> None:
    """One executemany INSERT per table, parents first."""
    for table, values in (
        (accounts, rows.accounts),
        (gift_cards, rows.gift_cards),
        (lots, rows.lots),
        (activities, rows.activities),
        (postings, rows.postings),
        (events, rows.events),
    ):
        if values:
            await bulk_insert(conn, table, values)


async def bulk_insert(conn: AsyncConnection, table: Table, values: list[dict[str, Any]]) -> None:
    """``conn.execute(table.insert(), values)``, at a fraction of the cost for large batches.

    SQLAlchemy's per-row parameter handling costs more than the database's own work here. The
    values are converted by the columns' own types, exactly as ``execute`` would (each distinct
    datetime and each None only once: a batch shares one ``now``), and handed to the driver's
    executemany as tuples. Every row must have the keys of the first.
    """
    dialect = conn.dialect
    compiled = table.insert().compile(dialect=dialect, column_keys=list(values[0]))
    if not compiled.positional or compiled.positiontup is None:  # pragma: no cover - pyformat
        await conn.execute(table.insert(), values)
        return
    names = [compiled.binds[name].key for name in compiled.positiontup]
    columns = []
    for name in names:
        convert = _converter(table.c[name].type, dialect)
        column = [row[name] for row in values]
        columns.append(column if convert is None else [convert(value) for value in column])
    await conn.exec_driver_sql(str(compiled), list(zip(*columns, strict=True)))


def _converter(column_type: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    process = column_type.bind_processor(dialect)
    if process is None:
        return None
    done: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        if value is None or type(value) is datetime:
            if value not in done:
                done[value] = process(value)
            return done[value]
        return process(value)

    return convert


def _chunks(rows: Iterable[SourceRow], size: int) -> Iterator[list[SourceRow]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


# --- Exporting ------------------------------------------------------------------------------


class ExportRow(NamedTuple):
    """One card as the export shows it; every field is text, as in the CSV."""

    id: str
    code: str
    balance: str
    currency: str
    state: str
    expires_at: str
    customer_email: str
    note: str
    created_at: str


async def count_cards(db: Database) -> int:
    async with db.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(gift_cards))).scalar_one())


async def export_cards(
    db: Database, policy: LedgerPolicy, *, reveal: bool = False, page_size: int = EXPORT_PAGE
) -> AsyncIterator[ExportRow]:
    """Every card in id order, ``page_size`` at a time (each page is its own read).

    Codes are masked (``•••• 4821``) unless ``reveal``, which unseals the full code.
    """
    query = (
        select(
            gift_cards.c.id,
            gift_cards.c.code_sealed,
            gift_cards.c.code_last4,
            accounts.c.balance,
            gift_cards.c.currency,
            gift_cards.c.state,
            gift_cards.c.expires_at,
            gift_cards.c.metadata,
            gift_cards.c.created_at,
        )
        .join_from(gift_cards, accounts, gift_cards.c.id == accounts.c.id)
        .order_by(gift_cards.c.id)
        .limit(page_size)
    )
    after: str | None = None
    while True:
        page = query if after is None else query.where(gift_cards.c.id > after)
        async with db.read() as conn:
            rows = (await conn.execute(page)).all()
        for row in rows:
            card = row._mapping
            metadata = card["metadata"] or {}
            sealed, last4 = card["code_sealed"], card["code_last4"]
            yield ExportRow(
                id=card["id"],
                code=policy.vault.unseal(sealed) if reveal else MASK + last4,
                balance=format_amount(card["balance"], card["currency"]),
                currency=card["currency"],
                state=card["state"],
                expires_at=rfc3339(card["expires_at"]) or "",
                customer_email=_text(metadata.get("customer_email")),
                note=_text(metadata.get("note")),
                created_at=rfc3339(card["created_at"]) or "",
            )
        if len(rows) < page_size:
            return
        after = rows[-1]._mapping["id"]


def format_amount(amount: int, currency: str) -> str:
    """Minor units as a decimal string in major units: ``2500`` USD -> ``25.00``."""
    return str(Decimal(amount).scaleb(-exponent(currency)))


def _text(value: Any) -> str:
    return "" if value is None else str(value)
