"""Shared by the email challenge tests: deliver queued challenge mails the way the worker will.

The mail worker claims pending `email_jobs` rows and runs the template's composer in the
claiming transaction just before sending; `deliver` does exactly that on a real connection
(the composers the app wires for the worker, not a stand-in) and returns each mail's
context, so a test reads the code the user would find in their inbox.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from authara_core.mail.outbox import Composer, EmailJob, MailTemplate

PASSWORD: Final = "correct horse battery"
NEW_PASSWORD: Final = "a much better passphrase"
CHALLENGE_ON: Final = {"AUTHARA_CHALLENGE_ENABLED": "true"}
CHALLENGE_ID = re.compile(r'name="challenge_id" value="([0-9a-f-]{36})"')
UUID_TEXT = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True)
class Delivered:
    """A challenge mail as it would go out."""

    to: str
    template: MailTemplate
    challenge_id: uuid.UUID
    code: str
    expires_in_minutes: int


async def deliver(
    conn: asyncpg.Connection,
    composers: Mapping[MailTemplate, Composer],
    now: datetime,
) -> list[Delivered]:
    """Claim every pending challenge mail, compose it in the claiming transaction, mark it sent.

    This is the mail worker's claim-and-compose step run by the test, so that the code the
    real composer makes can be read; the apps of these tests run no workers (`send_mail=False`)
    that could take the job first. Other mails (an invitation's) stay queued.
    """
    sent: list[Delivered] = []
    async with conn.transaction():
        rows = await conn.fetch(
            """
            SELECT id, template, to_email, template_data, challenge_id, attempt_count
            FROM email_jobs WHERE status = 'pending' AND challenge_id IS NOT NULL
            ORDER BY created_at, id
            FOR UPDATE SKIP LOCKED
            """
        )
        for row in rows:
            template = MailTemplate(row["template"])
            data = row["template_data"]
            job = EmailJob(
                id=row["id"],
                template=template,
                to_email=row["to_email"],
                template_data=json.loads(data) if isinstance(data, str) else dict(data),
                challenge_id=row["challenge_id"],
                attempt_count=row["attempt_count"],
            )
            context = await composers[template](conn, job, now)
            status = "sent" if context is not None else "failed"
            await conn.execute(
                "UPDATE email_jobs SET status = $2, sent_at = $3, updated_at = $3 WHERE id = $1",
                row["id"],
                status,
                now,
            )
            if context is not None:
                assert set(context) == {"code", "expires_in_minutes"}
                assert row["challenge_id"] is not None
                sent.append(
                    Delivered(
                        to=row["to_email"],
                        template=template,
                        challenge_id=row["challenge_id"],
                        code=context["code"],
                        expires_in_minutes=context["expires_in_minutes"],
                    )
                )
    return sent


async def code_for(
    conn: asyncpg.Connection,
    composers: Mapping[MailTemplate, Composer],
    now: datetime,
    challenge_id: uuid.UUID | str,
) -> str:
    """Deliver the pending mails and return the (last) code sent for one challenge."""
    wanted = uuid.UUID(str(challenge_id))
    codes = [
        mail.code for mail in await deliver(conn, composers, now) if mail.challenge_id == wanted
    ]
    assert codes, "no code was sent for the challenge"
    return codes[-1]


async def jobs(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Return every queued or sent mail (recipient, template, challenge) in creation order."""
    rows = await conn.fetch(
        "SELECT to_email, template, challenge_id, status FROM email_jobs ORDER BY created_at, id"
    )
    return [dict(row) for row in rows]


def wrong(code: str) -> str:
    """Return a well-formed code that is not `code`."""
    return f"{(int(code) + 1) % 1_000_000:06d}"
