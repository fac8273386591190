"""E-mail tests receive on a real SMTP server."""

from tests.support.smtp import mailbox

__all__ = ["mailbox"]
