"""The folder of mail the dev sink caught: one `.eml` file per message, newest last by name."""

from __future__ import annotations

import email
import email.policy
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Final

# A code stands on a line of its own in the code mails (templates/mail/*_code.txt).
_CODE: Final = re.compile(r"^[ \t]*(\d{6})[ \t]*$", re.MULTILINE)
_LINK: Final = re.compile(r"https?://\S+/auth/invitations/\S+")
_ID: Final = re.compile(r"^[0-9]{8}T[0-9]{12}-[0-9]+$")


@dataclass(frozen=True, slots=True)
class CaughtMail:
    """One caught message, parsed for display."""

    id: str
    to: str
    subject: str
    date: str
    code: str | None
    link: str | None
    text: str
    html: str | None


def _part(message: EmailMessage, subtype: str) -> str | None:
    body = message.get_body(preferencelist=(subtype,))
    if body is None or body.get_content_type() != f"text/{subtype}":
        return None
    content = body.get_content()
    return content.replace("\r\n", "\n") if isinstance(content, str) else None


def parse(mail_id: str, raw: bytes, recipients: Sequence[str] = ()) -> CaughtMail:
    """Parse a stored message."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # noqa: S101 - the default policy's class
    text = _part(message, "plain") or ""
    code = _CODE.search(text)
    link = _LINK.search(text)
    return CaughtMail(
        id=mail_id,
        to=str(message["To"] or ", ".join(recipients)),
        subject=str(message["Subject"] or "(no subject)"),
        date=str(message["Date"] or ""),
        code=code.group(1) if code else None,
        link=link.group(0) if link else None,
        text=text,
        html=_part(message, "html"),
    )


def summary_line(mail: CaughtMail) -> str:
    """Return the line the sink prints for a caught mail."""
    line = f"mail to {mail.to}: {mail.subject!r}"
    if mail.code:
        line += f" - code {mail.code}"
    if mail.link:
        line += f" - link {mail.link}"
    return line


class MailFolder:
    """Store and read caught messages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._numbers = itertools.count(1)

    def create(self) -> None:
        """Make the folder (and its parents) if missing."""
        self.path.mkdir(parents=True, exist_ok=True)

    def store(self, raw: bytes, recipients: Sequence[str]) -> CaughtMail:
        """Write a message; return it parsed."""
        mail_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S%f}-{next(self._numbers)}"
        temporary = self.path / f".{mail_id}.tmp"
        temporary.write_bytes(raw)
        temporary.rename(self.path / f"{mail_id}.eml")
        return parse(mail_id, raw, recipients)

    def all(self) -> list[CaughtMail]:
        """Return every caught message, newest first."""
        if not self.path.is_dir():
            return []
        files = sorted(self.path.glob("*.eml"), reverse=True)
        return [parse(path.stem, path.read_bytes()) for path in files]

    def get(self, mail_id: str) -> CaughtMail | None:
        """Return one message by id, or None (ids that are not ours never reach the disk)."""
        if not _ID.match(mail_id):
            return None
        path = self.path / f"{mail_id}.eml"
        if not path.is_file():
            return None
        return parse(mail_id, path.read_bytes())
