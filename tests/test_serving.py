"""The server process tunes its garbage collector once started."""

from __future__ import annotations

import gc

from omnigift.serving import GC_THRESHOLDS, settle_heap


def test_settling_the_heap_freezes_what_start_up_built_and_collects_young_objects_less_often():
    before = gc.get_threshold()
    try:
        settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
