"""SQL for email challenges, their codes and what a verified challenge applies."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg

from authara_core.platform.db import Connection

_CHALLENGE: Final = """id, purpose, email, user_id, opaque, expires_at, consumed_at,
    attempt_count, max_attempts, resend_count, max_resends, last_sent_at"""


@dataclass(frozen=True, slots=True)
class ChallengeRow:
    """A challenges row."""

    id: uuid.UUID
    purpose: str
    email: str
    user_id: uuid.UUID | None
    opaque: bool
    expires_at: datetime
    consumed_at: datetime | None
    attempt_count: int
    max_attempts: int
    resend_count: int
    max_resends: int
    last_sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class CodeRow:
    """A challenge's live code: its HMAC, the JWT key id it was made with, its expiry."""

    code_hash: str
    key_id: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PendingSignup:
    """The account a verified signup creates (the password already hashed)."""

    email: str
    password_hash: str
    invitation_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class PendingReset:
    """The password a verified reset sets."""

    user_id: uuid.UUID
    password_hash: str


@dataclass(frozen=True, slots=True)
class PendingEmailChange:
    """The address a verified email change moves an account to."""

    user_id: uuid.UUID
    old_email: str
    new_email: str


def _challenge(record: asyncpg.Record) -> ChallengeRow:
    return ChallengeRow(**dict(record))


async def insert_challenge(
    conn: Connection,
    *,
    purpose: str,
    email: str,
    user_id: uuid.UUID | None,
    opaque: bool,
    expires_at: datetime,
    max_attempts: int,
    max_resends: int,
    now: datetime,
) -> uuid.UUID:
    """Insert a challenge, counted as sent now (its mail is queued in the same transaction)."""
    challenge_id: uuid.UUID = await conn.fetchval(
        """
        INSERT INTO challenges (purpose, email, user_id, opaque, expires_at, max_attempts,
            max_resends, last_sent_at, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8) RETURNING id
        """,
        purpose,
        email,
        user_id,
        opaque,
        expires_at,
        max_attempts,
        max_resends,
        now,
    )
    return challenge_id


async def get_user_id(conn: Connection, challenge_id: uuid.UUID) -> uuid.UUID | None:
    """Return the account a challenge belongs to (None for signups and unknown ids)."""
    user_id: uuid.UUID | None = await conn.fetchval(
        "SELECT user_id FROM challenges WHERE id = $1", challenge_id
    )
    return user_id


async def lock_challenge(conn: Connection, challenge_id: uuid.UUID) -> ChallengeRow | None:
    """Return a challenge locked FOR UPDATE until the transaction ends."""
    record = await conn.fetchrow(
        f"SELECT {_CHALLENGE} FROM challenges WHERE id = $1 FOR UPDATE",  # noqa: S608
        challenge_id,
    )
    return None if record is None else _challenge(record)


async def count_attempt(conn: Connection, challenge_id: uuid.UUID, now: datetime) -> None:
    """Count one wrong code."""
    await conn.execute(
        "UPDATE challenges SET attempt_count = attempt_count + 1, updated_at = $2 WHERE id = $1",
        challenge_id,
        now,
    )


async def consume(conn: Connection, challenge_id: uuid.UUID, now: datetime) -> bool:
    """Mark a challenge used, once (compare-and-set); drop its code; tell whether it was open."""
    status = await conn.execute(
        """
        UPDATE challenges SET consumed_at = $2, updated_at = $2
        WHERE id = $1 AND consumed_at IS NULL
        """,
        challenge_id,
        now,
    )
    if status != "UPDATE 1":
        return False
    await conn.execute("DELETE FROM verification_codes WHERE challenge_id = $1", challenge_id)
    return True


async def record_resend(conn: Connection, challenge_id: uuid.UUID, now: datetime) -> None:
    """Count a resend and restart the interval before the next one."""
    await conn.execute(
        """
        UPDATE challenges SET resend_count = resend_count + 1, last_sent_at = $2, updated_at = $2
        WHERE id = $1
        """,
        challenge_id,
        now,
    )


async def mark_sent(conn: Connection, challenge_id: uuid.UUID, now: datetime) -> None:
    """Note that a code just went out."""
    await conn.execute(
        "UPDATE challenges SET last_sent_at = $2, updated_at = $2 WHERE id = $1",
        challenge_id,
        now,
    )


async def get_code(conn: Connection, challenge_id: uuid.UUID) -> CodeRow | None:
    """Return a challenge's live code, if one was sent."""
    record = await conn.fetchrow(
        "SELECT code_hash, key_id, expires_at FROM verification_codes WHERE challenge_id = $1",
        challenge_id,
    )
    return None if record is None else CodeRow(**dict(record))


async def put_code(
    conn: Connection,
    challenge_id: uuid.UUID,
    *,
    code_hash: str,
    key_id: str,
    expires_at: datetime,
    now: datetime,
) -> None:
    """Store a challenge's new code, replacing the previous one."""
    await conn.execute(
        """
        INSERT INTO verification_codes (challenge_id, code_hash, key_id, expires_at, created_at)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (challenge_id) DO UPDATE SET code_hash = excluded.code_hash,
            key_id = excluded.key_id, expires_at = excluded.expires_at,
            created_at = excluded.created_at
        """,
        challenge_id,
        code_hash,
        key_id,
        expires_at,
        now,
    )


async def insert_pending_signup(
    conn: Connection,
    challenge_id: uuid.UUID,
    *,
    email: str,
    password_hash: str,
    invitation_id: uuid.UUID | None,
    now: datetime,
) -> None:
    """Keep the account a signup challenge creates once verified."""
    await conn.execute(
        """
        INSERT INTO pending_signup_actions (challenge_id, email, password_hash, invitation_id,
            created_at)
        VALUES ($1, $2, $3, $4, $5)
        """,
        challenge_id,
        email,
        password_hash,
        invitation_id,
        now,
    )


async def get_pending_signup(conn: Connection, challenge_id: uuid.UUID) -> PendingSignup | None:
    """Return what a signup challenge creates."""
    record = await conn.fetchrow(
        """
        SELECT email, password_hash, invitation_id FROM pending_signup_actions
        WHERE challenge_id = $1
        """,
        challenge_id,
    )
    return None if record is None else PendingSignup(**dict(record))


async def insert_pending_reset(
    conn: Connection,
    challenge_id: uuid.UUID,
    *,
    user_id: uuid.UUID,
    password_hash: str,
    now: datetime,
) -> None:
    """Keep the password a reset challenge sets once verified."""
    await conn.execute(
        """
        INSERT INTO pending_password_resets (challenge_id, user_id, password_hash, created_at)
        VALUES ($1, $2, $3, $4)
        """,
        challenge_id,
        user_id,
        password_hash,
        now,
    )


async def get_pending_reset(conn: Connection, challenge_id: uuid.UUID) -> PendingReset | None:
    """Return the password a reset challenge sets."""
    record = await conn.fetchrow(
        "SELECT user_id, password_hash FROM pending_password_resets WHERE challenge_id = $1",
        challenge_id,
    )
    return None if record is None else PendingReset(**dict(record))


async def insert_pending_email_change(
    conn: Connection,
    challenge_id: uuid.UUID,
    *,
    user_id: uuid.UUID,
    old_email: str,
    new_email: str,
    now: datetime,
) -> None:
    """Keep the address an email-change challenge moves the account to."""
    await conn.execute(
        """
        INSERT INTO pending_email_changes (challenge_id, user_id, old_email, new_email, created_at)
        VALUES ($1, $2, $3, $4, $5)
        """,
        challenge_id,
        user_id,
        old_email,
        new_email,
        now,
    )


async def get_pending_email_change(
    conn: Connection, challenge_id: uuid.UUID
) -> PendingEmailChange | None:
    """Return the address an email-change challenge moves the account to."""
    record = await conn.fetchrow(
        """
        SELECT user_id, old_email, new_email FROM pending_email_changes WHERE challenge_id = $1
        """,
        challenge_id,
    )
    return None if record is None else PendingEmailChange(**dict(record))


async def delete_for_user(conn: Connection, user_id: uuid.UUID, email: str) -> int:
    """Delete a user's challenges and every challenge for their email; return how many.

    Codes, pending rows and queued mails go with them (foreign keys cascade).
    """
    status = await conn.execute(
        "DELETE FROM challenges WHERE user_id = $1 OR lower(email) = lower($2)",
        user_id,
        email,
    )
    return int(status.rsplit(" ", 1)[-1])


async def delete_expired(conn: Connection, before: datetime) -> int:
    """Delete challenges that expired before `before`; return how many."""
    status = await conn.execute("DELETE FROM challenges WHERE expires_at < $1", before)
    return int(status.rsplit(" ", 1)[-1])


async def delete_open_resets(conn: Connection, user_id: uuid.UUID) -> int:
    """Delete a user's unverified password-reset challenges (their pending rows cascade)."""
    status = await conn.execute(
        """
        DELETE FROM challenges
        WHERE user_id = $1 AND purpose = 'password_reset' AND consumed_at IS NULL
        """,
        user_id,
    )
    return int(status.rsplit(" ", 1)[-1])
