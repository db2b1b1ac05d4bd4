"""The audit log's reads and its retention delete (the writer is admin/audit.py).

Every query reads `admin_audit_events` newest first by `(created_at, id)` and uses the indexes
of revision 0010: `ix_admin_audit_events_created_at_id` for the unfiltered log, keyset pages
and the retention delete; `(actor_user_id, created_at)`, `(target_user_id, created_at)` and
`(action, created_at)` for the filters (each read backwards). Actor and target emails are
resolved to user ids first (`users.email` is unique), so the user-id indexes serve them.
Functions take the connection and never commit.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from authara_core.platform.db import Connection


@dataclass(frozen=True, slots=True)
class Criteria:
    """Resolved filters: what the WHERE clause compares (None: not filtered on)."""

    actor_user_id: uuid.UUID | None = None
    actor_label: str | None = None
    target_user_id: uuid.UUID | None = None
    target_email: str | None = None
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position in the newest-first order: the (created_at, id) of an event."""

    created_at: datetime
    id: uuid.UUID


@dataclass(frozen=True, slots=True)
class EventRow:
    """One audit event with the current emails of its actor and target accounts."""

    id: uuid.UUID
    created_at: datetime
    action: str
    actor_user_id: uuid.UUID | None
    actor_label: str | None
    actor_email: str | None
    target_user_id: uuid.UUID | None
    target_email: str | None
    target_account_email: str | None
    ip: str | None
    user_agent: str | None
    request_id: str | None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def cursor(self) -> Cursor:
        """This event's position."""
        return Cursor(self.created_at, self.id)


_SELECT = """
    SELECT e.id, e.created_at, e.action, e.actor_user_id, e.actor_label, a.email AS actor_email,
           e.target_user_id, e.target_email, t.email AS target_account_email,
           e.ip, e.user_agent, e.request_id, e.metadata
    FROM admin_audit_events e
    LEFT JOIN users a ON a.id = e.actor_user_id
    LEFT JOIN users t ON t.id = e.target_user_id
"""


def _where(criteria: Criteria, args: list[Any]) -> list[str]:
    clauses: list[str] = []

    def add(sql: str, value: Any) -> None:
        args.append(value)
        clauses.append(sql.format(f"${len(args)}"))

    if criteria.actor_user_id is not None:
        add("e.actor_user_id = {}", criteria.actor_user_id)
    if criteria.actor_label is not None:
        add("e.actor_label = {}", criteria.actor_label)
    if criteria.target_user_id is not None:
        add("e.target_user_id = {}", criteria.target_user_id)
    if criteria.target_email is not None:
        add("e.target_email = {}", criteria.target_email)
    if criteria.action is not None:
        add("e.action = {}", criteria.action)
    if criteria.since is not None:
        add("e.created_at >= {}", criteria.since)
    if criteria.until is not None:
        add("e.created_at < {}", criteria.until)
    return clauses


async def events(
    conn: Connection,
    criteria: Criteria,
    *,
    limit: int,
    before: Cursor | None = None,
    after: Cursor | None = None,
    offset: int = 0,
) -> list[EventRow]:
    """Return up to `limit` events newest first.

    Older than `before`, or the nearest newer than `after` (still newest first), or from
    `offset` (upstream's page numbers).
    """
    args: list[Any] = []
    clauses = _where(criteria, args)
    order = "DESC"
    if before is not None:
        args += [before.created_at, before.id]
        clauses.append(f"(e.created_at, e.id) < (${len(args) - 1}, ${len(args)})")
    elif after is not None:
        args += [after.created_at, after.id]
        clauses.append(f"(e.created_at, e.id) > (${len(args) - 1}, ${len(args)})")
        order = "ASC"
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    args += [limit, offset]
    rows = await conn.fetch(
        f"""{_SELECT} {where}
        ORDER BY e.created_at {order}, e.id {order}
        LIMIT ${len(args) - 1} OFFSET ${len(args)}""",
        *args,
    )
    found = [_row(row) for row in rows]
    return found[::-1] if order == "ASC" else found


def _row(record: Any) -> EventRow:
    values = dict(record)
    metadata = values.pop("metadata")
    if isinstance(metadata, str):  # jsonb arrives as text (no codec on the pool)
        metadata = json.loads(metadata)
    return EventRow(**values, metadata=metadata if isinstance(metadata, dict) else {})


async def user_id_by_email(conn: Connection, email: str) -> uuid.UUID | None:
    """Find the account with this (normalized) email."""
    found: uuid.UUID | None = await conn.fetchval("SELECT id FROM users WHERE email = $1", email)
    return found


async def delete_before(conn: Connection, cutoff: datetime, *, batch: int) -> int:
    """Delete up to `batch` events created before `cutoff`, oldest first; return how many."""
    status = await conn.execute(
        """
        DELETE FROM admin_audit_events WHERE id IN (
            SELECT id FROM admin_audit_events WHERE created_at < $1
            ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED
        )
        """,
        cutoff,
        batch,
    )
    return int(status.split()[-1])
