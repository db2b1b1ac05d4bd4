"""SQL of the email outbox (`email_jobs`); functions take the caller's connection.

The queue itself (claim, compare-and-set updates, cleanup) is platform/jobs.py's JobTable.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any, Final

import asyncpg

from authara_core.mail.outbox import EmailJob, MailTemplate
from authara_core.platform.db import Connection
from authara_core.platform.jobs import JobTable

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


QUEUE: Final = JobTable("email_jobs", columns=_COLUMNS, done="sent")


async def claim_next(conn: Connection, *, now: datetime, stale_before: datetime) -> EmailJob | None:
    """Lock and claim one job: a stale claim first (its worker died), else the oldest due one.

    Returns the job with its new `attempt_count`; rows other workers hold are skipped.
    """
    claimed = await QUEUE.claim(conn, now=now, stale_before=stale_before)
    if claimed is None:
        return None
    if claimed["template"] not in _TEMPLATES:  # written by a newer release, say
        await conn.execute(
            """
            UPDATE email_jobs SET status = 'failed', last_error = $2, template_data = '{}'::jsonb
            WHERE id = $1
            """,
            claimed["id"],
            f"unknown template {claimed['template'][:64]!r}",
        )
        return None
    return _job(claimed)


async def mark_sent(conn: Connection, job: EmailJob, *, now: datetime) -> bool:
    """Record a delivery and forget the template data; False when the claim was lost."""
    return await QUEUE.finish(
        conn,
        job.id,
        job.attempt_count,
        status="sent",
        now=now,
        also="sent_at = $4, template_data = '{}'::jsonb",
    )


async def mark_retry(
    conn: Connection, job: EmailJob, *, now: datetime, next_attempt_at: datetime, error: str
) -> bool:
    """Put a job back in the queue for another attempt; False when the claim was lost."""
    return await QUEUE.retry(
        conn, job.id, job.attempt_count, now=now, next_attempt_at=next_attempt_at, error=error
    )


async def mark_failed(conn: Connection, job: EmailJob, *, now: datetime, error: str) -> bool:
    """Give a job up for good (operators see it) and forget its template data."""
    return await QUEUE.finish(
        conn,
        job.id,
        job.attempt_count,
        status="failed",
        now=now,
        error=error,
        also="template_data = '{}'::jsonb",
    )


async def delete_job(conn: Connection, job_id: uuid.UUID) -> None:
    """Drop a job that has nothing to send any more (its challenge is over)."""
    await conn.execute("DELETE FROM email_jobs WHERE id = $1", job_id)


async def delete_finished(
    conn: Connection, *, sent_before: datetime, failed_before: datetime
) -> int:
    """Delete sent jobs finished before `sent_before` and failed ones before `failed_before`."""
    return await QUEUE.delete_finished(conn, before={"sent": sent_before, "failed": failed_before})


async def backlog(conn: Connection) -> dict[str, int]:
    """Count the email_jobs not done yet and those that failed, by status (for the metrics)."""
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM email_jobs"
        " WHERE status IN ('pending', 'processing', 'failed') GROUP BY status"
    )
    counts = dict.fromkeys(("pending", "processing", "failed"), 0)
    counts.update({row["status"]: row["n"] for row in rows})
    return counts
