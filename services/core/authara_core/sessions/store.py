"""SQL for sessions and refresh tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from authara_core.platform.db import Connection


async def insert_session(
    conn: Connection,
    *,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    expires_at: datetime,
    user_agent: str,
    ip_address: str | None,
    now: datetime,
) -> uuid.UUID:
    """Insert a session, active in one of the user's organizations, and return its id."""
    session_id: uuid.UUID = await conn.fetchval(
        """
        INSERT INTO sessions
            (user_id, active_organization_id, expires_at, user_agent, ip_address,
             created_at, updated_at, last_used_at)
        VALUES ($1, $2, $3, $4, $5, $6, $6, $6) RETURNING id
        """,
        user_id,
        organization_id,
        expires_at,
        user_agent,
        ip_address,
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


async def revoke_session_by_token_hash(
    conn: Connection, token_hash: str, now: datetime
) -> uuid.UUID | None:
    """Revoke the session a refresh token belongs to; return its id (None: no such token)."""
    session_id: uuid.UUID | None = await conn.fetchval(
        """
        UPDATE sessions s SET revoked_at = coalesce(s.revoked_at, $2), updated_at = $2
        FROM refresh_tokens t
        WHERE t.token_hash = $1 AND t.session_id = s.id
        RETURNING s.id
        """,
        token_hash,
        now,
    )
    return session_id


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


@dataclass(frozen=True, slots=True)
class RefreshRow:
    """A refresh token with what deciding a refresh needs from its session and user."""

    id: uuid.UUID
    session_id: uuid.UUID
    user_id: uuid.UUID
    organization_id: uuid.UUID
    created_at: datetime
    expires_at: datetime
    consumed_at: datetime | None
    successor_hash: str | None
    session_expires_at: datetime
    session_revoked_at: datetime | None
    user_disabled_at: datetime | None
    session_last_used_at: datetime | None

    def is_usable(self, now: datetime) -> bool:
        """Tell whether token, session and user all still allow a refresh."""
        return (
            self.expires_at > now
            and self.session_expires_at > now
            and self.session_revoked_at is None
            and self.user_disabled_at is None
        )


async def lock_refresh_token(conn: Connection, token_hash: str) -> RefreshRow | None:
    """Load a refresh token by hash and lock its row until the transaction ends.

    The lock serialises concurrent refreshes of one token: the first rotates it, the others
    then see it consumed and take the grace path instead of racing to a second rotation.
    """
    record = await conn.fetchrow(
        """
        SELECT t.id, t.session_id, s.user_id, s.active_organization_id AS organization_id,
               t.created_at, t.expires_at, t.consumed_at,
               t.successor_hash, s.expires_at AS session_expires_at,
               s.revoked_at AS session_revoked_at, u.disabled_at AS user_disabled_at,
               s.last_used_at AS session_last_used_at
        FROM refresh_tokens t
        JOIN sessions s ON s.id = t.session_id
        JOIN users u ON u.id = s.user_id
        WHERE t.token_hash = $1
        FOR UPDATE OF t
        """,
        token_hash,
    )
    return None if record is None else RefreshRow(**dict(record))


async def consume_refresh_token(
    conn: Connection, *, token_id: uuid.UUID, successor_hash: str, now: datetime
) -> bool:
    """Mark a token consumed and remember its successor, only if nobody consumed it first."""
    status = await conn.execute(
        """
        UPDATE refresh_tokens SET consumed_at = $2, successor_hash = $3
        WHERE id = $1 AND consumed_at IS NULL
        """,
        token_id,
        now,
        successor_hash,
    )
    return status == "UPDATE 1"


async def is_current_token(conn: Connection, token_hash: str) -> bool:
    """Tell whether a token exists and has not been consumed."""
    current: bool | None = await conn.fetchval(
        "SELECT consumed_at IS NULL FROM refresh_tokens WHERE token_hash = $1", token_hash
    )
    return bool(current)


async def delete_expired_sessions(conn: Connection, now: datetime, *, limit: int) -> int:
    """Delete up to `limit` sessions past their absolute expiry; return how many.

    One batch, for a transaction of its own: the rows come from `ix_sessions_expires_at` and
    are locked SKIP LOCKED, so a session some other transaction holds (a sign-out, an
    organization switch) is left for the next run instead of being waited for. Their refresh
    tokens and OAuth flow states go with them (ON DELETE CASCADE, through
    `ix_refresh_tokens_session_id` and `ix_oauth_states_session_id`).
    """
    status = await conn.execute(
        """
        DELETE FROM sessions WHERE id IN (
            SELECT id FROM sessions WHERE expires_at <= $1
            LIMIT $2
            FOR UPDATE SKIP LOCKED
        )
        """,
        now,
        limit,
    )
    return int(status.rsplit(" ", 1)[-1])


async def _lock_refresh_tokens(
    conn: Connection, *, user_id: uuid.UUID, session_id: uuid.UUID | None
) -> None:
    """Lock a user's refresh tokens (one session's, or all) before touching their sessions.

    A refresh locks its token first and its session row after; ending sessions takes the
    locks in the same order, so the two wait for each other instead of deadlocking.
    """
    await conn.execute(
        """
        SELECT t.id FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id
        WHERE s.user_id = $1 AND ($2::uuid IS NULL OR s.id = $2)
        ORDER BY t.id
        FOR UPDATE OF t
        """,
        user_id,
        session_id,
    )


async def revoke_user_sessions(
    conn: Connection, user_id: uuid.UUID, now: datetime, *, keep: uuid.UUID | None = None
) -> list[uuid.UUID]:
    """Revoke every live session of a user but `keep` (when given); return their ids.

    Their refresh tokens are deleted with them (upstream §5.4): a revoked session's token can
    only be refused, and a later replay of it is simply unknown.
    """
    await _lock_refresh_tokens(conn, user_id=user_id, session_id=None)
    ids: list[uuid.UUID] = await conn.fetchval(
        """
        WITH revoked AS (
            UPDATE sessions SET revoked_at = $2, updated_at = $2
            WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
              AND id IS DISTINCT FROM $3
            RETURNING id
        ), tokens AS (
            DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM revoked)
        )
        SELECT coalesce(array_agg(id), '{}') FROM revoked
        """,
        user_id,
        now,
        keep,
    )
    return ids


async def is_live_session(
    conn: Connection, *, user_id: uuid.UUID, session_id: uuid.UUID, now: datetime
) -> bool:
    """Tell whether a session of this user is neither revoked nor expired."""
    live: bool = await conn.fetchval(
        """
        SELECT EXISTS (
            SELECT 1 FROM sessions
            WHERE id = $2 AND user_id = $1 AND revoked_at IS NULL AND expires_at > $3
        )
        """,
        user_id,
        session_id,
        now,
    )
    return live


async def revoke_own_session(
    conn: Connection, *, user_id: uuid.UUID, session_id: uuid.UUID, now: datetime
) -> bool:
    """Revoke one live session if it belongs to the user, deleting its refresh tokens.

    Tell whether it did: another user's session, an unknown, expired or already revoked one
    all change nothing.
    """
    await _lock_refresh_tokens(conn, user_id=user_id, session_id=session_id)
    revoked: bool = await conn.fetchval(
        """
        WITH revoked AS (
            UPDATE sessions SET revoked_at = $3, updated_at = $3
            WHERE id = $2 AND user_id = $1 AND revoked_at IS NULL AND expires_at > $3
            RETURNING id
        ), tokens AS (
            DELETE FROM refresh_tokens WHERE session_id IN (SELECT id FROM revoked)
        )
        SELECT count(*) = 1 FROM revoked
        """,
        user_id,
        session_id,
        now,
    )
    return revoked


async def touch_session(
    conn: Connection, session_id: uuid.UUID, now: datetime, *, resolution: timedelta
) -> None:
    """Move a session's `last_used_at` to now, unless it moved less than `resolution` ago.

    Called at refresh, inside its transaction: the row is written at most once per
    resolution, however often a session refreshes (the condition also holds against a
    concurrent refresh of another of the session's tokens).
    """
    # SKIP LOCKED: the write is best effort and must never wait. A revocation locks the
    # session row and then deletes its refresh tokens, one of which this refresh holds;
    # waiting here for the row would close the circle (a deadlock, PostgreSQL aborts one).
    await conn.execute(
        """
        UPDATE sessions SET last_used_at = $2
        WHERE id = (
            SELECT id FROM sessions
            WHERE id = $1 AND (last_used_at IS NULL OR last_used_at <= $3)
            FOR NO KEY UPDATE SKIP LOCKED
        )
        """,
        session_id,
        now,
        now - resolution,
    )


@dataclass(frozen=True, slots=True)
class LiveSession:
    """A session its user can see on their account page."""

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str


async def live_sessions(conn: Connection, user_id: uuid.UUID, now: datetime) -> list[LiveSession]:
    """List a user's sessions that are neither revoked nor expired, most recently used first.

    Sessions from before `last_used_at` existed count as last used when they started.
    """
    records = await conn.fetch(
        """
        SELECT id, created_at, coalesce(last_used_at, created_at) AS last_used_at,
               expires_at, ip_address, user_agent
        FROM sessions
        WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
        ORDER BY coalesce(last_used_at, created_at) DESC, created_at DESC, id
        """,
        user_id,
        now,
    )
    return [LiveSession(**dict(record)) for record in records]


@dataclass(frozen=True, slots=True)
class SessionRow:
    """A session locked for an organization switch, with what deciding it needs."""

    id: uuid.UUID
    user_id: uuid.UUID
    expires_at: datetime
    revoked_at: datetime | None
    user_disabled_at: datetime | None

    def is_usable(self, now: datetime) -> bool:
        """Tell whether the session is live (its user's state is checked separately)."""
        return self.expires_at > now and self.revoked_at is None


async def lock_session(conn: Connection, session_id: uuid.UUID) -> SessionRow | None:
    """Load a session and lock its row: concurrent switches of one session take turns.

    NO KEY UPDATE, not UPDATE: a refresh inserting the session's next token (whose foreign
    key takes KEY SHARE on this row) is not held up by a switch.
    """
    record = await conn.fetchrow(
        """
        SELECT s.id, s.user_id, s.expires_at, s.revoked_at, u.disabled_at AS user_disabled_at
        FROM sessions s
        JOIN users u ON u.id = s.user_id
        WHERE s.id = $1
        FOR NO KEY UPDATE OF s
        """,
        session_id,
    )
    return None if record is None else SessionRow(**dict(record))


async def set_active_organization(
    conn: Connection, session_id: uuid.UUID, organization_id: uuid.UUID, now: datetime
) -> None:
    """Make an organization the session's active one (its refresh tokens follow)."""
    await conn.execute(
        "UPDATE sessions SET active_organization_id = $2, updated_at = $3 WHERE id = $1",
        session_id,
        organization_id,
        now,
    )


async def current_token_session(
    conn: Connection, token_hash: str, now: datetime
) -> uuid.UUID | None:
    """Return the session of an unconsumed, unexpired refresh token (without locking it)."""
    session_id: uuid.UUID | None = await conn.fetchval(
        """
        SELECT session_id FROM refresh_tokens
        WHERE token_hash = $1 AND consumed_at IS NULL AND expires_at > $2
        """,
        token_hash,
        now,
    )
    return session_id


async def move_sessions(
    conn: Connection,
    *,
    user_id: uuid.UUID,
    from_organization_id: uuid.UUID,
    to_organization_id: uuid.UUID,
    now: datetime,
) -> int:
    """Make a user's sessions active in one organization active in another; return how many."""
    status = await conn.execute(
        """
        UPDATE sessions SET active_organization_id = $3, updated_at = $4
        WHERE user_id = $1 AND active_organization_id = $2
        """,
        user_id,
        from_organization_id,
        to_organization_id,
        now,
    )
    return int(status.rsplit(" ", 1)[-1])


async def delete_sessions_in(
    conn: Connection, *, user_id: uuid.UUID, organization_id: uuid.UUID
) -> int:
    """Delete a user's sessions (any state) active in one organization; return how many."""
    status = await conn.execute(
        "DELETE FROM sessions WHERE user_id = $1 AND active_organization_id = $2",
        user_id,
        organization_id,
    )
    return int(status.rsplit(" ", 1)[-1])


async def live_session_created_at(
    conn: Connection, *, session_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> datetime | None:
    """Return when a live session of this user started (its sign-in), or None."""
    created_at: datetime | None = await conn.fetchval(
        """
        SELECT created_at FROM sessions
        WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3
        """,
        session_id,
        user_id,
        now,
    )
    return created_at
