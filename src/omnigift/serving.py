"""App factories for uvicorn (it imports the app by name in each server process)."""

from __future__ import annotations

from fastapi import FastAPI

from omnigift.app import create_app
from omnigift.config import Settings
from omnigift.logs import configure


def app_with_worker() -> FastAPI:
    settings = Settings()
    configure(json=settings.log_json, level=settings.log_level)
    return create_app(settings, worker=True)


def app_without_worker() -> FastAPI:
    settings = Settings()
    configure(json=settings.log_json, level=settings.log_level)
    return create_app(settings, worker=False)
