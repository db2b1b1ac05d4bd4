"""Mails as MIME messages: text and HTML from Jinja2 templates, headers by the `email` package.

Each template has a text and an HTML version in templates/mail/ (`<name>.txt`, `<name>.html`);
the message is multipart/alternative with both. Subjects are upstream's. Headers are built
by `email.message.EmailMessage` under the SMTP policy, which refuses a CR or LF in any header
value: an address or organization name cannot add a header.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from typing import Any, Final

import jinja2

from authara_core.mail.outbox import MailTemplate

SUBJECTS: Final[Mapping[MailTemplate, str]] = {
    MailTemplate.SIGNUP_CODE: "Your verification code",
    MailTemplate.PASSWORD_RESET_CODE: "Your password reset code",
    MailTemplate.EMAIL_CHANGE_CODE: "Verify your new email address",
    MailTemplate.ORGANIZATION_INVITATION: "You're invited to {organization_name}",
    MailTemplate.PASSWORD_RESET_REQUEST: "Please reset your password",
}
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]+")
_MAX_SUBJECT: Final = 200


class MessageError(ValueError):
    """A mail that can never be built (a missing template value, a header with CR/LF)."""


def _when(value: object) -> str:
    """Format an RFC 3339 time (or a datetime) for a reader: `10 December 2026, 17:40 UTC`."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC).strftime("%-d %B %Y, %H:%M UTC")


def subject_for(template: MailTemplate, context: Mapping[str, Any]) -> str:
    """Return the Subject: upstream's text, with control characters of values made spaces."""
    subject = SUBJECTS[template]
    if template is MailTemplate.ORGANIZATION_INVITATION:
        name = _CONTROL.sub(" ", str(context["organization_name"])).strip()
        subject = subject.format(organization_name=name)
    return subject[:_MAX_SUBJECT]


def _check_recipient(message: EmailMessage) -> None:
    header = message["To"]
    if header.defects or len(header.addresses) != 1 or not header.addresses[0].domain:
        raise ValueError("To must be one address")


def with_display_name(sender: str, name: str | None) -> str | Address:
    """Return the From: `sender`, named `name` when it has no display name of its own."""
    if not name or not sender:
        return sender
    addresses = HeaderRegistry()("From", sender).addresses  # type: ignore[attr-defined]
    if len(addresses) != 1 or addresses[0].display_name:
        return sender
    address = addresses[0]
    return Address(display_name=name, username=address.username, domain=address.domain)


class MessageBuilder:
    """Render a template's two versions and wrap them in a message from AUTHARA_EMAIL_FROM.

    `display_name` (AUTHARA_APP_NAME) names a sender address that has no display name.
    """

    def __init__(self, sender: str, *, display_name: str | None = None) -> None:
        self._sender = with_display_name(sender, display_name)
        self._env = jinja2.Environment(
            loader=jinja2.PackageLoader("authara_core", "templates/mail"),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )
        self._env.filters["when"] = _when
        _, _, domain = sender.rpartition("@")
        self._domain = domain.rstrip(">").strip() or "authara.invalid"

    def build(
        self, template: MailTemplate, to: str, context: Mapping[str, Any], now: datetime
    ) -> EmailMessage:
        """Return the message; raise MessageError when it cannot be built."""
        try:
            subject = subject_for(template, context)
            text = self._env.get_template(f"{template.value}.txt").render(context)
            html = self._env.get_template(f"{template.value}.html").render(context, subject=subject)
            message = EmailMessage(policy=SMTP)
            message["From"] = self._sender
            message["To"] = to
            _check_recipient(message)
            message["Subject"] = subject
            message["Date"] = format_datetime(now.astimezone(UTC), usegmt=True)
            message["Message-ID"] = make_msgid(domain=self._domain)
            message.set_content(text)
            message.add_alternative(html, subtype="html")
        except (jinja2.TemplateError, KeyError, ValueError, TypeError) as exc:
            raise MessageError(f"{template.value}: {type(exc).__name__}") from exc
        return message
