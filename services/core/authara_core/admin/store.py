"""The admin console's SQL: read-only reports over other domains' tables.

The console is an operator's view of the whole database, so its reads (counts, and later the
user search and the audit log) join tables other domains own; it changes another domain's
rows only through that domain's public module (e.g. `accounts/users.py`) inside its
service's transaction. Functions take the connection and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from authara_core.platform.db import Connection


@dataclass(frozen=True, slots=True)
class Totals:
    """The dashboard's counts."""

    users: int
    signups_24h: int
    signups_7d: int
    disabled_users: int
    active_sessions: int


async def totals(conn: Connection, now: datetime) -> Totals:
    """Count users, recent signups, disabled users and live sessions at `now`."""
    users = await conn.fetchrow(
        """
        SELECT count(*) AS users,
               count(*) FILTER (WHERE created_at > $1) AS day,
               count(*) FILTER (WHERE created_at > $2) AS week,
               count(*) FILTER (WHERE disabled_at IS NOT NULL) AS disabled
        FROM users
        """,
        now - timedelta(hours=24),
        now - timedelta(days=7),
    )
    assert users is not None  # noqa: S101 (an aggregate always answers one row)
    sessions = await conn.fetchval(
        "SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > $1", now
    )
    return Totals(
        users=users["users"],
        signups_24h=users["day"],
        signups_7d=users["week"],
        disabled_users=users["disabled"],
        active_sessions=int(sessions),
    )


async def signups_per_day(conn: Connection, since: datetime) -> dict[date, int]:
    """Count signups per UTC day from `since` (days without signups are absent)."""
    rows = await conn.fetch(
        """
        SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS n
        FROM users WHERE created_at >= $1
        GROUP BY 1
        """,
        since,
    )
    return {row["day"]: row["n"] for row in rows}
