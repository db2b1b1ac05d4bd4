"""The admin console's SQL: read-only reports over other domains' tables.

The console is an operator's view of the whole database, so its reads (counts, and later the
user search and the audit log) join tables other domains own; it changes another domain's
rows only through that domain's public module (e.g. `accounts/users.py`) inside its
service's transaction. Functions take the connection and never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

import asyncpg

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


# User search -----------------------------------------------------------------------------------

_USER_COLUMNS: Final = """
    u.id, u.email, u.username, u.created_at, u.disabled_at,
    array(SELECT r.name FROM user_platform_roles ur JOIN platform_roles r ON r.id = ur.role_id
          WHERE ur.user_id = u.id ORDER BY r.name) AS roles
"""

# The three predicates are exactly the expressions of migration 0010's `text_pattern_ops`
# indexes (ix_users_email_pattern, ix_users_username_pattern, ix_users_id_pattern); $1 is the
# lowercased, escaped term. Each branch walks its index in the index's own order (`USING ~<~`,
# the operator class's ordering) and stops after the rows the page can need, so a page costs
# about three times $2 + $3 index entries however many users match: a short term on a million
# users no longer sorts every match (bench/admin_search_bench.py). Results: users whose email
# matches, by email; then those matched by username only, by username; then by id only.
# A user matched several ways is listed once, in the first group (DISTINCT ON keeps the lowest
# rank). Tests EXPLAIN this very text.
SEARCH_SQL: Final = f"""
    SELECT {_USER_COLUMNS}
    FROM (
        SELECT DISTINCT ON (id) id, rank, sort_key
        FROM (
            (SELECT id, 1 AS rank, lower(email) AS sort_key FROM users
             WHERE lower(email) LIKE $1 || '%'
             ORDER BY lower(email) USING ~<~ LIMIT $2::bigint + $3::bigint)
            UNION ALL
            (SELECT id, 2, username_normalized FROM users
             WHERE username_normalized LIKE $1 || '%'
             ORDER BY username_normalized USING ~<~ LIMIT $2::bigint + $3::bigint)
            UNION ALL
            (SELECT id, 3, id::text FROM users
             WHERE (id::text) LIKE $1 || '%'
             ORDER BY (id::text) USING ~<~ LIMIT $2::bigint + $3::bigint)
        ) AS hits
        ORDER BY id, rank
    ) AS found
    JOIN users u ON u.id = found.id
    ORDER BY found.rank, found.sort_key USING ~<~, u.id
    LIMIT $2 OFFSET $3
"""  # noqa: S608 (constant text, no user input)

# No term: newest first, an index scan backwards on ix_users_created_at.
NEWEST_SQL: Final = f"""
    SELECT {_USER_COLUMNS}
    FROM users u
    ORDER BY u.created_at DESC, u.id DESC
    LIMIT $1 OFFSET $2
"""  # noqa: S608 (constant text, no user input)


@dataclass(frozen=True, slots=True)
class UserSummary:
    """One user in the console's user list."""

    id: uuid.UUID
    email: str
    username: str
    created_at: datetime
    disabled_at: datetime | None
    roles: tuple[str, ...]


def like_prefix(term: str) -> str:
    """Lowercase a search term and escape LIKE's `%`, `_` and backslash (the default escape)."""
    lowered = term.strip().lower()
    return lowered.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def search_users(
    conn: Connection, query: str, *, limit: int, offset: int
) -> list[UserSummary]:
    """Find users whose email, username or id starts with `query` (case-insensitive).

    Offset pagination: `limit` rows from `offset` (ask for one more than a page to learn
    whether a next page exists). With a term: users whose email starts with it, by email;
    then those matched only by username, by username; then only by id (SEARCH_SQL). Each of
    the three walks its 0010 prefix index in order and stops after `limit + offset` rows, so
    a page costs the same on a million users whatever the term's length. A blank `query`
    lists everyone newest first, off `ix_users_created_at`. `%`, `_` and backslash in the
    term match themselves. Never commits.
    """
    term = like_prefix(query)
    if not term:
        records = await conn.fetch(NEWEST_SQL, limit, offset)
    else:
        records = await conn.fetch(SEARCH_SQL, term, limit, offset)
    return [_summary(record) for record in records]


def _summary(record: asyncpg.Record) -> UserSummary:
    return UserSummary(
        id=record["id"],
        email=record["email"],
        username=record["username"],
        created_at=record["created_at"],
        disabled_at=record["disabled_at"],
        roles=tuple(record["roles"]),
    )


# One user's page -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SignInMethod:
    """A row of auth_providers: `password`, `google`, ..., and when it was added."""

    provider: str
    has_password: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Membership:
    """One organization the user belongs to, and their role there."""

    organization_id: uuid.UUID
    name: str
    kind: str
    role: str
    joined_at: datetime


async def find_user(conn: Connection, user_id: uuid.UUID) -> UserSummary | None:
    """Load one user with their platform roles."""
    record = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = $1", user_id)  # noqa: S608
    return None if record is None else _summary(record)


async def sign_in_methods(conn: Connection, user_id: uuid.UUID) -> list[SignInMethod]:
    """List the user's sign-in methods, oldest first."""
    records = await conn.fetch(
        """
        SELECT provider, coalesce(password_hash, '') <> '' AS has_password, created_at
        FROM auth_providers WHERE user_id = $1 ORDER BY created_at, provider
        """,
        user_id,
    )
    return [SignInMethod(r["provider"], r["has_password"], r["created_at"]) for r in records]


async def memberships(conn: Connection, user_id: uuid.UUID) -> list[Membership]:
    """List the organizations the user belongs to, by name."""
    records = await conn.fetch(
        """
        SELECT o.id, o.name, o.kind, m.role, m.created_at
        FROM organization_memberships m JOIN organizations o ON o.id = m.organization_id
        WHERE m.user_id = $1 ORDER BY o.name, o.id
        """,
        user_id,
    )
    return [Membership(r["id"], r["name"], r["kind"], r["role"], r["created_at"]) for r in records]
