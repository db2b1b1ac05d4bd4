"""Where a built message goes: an SMTP server, or only the log (AUTHARA_EMAIL_PROVIDER=noop)."""

from __future__ import annotations

import logging
from email.message import EmailMessage
from typing import Protocol

from authara_core.mail.config import EmailProvider, MailSettings
from authara_core.mail.smtp import SmtpSender

_LOGGER = logging.getLogger(__name__)


class Sender(Protocol):
    """Delivers one message; raises mail.smtp.SendFailed when it could not."""

    async def send(self, message: EmailMessage) -> None:
        """Deliver `message`."""
        ...


class NoopSender:
    """Send nothing: log the recipient and subject only (never the body, which holds codes)."""

    async def send(self, message: EmailMessage) -> None:
        """Log that `message` would have been sent."""
        _LOGGER.info(
            "email not sent (AUTHARA_EMAIL_PROVIDER=noop): %r to %s",
            message["Subject"],
            message["To"],
        )


def sender_for(settings: MailSettings) -> Sender:
    """Return the sender the settings choose."""
    if settings.provider is EmailProvider.SMTP and settings.smtp is not None:
        return SmtpSender(settings.smtp, timeout_s=settings.timeout.total_seconds())
    return NoopSender()
