"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives: the `mailbox` fixture
(imported by the conftest of the tests that send e-mail)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from omnigift.clock import utcnow
from omnigift.config import Settings
from omnigift.mail.sending import MailSettings, send_due
from omnigift.runtime import Runtime
from tests.support.stack import free_port


@dataclass
class Mailbox:
    port: int
    received: list[EmailMessage] = field(default_factory=list)
    refuse_next: int = 0  # answer this many messages with a permanent error

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse_next > 0:
            self.refuse_next -= 1
            return "550 mailbox unavailable"
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    yield box
    controller.stop()


def mailing(settings: Settings, mailbox: Mailbox, **more: Any) -> Settings:
    """The test's settings, sending e-mail to ``mailbox`` (brand: Natori, seed 001)."""
    return settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": mailbox.port,
            "email_interval_seconds": 0.05,
            "brand_name": "Natori",
            **more,
        }
    )


async def send_queued(runtime: Runtime, settings: Settings, mailbox: Mailbox) -> int:
    """Send every e-mail due now to ``mailbox``, as the worker would; how many were tried."""
    mail = MailSettings.from_settings(mailing(settings, mailbox))
    return await send_due(runtime.db, runtime.policy.vault, mail, utcnow())
