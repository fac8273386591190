"""Structured logs (JSON in production) carrying the request id. Secrets are never logged."""

from __future__ import annotations

import logging

import structlog


def configure(*, json: bool, level: str = "INFO") -> None:
    """Set up structlog and route the standard library's logs through the same level."""
    logging.basicConfig(level=level, format="%(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )
