"""A real webhook receiver on loopback: verifies Standard Webhooks signatures, records arrivals.

It can be told to fail (answer 500) or to be slow, to test retries and crashes.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Receiver:
    secrets: list[str] = field(default_factory=list)
    arrivals: list[dict[str, Any]] = field(default_factory=list)  # verified events, in order
    attempts: int = 0
    rejected: int = 0  # signature did not verify
    fail_with: int | None = None  # answer this status instead of 200
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.attempts += 1
                    status = receiver.fail_with
                if receiver.delay:
                    time.sleep(receiver.delay)
                if status is None:
                    status = receiver.accept(body, headers)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def accept(self, body: bytes, headers: dict[str, str]) -> int:
        for secret in self.secrets:
            try:
                event = Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            with self.lock:
                self.arrivals.append(event)
            return 200
        with self.lock:
            self.rejected += 1
        return 401

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    def ids(self) -> list[str]:
        with self.lock:
            return [event["id"] for event in self.arrivals]

    def by_card(self) -> dict[str, list[int]]:
        """The sequences that arrived for each card, in arrival order."""
        seen: dict[str, list[int]] = {}
        with self.lock:
            for event in self.arrivals:
                card = (event["data"].get("gift_card") or {}).get("id") or (
                    event["data"].get("hold") or {}
                ).get("gift_card_id")
                if card:
                    seen.setdefault(card, []).append(event["sequence"])
        return seen


def wait_until(condition: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())
