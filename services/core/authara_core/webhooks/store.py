"""SQL of the webhook outbox (`webhook_events`); functions take the caller's connection.

Rows are written by platform/outbox.py in the transaction of the change they report; the
queue mechanics (claim with SKIP LOCKED, compare-and-set updates, reaping, batched cleanup)
are platform/jobs.py's JobTable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from authara_core.platform.db import Connection
from authara_core.platform.jobs import JobTable

# The body is the stored envelope as PostgreSQL renders it: the same bytes at every attempt.
QUEUE: Final = JobTable(
    "webhook_events",
    columns="id, event_type, payload::text AS body, attempt_count",
    done="delivered",
)


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    """An event a worker holds: what to send, and the attempt its claim counts."""

    id: str
    type: str
    body: bytes
    attempt_count: int


async def claim_next(conn: Connection, *, now: datetime) -> ClaimedEvent | None:
    """Claim the oldest due pending event (stale claims are the reaper's)."""
    row = await QUEUE.claim(conn, now=now)
    if row is None:
        return None
    return ClaimedEvent(row["id"], row["event_type"], row["body"].encode(), row["attempt_count"])


async def mark_delivered(conn: Connection, event: ClaimedEvent, *, now: datetime) -> bool:
    """Record a delivery; False when the claim was lost."""
    return await QUEUE.finish(
        conn, event.id, event.attempt_count, status="delivered", now=now, also="delivered_at = $4"
    )


async def mark_retry(
    conn: Connection, event: ClaimedEvent, *, now: datetime, next_attempt_at: datetime, error: str
) -> bool:
    """Queue the event for another attempt; False when the claim was lost."""
    return await QUEUE.retry(
        conn, event.id, event.attempt_count, now=now, next_attempt_at=next_attempt_at, error=error
    )


async def mark_failed(conn: Connection, event: ClaimedEvent, *, now: datetime, error: str) -> bool:
    """Give the event up; False when the claim was lost."""
    return await QUEUE.finish(
        conn, event.id, event.attempt_count, status="failed", now=now, error=error
    )


async def backlog(conn: Connection) -> dict[str, int]:
    """Count the webhook_events not done yet and those that failed, by status (for the metrics)."""
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM webhook_events"
        " WHERE status IN ('pending', 'processing', 'failed') GROUP BY status"
    )
    counts = dict.fromkeys(("pending", "processing", "failed"), 0)
    counts.update({row["status"]: row["n"] for row in rows})
    return counts
