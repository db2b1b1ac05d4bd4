"""Input rules for emails, passwords and derived usernames (upstream contract §6)."""

import re
import secrets
from typing import Final

from authara_core.platform.errors import InvalidEmail, InvalidPassword

EMAIL_MAX: Final = 254
PASSWORD_MIN: Final = 8
PASSWORD_MAX: Final = 128
USERNAME_BASE_MAX: Final = 24
USER_AGENT_MAX: Final = 255

# Used with fullmatch: `$` would also match before a final newline ("admin\n@example.com").
_LOCAL: Final = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_DOMAIN_LABEL: Final = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_NOT_WORD: Final = re.compile(r"[^A-Za-z0-9_]+")


def normalize_email(raw: str) -> str:
    """Trim and lowercase, as every upstream writer and lookup does."""
    return raw.strip().lower()


def validate_email(raw: str) -> str:
    """Return the normalized address or raise InvalidEmail."""
    email = normalize_email(raw)
    local, sep, domain = email.rpartition("@")
    if (
        not sep
        or len(email) > EMAIL_MAX
        or len(local) > 64
        or not _LOCAL.fullmatch(local)
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in domain.split("."))
    ):
        raise InvalidEmail
    return email


def clean_user_agent(raw: str) -> str:
    """Return a User-Agent fit for the sessions table: valid text, no NUL, 255 characters.

    aiohttp keeps undecodable header bytes as lone surrogates, which PostgreSQL refuses;
    the header is informational, so it is repaired rather than refused.
    """
    text = raw.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
    return text[:USER_AGENT_MAX]


def validate_password(password: str) -> None:
    """Require 8 to 128 characters counted as code points; no composition rules."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidPassword


def derive_username(email: str) -> str:
    """Build `local-part-12345` from an email, the way upstream derives usernames."""
    base = _NOT_WORD.sub("-", email.partition("@")[0]).strip("-_")
    base = base[:USERNAME_BASE_MAX].strip("-_").lower() or "user"
    return f"{base}-{10000 + secrets.randbelow(90000)}"
