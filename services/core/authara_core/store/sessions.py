"""SQL for sessions and refresh tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from .db import Connection


async def insert_session(
    conn: Connection, *, user_id: uuid.UUID, expires_at: datetime, user_agent: str, now: datetime
) -> uuid.UUID:
    """Insert a session and return its id."""
    session_id: uuid.UUID = await conn.fetchval(
        """
        INSERT INTO sessions (user_id, expires_at, user_agent, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $4) RETURNING id
        """,
        user_id,
        expires_at,
        user_agent,
        now,
    )
    return session_id


async def insert_refresh_token(
    conn: Connection,
    *,
    session_id: uuid.UUID,
    token_hash: str,
    expires_at: datetime,
    now: datetime,
) -> uuid.UUID:
    """Store the hash of a new refresh token."""
    token_id: uuid.UUID = await conn.fetchval(
        """
        INSERT INTO refresh_tokens (session_id, token_hash, expires_at, created_at)
        VALUES ($1, $2, $3, $4) RETURNING id
        """,
        session_id,
        token_hash,
        expires_at,
        now,
    )
    return token_id


async def revoke_session_by_token_hash(conn: Connection, token_hash: str, now: datetime) -> bool:
    """Revoke the session a refresh token belongs to; tell whether one was found."""
    status = await conn.execute(
        """
        UPDATE sessions s SET revoked_at = coalesce(s.revoked_at, $2), updated_at = $2
        FROM refresh_tokens t
        WHERE t.token_hash = $1 AND t.session_id = s.id
        """,
        token_hash,
        now,
    )
    return status != "UPDATE 0"


async def revoke_session(conn: Connection, session_id: uuid.UUID, now: datetime) -> bool:
    """Revoke one session by id; tell whether it existed."""
    status = await conn.execute(
        """
        UPDATE sessions SET revoked_at = coalesce(revoked_at, $2), updated_at = $2
        WHERE id = $1
        """,
        session_id,
        now,
    )
    return status != "UPDATE 0"
