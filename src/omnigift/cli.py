"""The ``omnigift`` command: run the service, manage API keys, import and export cards."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from omnigift.clock import utcnow
from omnigift.config import ConfigurationError, Settings
from omnigift.db.migrate import upgrade
from omnigift.keys import Scope, create_key, list_keys, revoke_key
from omnigift.ledger.errors import LedgerError
from omnigift.ledger.imports import (
    EXPORT_COLUMNS,
    IMPORT_BATCH,
    IMPORT_COLUMNS,
    ImportFileError,
    ImportReport,
    SourceRow,
    count_cards,
    export_cards,
    import_cards,
    read_csv,
)
from omnigift.logs import configure
from omnigift.runtime import Runtime
from omnigift_sandbox.cli import sandbox_app

app = typer.Typer(help="Omnigift: one system of record for gift cards.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: create, list, revoke.", no_args_is_help=True)
cards_app = typer.Typer(help="Cards: historical import and export.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(cards_app, name="cards")
app.add_typer(sandbox_app, name="sandbox")
console = Console()
err = Console(stderr=True)


def _runtime() -> Runtime:
    settings = Settings()
    configure(json=settings.log_json, level=settings.log_level)
    try:
        runtime = Runtime.from_settings(settings)
    except ConfigurationError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None
    return runtime


async def _migrated(runtime: Runtime) -> Runtime:
    await upgrade(runtime.db)
    return runtime


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    no_worker: Annotated[bool, typer.Option("--no-worker", help="API only, no jobs")] = False,
    workers: Annotated[int, typer.Option(help="server processes (PostgreSQL only)")] = 1,
) -> None:
    """Serve the API (docs at /docs) and, unless --no-worker, the background jobs."""
    import uvicorn

    runtime = _runtime()
    if workers > 1 and runtime.settings.is_sqlite:
        err.print("[red]--workers > 1 needs PostgreSQL; SQLite has one writer[/red]")
        raise typer.Exit(2)
    where = runtime.settings.resolved_database_url.split("///")[-1]
    database = f"SQLite {where}" if runtime.settings.is_sqlite else "PostgreSQL"
    console.print(f"Omnigift on http://{host}:{port} (docs: /docs), database: {database}")
    factory = (
        "omnigift.serving:app_without_worker" if no_worker else "omnigift.serving:app_with_worker"
    )
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
    )


@app.command()
def worker() -> None:
    """Run only the background jobs (expiry, clean-up); stops cleanly on SIGTERM or Ctrl-C."""
    from omnigift.serving import settle_heap
    from omnigift.worker import run_forever

    async def main() -> None:
        runtime = await _migrated(_runtime())
        settle_heap()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        console.print("Omnigift worker running; SIGTERM or Ctrl-C to stop")
        await run_forever(runtime, stop)
        await runtime.db.dispose()

    _run_fast(main())


def _run_fast(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop where it is installed, as uvicorn does for ``serve``: on asyncio's own loop
    the worker spent a third of its CPU in the loop itself (py-spy, 100 mirror writes/s)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in the lock file for CPython on Unix
        asyncio.run(main)
        return
    uvloop.run(main)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="a name staff will recognise")],
    scope: Annotated[
        list[str], typer.Option(help=f"repeat for each: {', '.join(s.value for s in Scope)}")
    ],
    channel: Annotated[str, typer.Option(help="channel its activities record")] = "api",
    location: Annotated[str | None, typer.Option(help="location its activities record")] = None,
) -> None:
    """Create a key. Its secret is printed once, alone on the last line."""

    async def main() -> str:
        runtime = await _migrated(_runtime())
        try:
            async with runtime.db.transaction() as conn:
                key, secret = await create_key(
                    conn, name, scope, utcnow(), channel=channel, location_id=location
                )
        finally:
            await runtime.db.dispose()
        console.print(
            f"Created {key['id']} ({name}) with scopes {', '.join(key['scopes'])}"
            f"{f', channel {channel}' if channel != 'api' else ''}"
            f"{f', location {location}' if location else ''}."
        )
        console.print("The secret is shown only now; store it safely:")
        return secret

    try:
        secret = asyncio.run(main())
    except LedgerError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from None
    print(secret)


@keys_app.command("list")
def keys_list() -> None:
    """List keys (never their secrets)."""

    async def main() -> list[dict[str, object]]:
        runtime = await _migrated(_runtime())
        try:
            async with runtime.db.read() as conn:
                return await list_keys(conn)
        finally:
            await runtime.db.dispose()

    table = Table("id", "name", "scopes", "channel", "location", "created", "revoked")
    for column in table.columns:
        column.overflow = "fold"  # ids are copied from here: never cut them short
    for key in asyncio.run(main()):
        table.add_row(
            str(key["id"]),
            str(key["name"]),
            ", ".join(key["scopes"]),  # type: ignore[arg-type]
            str(key["channel"]),
            str(key["location_id"] or ""),
            str(key["created_at"]),
            str(key["revoked_at"] or ""),
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key; it stops working within seconds."""

    async def main() -> None:
        runtime = await _migrated(_runtime())
        try:
            async with runtime.db.transaction() as conn:
                await revoke_key(conn, key_id, utcnow())
        finally:
            await runtime.db.dispose()

    try:
        asyncio.run(main())
    except LedgerError as exc:
        err.print(f"[red]{exc.detail}[/red]")
        raise typer.Exit(2) from None
    console.print(f"Revoked {key_id}.")


REFUSED_SHOWN = 200  # rows of the refused table; --errors keeps them all


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


@cards_app.command("import")
def cards_import(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            readable=True,
            help=f"CSV file with the columns {', '.join(IMPORT_COLUMNS)}",
        ),
    ],
    errors_file: Annotated[
        Path | None,
        typer.Option("--errors", help="also write every refused row (line, message) to this CSV"),
    ] = None,
    batch_size: Annotated[
        int,
        typer.Option(
            min=1,
            max=10_000,
            help="cards per transaction; larger is faster, but holds other writers up longer",
        ),
    ] = IMPORT_BATCH,
) -> None:
    """Import historical cards from CSV. Exit code 0 if every row was imported, 1 if some were
    refused (each listed with its line number), 2 if the file could not be read at all."""

    def rows(handle: TextIO) -> Iterator[SourceRow]:
        try:
            return read_csv(handle)
        except ImportFileError as exc:
            err.print(f"[red]{escape(str(file))}: {escape(str(exc))}[/red]")
            raise typer.Exit(2) from None

    with file.open(newline="", encoding="utf-8-sig") as handle:
        total = sum(1 for _ in rows(handle))  # a first pass, for the progress bar

    async def main(handle: TextIO) -> ImportReport:
        runtime = await _migrated(_runtime())
        try:
            with _progress(err) as progress:
                task = progress.add_task("Importing cards", total=total)
                return await import_cards(
                    runtime.db,
                    runtime.policy,
                    rows(handle),
                    progress=lambda done: progress.update(task, completed=done),
                    batch_size=batch_size,
                )
        finally:
            await runtime.db.dispose()

    with file.open(newline="", encoding="utf-8-sig") as handle:
        report = asyncio.run(main(handle))

    console.print(f"Imported {report.imported} cards; {report.refused} rows refused")
    if report.errors:
        table = Table("line", "problem", title="Refused rows")
        for line, message in report.errors[:REFUSED_SHOWN]:
            table.add_row(str(line), Text(message))
        console.print(table)
        hidden = report.refused - REFUSED_SHOWN
        if hidden > 0:
            more = f"{errors_file}" if errors_file else "--errors FILE to save them all"
            console.print(f"... and {hidden} more refused rows (see {escape(more)})")
    if errors_file is not None:
        with errors_file.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(("line", "problem"))
            writer.writerows(report.errors)
    raise typer.Exit(1 if report.errors else 0)


@cards_app.command("export")
def cards_export(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="CSV file to write (default: stdout)")
    ] = None,
    reveal: Annotated[
        bool,
        typer.Option("--reveal", help="write full codes instead of the last four digits"),
    ] = False,
) -> None:
    """Export every card as CSV, in id order. Codes are masked unless --reveal."""

    async def main(out: TextIO) -> int:
        runtime = await _migrated(_runtime())
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        written = 0
        try:
            total = await count_cards(runtime.db)
            with _progress(err) as progress:
                task = progress.add_task("Exporting cards", total=total)
                async for row in export_cards(runtime.db, runtime.policy, reveal=reveal):
                    writer.writerow(row)
                    written += 1
                    if written % 1000 == 0:
                        progress.update(task, completed=written)
                progress.update(task, completed=written)
        finally:
            await runtime.db.dispose()
        return written

    if output is None:
        written = asyncio.run(main(sys.stdout))
        sys.stdout.flush()
    else:
        # A file of revealed codes is a file of cash: readable by its owner only.
        mode = 0o600 if reveal else 0o644
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        if reveal:
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
            written = asyncio.run(main(out))
    codes_shown = "full codes: keep it safe" if reveal else "codes masked"
    where = f" to {output}" if output else ""
    err.print(f"Exported {written} cards{escape(where)} ({codes_shown}).")


def main() -> None:
    app()
