"""The email outbox: a mail to send is a row written in the transaction of the change needing it.

A domain that needs a mail (a challenge's code, an invitation) calls `enqueue_in` with its own
connection, so the mail exists exactly when the change commits. Workers (mail/worker.py) claim
due rows and send them. A row holds no secret: a challenge's code is made by the challenge's
composer (see `Composer`) in the transaction that claims the job, just before sending.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from authara_core.platform.db import Connection


class MailTemplate(StrEnum):
    """The mails core sends (upstream's template names; subjects in mail/messages.py)."""

    SIGNUP_CODE = "signup_code"
    PASSWORD_RESET_CODE = "password_reset_code"  # noqa: S105 (a template name)
    EMAIL_CHANGE_CODE = "email_change_code"
    ORGANIZATION_INVITATION = "organization_invitation"
    PASSWORD_RESET_REQUEST = "password_reset_request"  # noqa: S105 (ours: an admin asks a reset)


@dataclass(frozen=True, slots=True)
class EmailJob:
    """A claimed `email_jobs` row, as a composer sees it."""

    id: uuid.UUID
    template: MailTemplate
    to_email: str
    template_data: dict[str, Any]
    challenge_id: uuid.UUID | None
    attempt_count: int


class Composer(Protocol):
    """Fills in a mail's template context at send time, in the claiming transaction.

    Returns the context for the template (merged over `template_data`), or None when the mail
    must not go out any more (its challenge was consumed or expired): the job is then dropped.
    """

    async def __call__(
        self, conn: Connection, job: EmailJob, now: datetime
    ) -> Mapping[str, Any] | None:
        """Return the template context for `job`, or None to drop it."""
        ...


async def enqueue_in(
    conn: Connection,
    *,
    template: MailTemplate,
    to: str,
    data: Mapping[str, Any],
    now: datetime,
    challenge_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Queue a mail inside the caller's transaction; due at once."""
    job_id: uuid.UUID = await conn.fetchval(
        """
        INSERT INTO email_jobs (challenge_id, to_email, template, template_data,
            created_at, updated_at, next_attempt_at)
        VALUES ($1, $2, $3, $4::jsonb, $5, $5, $5) RETURNING id
        """,
        challenge_id,
        to,
        template.value,
        json.dumps(dict(data), separators=(",", ":")),
        now,
    )
    return job_id


async def delete_mail_to_in(conn: Connection, email: str) -> int:
    """Delete every queued or kept mail to an address (a deleted account's), in the caller's tx."""
    status: str = await conn.execute(
        "DELETE FROM email_jobs WHERE lower(to_email) = lower($1)", email
    )
    return int(status.rsplit(" ", 1)[-1])
