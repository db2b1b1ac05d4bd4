"""SQL for OAuth: flow states, pending provider links and linked external identities."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from authara_core.accounts.users import PASSWORD_PROVIDER
from authara_core.platform.db import Connection

IDENTITY_CONSTRAINT: Final = "uq_auth_providers_provider_provider_user_id"
USER_PROVIDER_CONSTRAINT: Final = "uq_auth_providers_user_id_provider"


@dataclass(frozen=True, slots=True)
class FlowState:
    """What a consumed flow state tells the callback."""

    purpose: str
    user_id: uuid.UUID | None
    session_id: uuid.UUID | None
    provider_link_id: uuid.UUID | None
    return_to: str


@dataclass(frozen=True, slots=True)
class PendingLink:
    """An external identity waiting for the owner of the matching account."""

    id: uuid.UUID
    user_id: uuid.UUID
    provider: str
    provider_user_id: str
    provider_email: str
    return_to: str


@dataclass(frozen=True, slots=True)
class SignInMethod:
    """One way a user can sign in: the password, or a linked provider."""

    provider: str
    usable: bool


async def insert_state(
    conn: Connection,
    *,
    state_hash: str,
    binding_hash: str,
    provider: str,
    purpose: str,
    return_to: str,
    expires_at: datetime,
    now: datetime,
    user_id: uuid.UUID | None = None,
    session_id: uuid.UUID | None = None,
    provider_link_id: uuid.UUID | None = None,
) -> None:
    """Remember a flow that was just started."""
    await conn.execute(
        """
        INSERT INTO oauth_states (state_hash, binding_hash, provider, purpose, user_id,
                                  session_id, provider_link_id, return_to, expires_at, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        """,
        state_hash,
        binding_hash,
        provider,
        purpose,
        user_id,
        session_id,
        provider_link_id,
        return_to,
        expires_at,
        now,
    )


async def consume_state(
    conn: Connection, *, state_hash: str, binding_hash: str, provider: str, now: datetime
) -> FlowState | None:
    """Consume a live flow state of this browser and provider (compare-and-set, single use)."""
    record = await conn.fetchrow(
        """
        UPDATE oauth_states SET consumed_at = $4
        WHERE state_hash = $1 AND binding_hash = $2 AND provider = $3
          AND consumed_at IS NULL AND expires_at > $4
        RETURNING purpose, user_id, session_id, provider_link_id, return_to
        """,
        state_hash,
        binding_hash,
        provider,
        now,
    )
    return None if record is None else FlowState(**dict(record))


async def record_used_nonce(
    conn: Connection,
    *,
    nonce_hash: str,
    provider: str,
    return_to: str,
    expires_at: datetime,
    now: datetime,
) -> bool:
    """Record an ID-token nonce as used; False when it was used before (a replay)."""
    status = await conn.execute(
        """
        INSERT INTO oauth_states (state_hash, binding_hash, provider, purpose, return_to,
                                  expires_at, created_at, consumed_at)
        VALUES ($1, $1, $2, 'id_token', $3, $4, $5, $5)
        ON CONFLICT (state_hash) DO NOTHING
        """,
        nonce_hash,
        provider,
        return_to,
        expires_at,
        now,
    )
    return status == "INSERT 0 1"


async def find_identity_owner(conn: Connection, provider: str, subject: str) -> uuid.UUID | None:
    """Return the user an external identity is linked to."""
    user_id: uuid.UUID | None = await conn.fetchval(
        "SELECT user_id FROM auth_providers WHERE provider = $1 AND provider_user_id = $2",
        provider,
        subject,
    )
    return user_id


async def insert_identity(
    conn: Connection, *, user_id: uuid.UUID, provider: str, subject: str, now: datetime
) -> None:
    """Link an external identity; raises UniqueViolationError when either side is taken."""
    await conn.execute(
        """
        INSERT INTO auth_providers (user_id, provider, provider_user_id, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $4)
        """,
        user_id,
        provider,
        subject,
        now,
    )


async def lock_sign_in_methods(conn: Connection, user_id: uuid.UUID) -> list[SignInMethod]:
    """Lock the user's row (serialising unlinks) and list their sign-in methods."""
    await conn.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", user_id)
    return await list_sign_in_methods(conn, user_id)


async def list_sign_in_methods(conn: Connection, user_id: uuid.UUID) -> list[SignInMethod]:
    """List a user's sign-in methods, the password first."""
    records = await conn.fetch(
        """
        SELECT provider,
               CASE WHEN provider = $2 THEN coalesce(password_hash, '') <> ''
                    ELSE coalesce(provider_user_id, '') <> '' END AS usable
        FROM auth_providers WHERE user_id = $1
        ORDER BY provider <> $2, created_at, provider
        """,
        user_id,
        PASSWORD_PROVIDER,
    )
    return [SignInMethod(provider=r["provider"], usable=r["usable"]) for r in records]


async def delete_sign_in_method(conn: Connection, user_id: uuid.UUID, provider: str) -> bool:
    """Remove one of a user's sign-in methods; tell whether it existed."""
    status = await conn.execute(
        "DELETE FROM auth_providers WHERE user_id = $1 AND provider = $2", user_id, provider
    )
    return status != "DELETE 0"


async def insert_pending_link(
    conn: Connection,
    *,
    token_hash: str,
    binding_hash: str,
    user_id: uuid.UUID,
    provider: str,
    provider_user_id: str,
    provider_email: str,
    return_to: str,
    expires_at: datetime,
    now: datetime,
) -> None:
    """Remember an identity that may be linked once the account's owner proves themselves."""
    await conn.execute(
        """
        INSERT INTO provider_links (token_hash, binding_hash, user_id, provider, provider_user_id,
                                    provider_email, return_to, expires_at, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        """,
        token_hash,
        binding_hash,
        user_id,
        provider,
        provider_user_id,
        provider_email,
        return_to,
        expires_at,
        now,
    )


_LINK_COLUMNS: Final = "id, user_id, provider, provider_user_id, provider_email, return_to"


async def get_pending_link(
    conn: Connection, *, token_hash: str, binding_hash: str, now: datetime
) -> PendingLink | None:
    """Load a live pending link of this browser."""
    record = await conn.fetchrow(
        f"""
        SELECT {_LINK_COLUMNS} FROM provider_links
        WHERE token_hash = $1 AND binding_hash = $2 AND consumed_at IS NULL AND expires_at > $3
        """,  # noqa: S608  (a constant column list)
        token_hash,
        binding_hash,
        now,
    )
    return None if record is None else PendingLink(**dict(record))


async def get_pending_link_by_id(
    conn: Connection, link_id: uuid.UUID, now: datetime
) -> PendingLink | None:
    """Load a live pending link by id (for the proof flow that refers to it)."""
    record = await conn.fetchrow(
        f"""
        SELECT {_LINK_COLUMNS} FROM provider_links
        WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2
        """,  # noqa: S608  (a constant column list)
        link_id,
        now,
    )
    return None if record is None else PendingLink(**dict(record))


async def consume_pending_link(conn: Connection, link_id: uuid.UUID, now: datetime) -> bool:
    """Mark a pending link used, only if nobody did first (compare-and-set)."""
    status = await conn.execute(
        """
        UPDATE provider_links SET consumed_at = $2
        WHERE id = $1 AND consumed_at IS NULL AND expires_at > $2
        """,
        link_id,
        now,
    )
    return status == "UPDATE 1"


async def session_is_live(
    conn: Connection, *, session_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> bool:
    """Tell whether a session exists for this user, unrevoked and unexpired."""
    live: bool | None = await conn.fetchval(
        """
        SELECT true FROM sessions
        WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3
        """,
        session_id,
        user_id,
        now,
    )
    return bool(live)


async def delete_expired(conn: Connection, now: datetime) -> int:
    """Delete flow states and pending links past their expiry."""
    states = await conn.execute("DELETE FROM oauth_states WHERE expires_at <= $1", now)
    links = await conn.execute("DELETE FROM provider_links WHERE expires_at <= $1", now)
    return int(states.rsplit(" ", 1)[-1]) + int(links.rsplit(" ", 1)[-1])
