"""SQL of the email outbox (`email_jobs`); functions take the caller's connection.

A claim is a compare-and-set token: it bumps `attempt_count`, and every later update of the
job names the count it claimed, so a worker whose claim was taken back (it was too slow and
the job went stale) cannot overwrite what the new claimant does.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from authara_core.mail.outbox import EmailJob, MailTemplate
from authara_core.platform.db import Connection

_COLUMNS = "id, template, to_email, template_data, challenge_id, attempt_count"
_TEMPLATES = frozenset(template.value for template in MailTemplate)


def _job(row: asyncpg.Record) -> EmailJob:
    data: dict[str, Any] = json.loads(row["template_data"])
    return EmailJob(
        id=row["id"],
        template=MailTemplate(row["template"]),
        to_email=row["to_email"],
        template_data=data,
        challenge_id=row["challenge_id"],
        attempt_count=row["attempt_count"],
    )


async def claim_next(conn: Connection, *, now: datetime, stale_before: datetime) -> EmailJob | None:
    """Lock and claim one job: a stale claim first (its worker died), else the oldest due one.

    Returns the job with its new `attempt_count`; rows other workers hold are skipped.
    """
    job_id: uuid.UUID | None = await conn.fetchval(
        """
        SELECT id FROM email_jobs
        WHERE status = 'processing' AND processing_started_at < $1
        ORDER BY processing_started_at LIMIT 1 FOR UPDATE SKIP LOCKED
        """,
        stale_before,
    )
    if job_id is None:
        job_id = await conn.fetchval(
            """
            SELECT id FROM email_jobs
            WHERE status = 'pending' AND next_attempt_at <= $1
            ORDER BY next_attempt_at, created_at LIMIT 1 FOR UPDATE SKIP LOCKED
            """,
            now,
        )
    if job_id is None:
        return None
    claimed = await conn.fetchrow(
        f"""
        UPDATE email_jobs SET status = 'processing', processing_started_at = $2,
            attempt_count = attempt_count + 1, updated_at = $2
        WHERE id = $1 RETURNING {_COLUMNS}
        """,  # noqa: S608 (a constant column list)
        job_id,
        now,
    )
    if claimed is None:
        return None
    if claimed["template"] not in _TEMPLATES:  # written by a newer release, say
        await conn.execute(
            """
            UPDATE email_jobs SET status = 'failed', last_error = $2, template_data = '{}'::jsonb
            WHERE id = $1
            """,
            job_id,
            f"unknown template {claimed['template'][:64]!r}",
        )
        return None
    return _job(claimed)


async def mark_sent(conn: Connection, job: EmailJob, *, now: datetime) -> bool:
    """Record a delivery and forget the template data; False when the claim was lost."""
    status = await conn.execute(
        """
        UPDATE email_jobs SET status = 'sent', sent_at = $3, updated_at = $3,
            last_error = NULL, template_data = '{}'::jsonb
        WHERE id = $1 AND status = 'processing' AND attempt_count = $2
        """,
        job.id,
        job.attempt_count,
        now,
    )
    return status == "UPDATE 1"


async def mark_retry(
    conn: Connection, job: EmailJob, *, now: datetime, next_attempt_at: datetime, error: str
) -> bool:
    """Put a job back in the queue for another attempt; False when the claim was lost."""
    status = await conn.execute(
        """
        UPDATE email_jobs SET status = 'pending', next_attempt_at = $3, updated_at = $4,
            last_error = $5
        WHERE id = $1 AND status = 'processing' AND attempt_count = $2
        """,
        job.id,
        job.attempt_count,
        next_attempt_at,
        now,
        error,
    )
    return status == "UPDATE 1"


async def mark_failed(conn: Connection, job: EmailJob, *, now: datetime, error: str) -> bool:
    """Give a job up for good (operators see it) and forget its template data."""
    status = await conn.execute(
        """
        UPDATE email_jobs SET status = 'failed', updated_at = $3, last_error = $4,
            template_data = '{}'::jsonb
        WHERE id = $1 AND status = 'processing' AND attempt_count = $2
        """,
        job.id,
        job.attempt_count,
        now,
        error,
    )
    return status == "UPDATE 1"


async def delete_job(conn: Connection, job_id: uuid.UUID) -> None:
    """Drop a job that has nothing to send any more (its challenge is over)."""
    await conn.execute("DELETE FROM email_jobs WHERE id = $1", job_id)


async def delete_finished(
    conn: Connection, *, sent_before: datetime, failed_before: datetime
) -> int:
    """Delete sent jobs finished before `sent_before` and failed ones before `failed_before`."""
    status = await conn.execute(
        """
        DELETE FROM email_jobs
        WHERE (status = 'sent' AND updated_at < $1) OR (status = 'failed' AND updated_at < $2)
        """,
        sent_before,
        failed_before,
    )
    return int(status.split()[-1])
