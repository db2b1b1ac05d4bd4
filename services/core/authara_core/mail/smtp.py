"""Send a message through an SMTP server with aiosmtplib: STARTTLS, AUTH, one deadline.

With AUTHARA_EMAIL_SMTP_TLS=true (the default) the session must be upgraded with STARTTLS
before anything else is said: a server that does not offer it is refused (no fallback to
plain text), and the certificate is verified (system CAs, or AUTHARA_EMAIL_SMTP_CA_FILE)
with TLS 1.2 at least. AUTH (PLAIN when the server offers it) follows when a username and a
password are set. The whole exchange, from connecting to QUIT, has one deadline.
"""

from __future__ import annotations

import asyncio
import ssl
from email.message import EmailMessage
from typing import Final

import aiosmtplib

from authara_core.mail.config import SmtpSettings

_MAX_REPLY: Final = 200


class SendFailed(Exception):
    """A send that did not go through; the message is short and holds no secret."""


class SmtpSender:
    """Deliver messages to one SMTP server, a new connection per message."""

    def __init__(self, settings: SmtpSettings, *, timeout_s: float) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
        self._tls_context: ssl.SSLContext | None = None

    def _context(self) -> ssl.SSLContext:
        if self._tls_context is None:
            context = ssl.create_default_context(cafile=self._settings.ca_file)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            self._tls_context = context
        return self._tls_context

    async def send(self, message: EmailMessage) -> None:
        """Deliver `message` or raise SendFailed saying why."""
        try:
            async with asyncio.timeout(self._timeout_s):
                await self._send(message)
        except TimeoutError:
            raise SendFailed(
                f"no answer from the SMTP server within {self._timeout_s:g}s"
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            reply = " ".join(exc.message.split())[:_MAX_REPLY]
            raise SendFailed(f"SMTP server answered {exc.code}: {reply}") from None
        except aiosmtplib.SMTPConnectError as exc:
            cause = exc.__cause__
            reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else None
            raise SendFailed(
                f"cannot reach the SMTP server: {reason or 'connection failed'}"
            ) from None
        except aiosmtplib.SMTPServerDisconnected:
            raise SendFailed("the SMTP server closed the connection") from None
        except aiosmtplib.SMTPException as exc:
            raise SendFailed(f"SMTP error: {type(exc).__name__}: {str(exc)[:_MAX_REPLY]}") from None
        except ssl.SSLError as exc:
            raise SendFailed(f"TLS failed: {exc.reason or type(exc).__name__}") from None
        except OSError as exc:
            raise SendFailed(f"cannot reach the SMTP server: {exc.strerror or exc}") from None

    async def _send(self, message: EmailMessage) -> None:
        settings = self._settings
        client = aiosmtplib.SMTP(
            hostname=settings.host,
            port=settings.port,
            timeout=self._timeout_s,
            use_tls=False,
            start_tls=False,  # upgraded below, refusing servers that cannot
            tls_context=self._context() if settings.tls else None,
        )
        await client.connect()
        try:
            await client.ehlo()
            if settings.tls:
                if not client.supports_extension("starttls"):
                    raise SendFailed("the SMTP server does not offer STARTTLS (TLS is required)")
                await client.starttls(tls_context=self._context())
                await client.ehlo()
            if settings.authenticates:
                await self._login(client)
            await client.send_message(message)
            await client.quit()
        finally:
            client.close()

    async def _login(self, client: aiosmtplib.SMTP) -> None:
        username, password = self._settings.username or "", self._settings.password or ""
        if "plain" in client.supported_auth_methods:
            await client.auth_plain(username, password)
        else:
            await client.login(username, password)
