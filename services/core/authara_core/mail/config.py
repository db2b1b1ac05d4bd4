"""Email delivery settings (the AUTHARA_EMAIL_* variables), read and checked before start-up."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from email.errors import HeaderParseError
from email.headerregistry import HeaderRegistry
from enum import StrEnum
from typing import Final

from authara_contract.env import EnvReader

MAX_WORKERS: Final = 64
# A claim older than this many send timeouts belongs to a worker that died mid-send.
STALE_TIMEOUTS: Final = 3


class EmailProvider(StrEnum):
    """How queued mail leaves: logged only (noop), or through an SMTP server."""

    NOOP = "noop"
    SMTP = "smtp"


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to reach the SMTP server."""

    host: str
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # a secret: kept out of logs
    tls: bool = True
    ca_file: str | None = None

    @property
    def authenticates(self) -> bool:
        """Tell whether a send logs in (both username and password set)."""
        return bool(self.username and self.password)


@dataclass(frozen=True, slots=True)
class MailSettings:
    """The outbox workers, the sender and the retention of finished jobs."""

    provider: EmailProvider = EmailProvider.NOOP
    sender: str = ""  # AUTHARA_EMAIL_FROM
    smtp: SmtpSettings | None = None
    timeout: timedelta = timedelta(seconds=10)
    worker_count: int = 2
    poll_interval: timedelta = timedelta(seconds=2)
    max_attempts: int = 10
    cleanup_sent_after: timedelta = timedelta(hours=720)
    cleanup_failed_after: timedelta = timedelta(hours=2160)

    @property
    def stale_after(self) -> timedelta:
        """How long a claim may last before the job is taken back (its worker died)."""
        return self.timeout * STALE_TIMEOUTS


def valid_sender(value: str) -> bool:
    """Tell whether `value` is one RFC 5322 address (`Name <a@b>` or `a@b`), no CR/LF."""
    if not value or any(ch in value for ch in "\r\n\0"):
        return False
    try:
        header = HeaderRegistry()("From", value)
    except (HeaderParseError, IndexError, ValueError):
        return False
    addresses = header.addresses  # type: ignore[attr-defined]
    if header.defects or len(addresses) != 1:
        return False
    return bool(addresses[0].username and addresses[0].domain)


def read_mail_settings(reader: EnvReader, *, prod: bool) -> MailSettings:
    """Read the AUTHARA_EMAIL_* variables; record every problem with `reader`."""
    provider = EmailProvider(
        reader.choice("AUTHARA_EMAIL_PROVIDER", [p.value for p in EmailProvider])
    )
    smtp = provider is EmailProvider.SMTP
    raw_sender = reader.raw("AUTHARA_EMAIL_FROM") or ""
    sender = raw_sender.strip()
    if "\r" in raw_sender or "\n" in raw_sender:
        reader.fail("AUTHARA_EMAIL_FROM", "must not contain a line break")
    elif sender and not valid_sender(sender):
        reader.fail("AUTHARA_EMAIL_FROM", "must be one address such as Name <no-reply@example.com>")
    elif smtp and not sender:
        reader.fail("AUTHARA_EMAIL_FROM", "is required when AUTHARA_EMAIL_PROVIDER=smtp")
    smtp_settings = _smtp_settings(reader, required=smtp, prod=prod)
    return MailSettings(
        provider=provider,
        sender=sender,
        smtp=smtp_settings if smtp else None,
        timeout=reader.positive_duration("AUTHARA_EMAIL_SMTP_TIMEOUT"),
        worker_count=reader.integer("AUTHARA_EMAIL_WORKER_COUNT", minimum=1, maximum=MAX_WORKERS),
        poll_interval=reader.positive_duration("AUTHARA_EMAIL_WORKER_POLL_INTERVAL"),
        max_attempts=reader.integer("AUTHARA_EMAIL_JOB_MAX_ATTEMPTS", minimum=1),
        cleanup_sent_after=reader.positive_duration("AUTHARA_EMAIL_CLEANUP_SENT_AFTER"),
        cleanup_failed_after=reader.positive_duration("AUTHARA_EMAIL_CLEANUP_FAILED_AFTER"),
    )


def _smtp_settings(reader: EnvReader, *, required: bool, prod: bool) -> SmtpSettings:
    host = reader.optional("AUTHARA_EMAIL_SMTP_HOST") or ""
    if required and not host:
        reader.fail("AUTHARA_EMAIL_SMTP_HOST", "is required when AUTHARA_EMAIL_PROVIDER=smtp")
    username = reader.optional("AUTHARA_EMAIL_SMTP_USERNAME")
    password = reader.raw("AUTHARA_EMAIL_SMTP_PASSWORD") or None
    if bool(username) != bool(password):
        reader.fail(
            "AUTHARA_EMAIL_SMTP_USERNAME",
            "and AUTHARA_EMAIL_SMTP_PASSWORD must be set together (or neither)",
        )
    tls = reader.boolean("AUTHARA_EMAIL_SMTP_TLS")
    if required and prod and not tls:
        reader.fail("AUTHARA_EMAIL_SMTP_TLS", "must be true with smtp when APP_ENV=prod")
    ca_file = reader.optional("AUTHARA_EMAIL_SMTP_CA_FILE")
    if ca_file and not os.access(ca_file, os.R_OK):
        reader.fail("AUTHARA_EMAIL_SMTP_CA_FILE", f"cannot read {ca_file!r}")
    return SmtpSettings(
        host=host,
        port=reader.integer("AUTHARA_EMAIL_SMTP_PORT", minimum=1, maximum=65535),
        username=username,
        password=password,
        tls=tls,
        ca_file=ca_file,
    )
