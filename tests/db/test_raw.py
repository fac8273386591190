"""PostgreSQL: statements compiled once by SQLAlchemy and run straight through asyncpg."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from omnigift.db import raw
from omnigift.db.tables import counters

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)

_INSERT = raw.RawStatement(
    counters.insert()
    .values(name=bindparam("b_name"), value=bindparam("b_value"))
    .returning(counters.c.value)
)
# ``> 0`` is a literal the statement binds itself; only the name is given.
_FIND = raw.RawStatement(
    select(counters.c.value).where(counters.c.name == bindparam("b_name"), counters.c.value > 0)
)


async def test_a_statement_runs_with_its_own_literals_and_the_given_parameters(runtime):
    async with runtime.db.autocommit() as conn:
        inserted = await raw.fetchrow(conn, _INSERT, {"b_name": "n", "b_value": 7})
        found = await raw.fetchrow(conn, _FIND, {"b_name": "n"})
        missing = await raw.fetchrow(conn, _FIND, {"b_name": "other"})

    assert inserted is not None and inserted["value"] == 7
    assert found is not None and found["value"] == 7
    assert missing is None


async def test_a_constraint_violation_is_sqlalchemys_integrity_error(runtime):
    async with runtime.db.autocommit() as conn:
        await raw.fetchrow(conn, _INSERT, {"b_name": "n", "b_value": 1})
        with pytest.raises(IntegrityError, match="pk_counters"):
            await raw.fetchrow(conn, _INSERT, {"b_name": "n", "b_value": 2})
        still = await raw.fetchrow(conn, _FIND, {"b_name": "n"})

    assert still is not None and still["value"] == 1
