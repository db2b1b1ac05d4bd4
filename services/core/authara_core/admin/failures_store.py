"""SQL of the Failures page: failed email jobs and webhook events, and putting one back.

The admin console's own queries on the two outbox tables (mail/store.py and webhooks/store.py
belong to their workers). A retry follows the workers' queue rules (platform/jobs.py): the row
goes from `failed` to `pending`, due now, with no claim (`processing_started_at` NULL) and a
fresh round of attempts (`attempt_count` 0: a worker fails a claim past the maximum at once).
Only a `failed` row changes, locked first, so of two concurrent retries exactly one wins.

A failed mail can be sent again only if it can still be built: the worker clears a failed
job's `template_data`, so only a challenge's mail (rebuilt from its challenge at send time:
a fresh code while the challenge is open) or a job that still holds its data is retryable
(`RETRYABLE_MAIL`). An invitation's or a reset link's mail is not: it is sent again from where
it came from (resend the invitation; email the reset link again).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from authara_core.platform.db import Connection

Kind = Literal["email", "webhook"]
ERROR_SHOWN: Final = 300  # characters of `last_error` a list row carries

_TABLES: Final[dict[str, str]] = {"email": "email_jobs", "webhook": "webhook_events"}
RETRYABLE_MAIL: Final = "(challenge_id IS NOT NULL OR template_data <> '{}'::jsonb)"


@dataclass(frozen=True, slots=True)
class FailedJob:
    """One failed row: `what` is the mail template or the webhook event type."""

    kind: Kind
    id: str
    what: str
    recipient: str | None
    attempts: int
    last_error: str | None
    updated_at: datetime
    retryable: bool


@dataclass(frozen=True, slots=True)
class Retried:
    """What a retry changed: the row's attempts and error before it was put back."""

    kind: Kind
    id: str
    what: str
    recipient: str | None
    attempts: int
    last_error: str | None


async def count_failed(conn: Connection) -> tuple[int, int]:
    """Count failed email jobs and failed webhook events (the terminal indexes)."""
    row = await conn.fetchrow(
        """
        SELECT (SELECT count(*) FROM email_jobs WHERE status = 'failed') AS emails,
               (SELECT count(*) FROM webhook_events WHERE status = 'failed') AS webhooks
        """
    )
    assert row is not None  # noqa: S101 (a SELECT without FROM returns one row)
    return int(row["emails"]), int(row["webhooks"])


async def list_failed(conn: Connection, *, limit: int, offset: int) -> list[FailedJob]:
    """Both kinds, newest failure first (`updated_at`), `limit` rows from `offset`."""
    rows = await conn.fetch(
        f"""
        SELECT * FROM (
            (SELECT 'email' AS kind, id::text AS id, template AS what, to_email AS recipient,
                    attempt_count, left(last_error, $3::int) AS last_error, updated_at,
                    {RETRYABLE_MAIL} AS retryable
             FROM email_jobs WHERE status = 'failed'
             ORDER BY updated_at DESC, id DESC LIMIT $1::int + $2::int)
            UNION ALL
            (SELECT 'webhook', id, event_type, NULL, attempt_count, left(last_error, $3::int),
                    updated_at, true
             FROM webhook_events WHERE status = 'failed'
             ORDER BY updated_at DESC, id DESC LIMIT $1::int + $2::int)
        ) AS failed
        ORDER BY updated_at DESC, kind, id DESC
        LIMIT $1 OFFSET $2
        """,  # noqa: S608 (constants)
        limit,
        offset,
        ERROR_SHOWN + 1,
    )
    return [
        FailedJob(
            kind=row["kind"],
            id=row["id"],
            what=row["what"],
            recipient=row["recipient"],
            attempts=row["attempt_count"],
            last_error=row["last_error"],
            updated_at=row["updated_at"],
            retryable=row["retryable"],
        )
        for row in rows
    ]


async def retry_failed(
    conn: Connection, kind: Kind, job_id: uuid.UUID, *, now: datetime
) -> Retried | None:
    """Put a failed row back in the queue, due `now`; None unless it exists and is failed."""
    table = _TABLES[kind]
    what = "template" if kind == "email" else "event_type"
    recipient = "job.to_email" if kind == "email" else "NULL"
    buildable = RETRYABLE_MAIL if kind == "email" else "true"
    row = await conn.fetchrow(
        f"""
        WITH old AS (
            SELECT id, attempt_count, last_error FROM {table}
            WHERE id = $1 AND status = 'failed' AND {buildable} FOR UPDATE
        )
        UPDATE {table} AS job SET status = 'pending', next_attempt_at = $2, updated_at = $2,
            processing_started_at = NULL, attempt_count = 0
        FROM old WHERE job.id = old.id AND job.status = 'failed'
        RETURNING job.{what} AS what, {recipient} AS recipient, old.attempt_count,
            old.last_error
        """,  # noqa: S608 (constants)
        job_id if kind == "email" else str(job_id),
        now,
    )
    if row is None:
        return None
    return Retried(
        kind=kind,
        id=str(job_id),
        what=row["what"],
        recipient=row["recipient"],
        attempts=row["attempt_count"],
        last_error=row["last_error"],
    )


async def status_of(conn: Connection, kind: Kind, job_id: uuid.UUID) -> str | None:
    """Return the row's status (`failed`, `pending`, ...), or None when there is no such row."""
    table = _TABLES[kind]
    status: str | None = await conn.fetchval(
        f"SELECT status FROM {table} WHERE id = $1",  # noqa: S608 (a constant)
        job_id if kind == "email" else str(job_id),
    )
    return status
