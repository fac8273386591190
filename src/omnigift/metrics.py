"""Prometheus metrics served at ``/metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "omnigift_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "omnigift_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ACTIVITIES = Counter("omnigift_activities_total", "Activities recorded", ["type"])
EXPIRED = Counter("omnigift_expiry_total", "Cards, lots and holds ended by expiry", ["what"])
REDEEM_WAYS = Counter(
    "omnigift_redeem_way_total",
    "Redeems by the way they were written: short (read, then a write guarded by the card's "
    "version) or locked (the card moved in between, or the redeem needed the lock)",
    ["way"],
)
WRITES_TOGETHER = Histogram(
    "omnigift_card_writes_together",
    "Redeems of one card written together by the short way, per write sent (one commit each)",
    buckets=(1, 2, 4, 8, 16, 32),
)
GROUPS_PER_COMMIT = Histogram(
    "omnigift_sqlite_groups_per_commit",
    "SQLite: cards' writes sent in one trip and one commit by the group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
