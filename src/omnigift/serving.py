"""App factories for uvicorn (it imports the app by name in each server process)."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from omnigift.app import create_app
from omnigift.config import Settings
from omnigift.logs import configure

# Young collections once 20,000 objects are new, not 700: a redeem allocates thousands.
GC_THRESHOLDS = (20_000, 50, 100)


def app_with_worker() -> FastAPI:
    settings = Settings()
    configure(json=settings.log_json, level=settings.log_level)
    app = create_app(settings, worker=True)
    settle_heap()
    return app


def app_without_worker() -> FastAPI:
    settings = Settings()
    configure(json=settings.log_json, level=settings.log_level)
    app = create_app(settings, worker=False)
    settle_heap()
    return app


def settle_heap() -> None:
    """Tune the garbage collector for a long-running process, once it has started.

    What start-up built (modules, the app, SQLAlchemy's metadata) lives as long as the process:
    frozen, the collector stops walking it on every full collection, which on the redeem path
    stalled requests for tens of milliseconds (p99 at 16 clients 72 ms before, 27 ms after;
    docs/benchmarks.md). Not for tests, which build many apps in one process.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
