"""Ids: ULIDs with a type prefix, sorted by creation, written as ULIDs are."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from ulid import ULID

from omnigift.ids import new_id, ulid_text


@given(st.integers(min_value=0, max_value=(1 << 128) - 1))
def test_an_id_is_written_as_the_ulid_library_writes_it(value):
    assert ulid_text(value) == str(ULID.from_int(value))


def test_ids_made_in_a_row_sort_in_the_order_they_were_made():
    made = [new_id("act") for _ in range(2_000)]  # many within one millisecond
    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert all(len(i) == len("act_") + 26 for i in made)


def test_an_id_carries_the_time_it_was_made():
    import time

    before = int(time.time() * 1000)
    made = ULID.from_str(new_id("gc").removeprefix("gc_"))
    assert before - 1 <= made.milliseconds <= int(time.time() * 1000) + 1
