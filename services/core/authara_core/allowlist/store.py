"""allowed_emails SQL: emails stored trimmed and lowercased (a check constraint keeps them so)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from authara_core.platform.db import Connection


@dataclass(frozen=True, slots=True)
class AllowedEmail:
    """One allowlist entry."""

    id: uuid.UUID
    email: str
    created_at: datetime


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def is_listed(conn: Connection, email: str) -> bool:
    """Whether a normalized email is on the list."""
    found = await conn.fetchval("SELECT 1 FROM allowed_emails WHERE email = $1", email)
    return found is not None


async def insert(conn: Connection, email: str, now: datetime) -> uuid.UUID | None:
    """Add a normalized email; return its id, or None when it was listed already."""
    found = await conn.fetchval(
        """
        INSERT INTO allowed_emails (id, created_at, updated_at, email)
        VALUES (gen_random_uuid(), $2, $2, $1)
        ON CONFLICT (email) DO NOTHING
        RETURNING id
        """,
        email,
        now,
    )
    return found if isinstance(found, uuid.UUID) else None


async def insert_many(conn: Connection, emails: Sequence[str], now: datetime) -> set[str]:
    """Add normalized emails in one statement; return the ones that were new."""
    rows = await conn.fetch(
        """
        INSERT INTO allowed_emails (id, created_at, updated_at, email)
        SELECT gen_random_uuid(), $2, $2, e FROM unnest($1::text[]) AS e
        ON CONFLICT (email) DO NOTHING
        RETURNING email
        """,
        list(emails),
        now,
    )
    return {str(row["email"]) for row in rows}


async def get(conn: Connection, entry_id: uuid.UUID, *, lock: bool = False) -> AllowedEmail | None:
    """One entry by id (locked FOR UPDATE when asked)."""
    sql = "SELECT id, email, created_at FROM allowed_emails WHERE id = $1"
    row = await conn.fetchrow(sql + " FOR UPDATE" if lock else sql, entry_id)
    return None if row is None else AllowedEmail(row["id"], row["email"], row["created_at"])


async def delete(conn: Connection, entry_id: uuid.UUID) -> bool:
    """Delete an entry by id; whether it existed."""
    status = await conn.execute("DELETE FROM allowed_emails WHERE id = $1", entry_id)
    return bool(status.endswith(" 1"))


async def delete_email(conn: Connection, email: str) -> bool:
    """Delete an entry by its normalized email; whether it existed."""
    status = await conn.execute("DELETE FROM allowed_emails WHERE email = $1", email)
    return bool(status.endswith(" 1"))


async def rename(conn: Connection, old: str, new: str, now: datetime) -> None:
    """Move an entry from `old` to `new` (normalized); if `new` is listed already, drop `old`."""
    if await is_listed(conn, new):
        await delete_email(conn, old)
    else:
        await conn.execute(
            "UPDATE allowed_emails SET email = $2, updated_at = $3 WHERE email = $1",
            old,
            new,
            now,
        )


async def search(
    conn: Connection, prefix: str | None, *, limit: int, offset: int
) -> tuple[list[AllowedEmail], int]:
    """Return a page of entries by email (starting with `prefix` if given) and the total."""
    where, args = "", []
    if prefix:
        where, args = "WHERE email LIKE $1 || '%'", [_escape_like(prefix)]
    total = await conn.fetchval(f"SELECT count(*) FROM allowed_emails {where}", *args)  # noqa: S608
    rows = await conn.fetch(
        f"SELECT id, email, created_at FROM allowed_emails {where}"  # noqa: S608
        f" ORDER BY email LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return [AllowedEmail(r["id"], r["email"], r["created_at"]) for r in rows], int(total or 0)
