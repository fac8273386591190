"""Store credit keeps the ledger's invariants under random operations: credits of every lot
kind, spends, holds, captures, voids and merges of customers, audited after every step."""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from omnigift.config import Settings
from omnigift.customers.merging import merge_customers
from omnigift.customers.profiles import CustomerFields, create_customer
from omnigift.customers.store_credit import credit_or_debit, wallet_id
from omnigift.ledger import holds
from omnigift.ledger.activities import ActivityRequest
from omnigift.ledger.cards import ActivityType as A
from omnigift.ledger.errors import LedgerError
from omnigift.ledger.issuing import LotSpec
from omnigift.ledger.lots import LotKind
from omnigift.ledger.origin import Origin
from omnigift.runtime import Runtime
from tests.conftest import SECRET
from tests.support.audit import check_ledger, read_all

ORIGIN = Origin()
PEOPLE = 3
OPERATIONS = st.tuples(
    st.sampled_from(["load", "refund", "bonus", "redeem", "decrement", "hold", "capture", "void"]),
    st.integers(0, PEOPLE - 1),
    st.integers(1, 3000),
) | st.tuples(st.just("merge"), st.integers(0, PEOPLE - 1), st.integers(0, PEOPLE - 1))


class Books:
    """Customers with store credit on one runtime, driven step by step and audited."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.customers: list[str] = []
        self.holds: list[str] = []
        self.now = datetime.now(UTC)

    async def start(self) -> None:
        async with self.runtime.db.transaction() as conn:
            for n in range(PEOPLE):
                made = await create_customer(conn, CustomerFields(name=f"shopper {n}"), self.now)
                self.customers.append(made["id"])

    async def step(self, kind: str, who: int, amount: int) -> None:
        try:
            async with self.runtime.db.transaction() as conn:
                await self._apply(conn, kind, who, amount)
        except LedgerError:
            pass  # refused (nothing to spend, a merge refused ...): nothing was written
        async with self.runtime.db.read() as conn:
            check_ledger(await read_all(conn))

    async def _apply(self, conn: Any, kind: str, who: int, amount: int) -> None:
        customer = self.customers[who]
        policy, now = self.runtime.policy, self.now
        if kind == "merge":
            other = self.customers[amount]  # "amount" is the other customer here
            await merge_customers(conn, customer, other, policy, ORIGIN, now)
            return
        if kind in ("hold", "capture", "void"):
            await self._hold(conn, kind, customer, amount)
            return
        request = {
            "load": ActivityRequest(A.LOAD, amount, "USD"),
            "refund": ActivityRequest(A.REFUND, amount, "USD"),
            "bonus": ActivityRequest(
                A.ADJUST_INCREMENT,
                amount,
                "USD",
                reason="bonus",
                lot=LotSpec(LotKind.PROMOTIONAL, now + timedelta(days=30)),
            ),
            "redeem": ActivityRequest(A.REDEEM, amount, "USD"),
            "decrement": ActivityRequest(A.ADJUST_DECREMENT, amount, "USD", reason="audit"),
        }[kind]
        await credit_or_debit(conn, customer, "USD", request, policy, ORIGIN, now)

    async def _hold(self, conn: Any, kind: str, customer: str, amount: int) -> None:
        policy, now = self.runtime.policy, self.now
        if kind == "hold":
            wallet = await wallet_id(conn, customer, "USD")
            if wallet:
                placed = await holds.place_hold(conn, wallet, amount, "USD", policy, ORIGIN, now)
                self.holds.append(placed["id"])
        elif self.holds:
            hold = self.holds[amount % len(self.holds)]
            if kind == "capture":
                await holds.capture_hold(conn, hold, None, ORIGIN, now)
            else:
                await holds.void_hold(conn, hold, now)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(OPERATIONS, min_size=1, max_size=25))
def test_store_credit_keeps_every_invariant_after_every_step(
    sqlite_template: Path, tmp_path: Path, operations: list[tuple[str, int, int]]
) -> None:
    directory = Path(tempfile.mkdtemp(dir=tmp_path))
    shutil.copy(sqlite_template, directory / "ledger.sqlite")
    settings_ = Settings(
        database_url=f"sqlite+aiosqlite:///{directory / 'ledger.sqlite'}",
        data_dir=directory,
        secret_key=SECRET,
    )

    async def run() -> None:
        runtime = Runtime.from_settings(settings_)
        books = Books(runtime)
        try:
            await books.start()
            for operation in operations:
                await books.step(*operation)
        finally:
            await runtime.db.dispose()

    asyncio.run(run())
    shutil.rmtree(directory, ignore_errors=True)


async def test_a_seeded_random_run_keeps_every_invariant_on_every_engine(runtime: Runtime) -> None:
    books = Books(runtime)
    await books.start()
    rng = random.Random(20261202)
    kinds = ["load", "refund", "bonus", "redeem", "redeem", "decrement", "hold", "capture", "void"]
    for _ in range(60):
        if rng.random() < 0.05:
            await books.step("merge", rng.randrange(PEOPLE), rng.randrange(PEOPLE))
        else:
            await books.step(rng.choice(kinds), rng.randrange(PEOPLE), rng.randint(1, 3000))
