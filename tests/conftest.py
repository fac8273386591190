"""Shared fixtures: a fresh database per test on SQLite and on a real PostgreSQL, the app, keys."""

from __future__ import annotations

import asyncio
import os
import shutil
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiosqlite
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from omnigift.app import create_app
from omnigift.clock import utcnow
from omnigift.config import Settings
from omnigift.db.engine import Database
from omnigift.db.migrate import upgrade
from omnigift.keys import create_key
from omnigift.runtime import Runtime
from tests.support import postgres

SECRET = "test-secret-" + "x" * 40
REQUIRE_POSTGRES = os.environ.get("OMNIGIFT_TEST_REQUIRE_POSTGRES") == "1"
TEMPLATE_DB = "omnigift_template"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """One throwaway PostgreSQL for the whole run, with a migrated template database."""
    try:
        server = postgres.start()
    except (RuntimeError, OSError, KeyError) as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required here but could not start: {exc}")
        warnings.warn(f"SKIPPING PostgreSQL tests: {exc}", stacklevel=1)
        pytest.skip(f"PostgreSQL not available: {exc}")
    asyncio.run(_make_template(server))
    yield server
    server.stop()


async def _make_template(server: postgres.PostgresServer) -> None:
    admin = create_async_engine(server.url(), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f"CREATE DATABASE {TEMPLATE_DB}"))
    await admin.dispose()
    database = Database(server.url(TEMPLATE_DB))
    await upgrade(database)
    await database.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (faster than migrating each time)."""
    path = tmp_path_factory.mktemp("template") / "template.sqlite"

    async def build() -> None:
        database = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade(database)
        await database.dispose()

    asyncio.run(build())
    return path


_counter = iter(range(1, 10**9))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated database for one test, on each engine."""
    if request.param == "sqlite":
        target = tmp_path / "omnigift.sqlite"
        shutil.copy(request.getfixturevalue("sqlite_template"), target)
        return f"sqlite+aiosqlite:///{target}"
    server: postgres.PostgresServer = request.getfixturevalue("postgres_server")
    name = f"t{os.getpid()}_{next(_counter)}"

    async def create() -> None:
        admin = create_async_engine(server.url(), isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}"))
        await admin.dispose()

    asyncio.run(create())
    return server.url(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url, data_dir=tmp_path, secret_key=SECRET, auth_cache_seconds=0
    )


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The ledger's runtime on the test's database, for tests below the HTTP layer."""
    runtime = Runtime.from_settings(settings)
    yield runtime
    await runtime.db.dispose()


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The whole service, in process, with its lifespan run (no background worker)."""
    app = create_app(settings, worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://omnigift.test") as c:
            c.app = app  # type: ignore[attr-defined]
            yield c


async def make_key(
    client: httpx.AsyncClient, *scopes: str, channel: str = "api", location: str | None = None
) -> dict[str, str]:
    """A new API key with these scopes; returns the Authorization header for it."""
    runtime: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.db.transaction() as conn:
        _, secret = await create_key(
            conn,
            f"test {' '.join(scopes)}",
            list(scopes),
            utcnow(),
            channel=channel,
            location_id=location,
        )
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
async def admin(app_client: httpx.AsyncClient) -> dict[str, str]:
    return await make_key(app_client, "admin")


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every function sent to an aiosqlite thread, by name."""
    sent: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return sent
