"""Passkeys' SQL: credentials and the ceremonies' single-use challenges (never commits)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg

from authara_core.platform.db import Connection

REGISTRATION: Final = "registration"
AUTHENTICATION: Final = "authentication"
_COLUMNS: Final = (
    "id, user_id, credential_id, public_key, sign_count, transports, aaguid, attestation_format,"
    " user_verified, backup_eligible, backup_state, clone_warning, name, created_at,"
    " last_used_at"
)


@dataclass(frozen=True, slots=True)
class PasskeyRow:
    """A stored credential."""

    id: uuid.UUID
    user_id: uuid.UUID
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str
    attestation_format: str
    user_verified: bool
    backup_eligible: bool
    backup_state: bool
    clone_warning: bool
    name: str
    created_at: datetime
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewPasskey:
    """What a verified registration stores."""

    user_id: uuid.UUID
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    aaguid: str
    attestation_format: str
    user_verified: bool
    backup_eligible: bool
    backup_state: bool
    name: str


def _row(r: asyncpg.Record) -> PasskeyRow:
    return PasskeyRow(
        id=r["id"],
        user_id=r["user_id"],
        credential_id=bytes(r["credential_id"]),
        public_key=bytes(r["public_key"]),
        sign_count=r["sign_count"],
        transports=tuple(r["transports"]),
        aaguid=r["aaguid"],
        attestation_format=r["attestation_format"],
        user_verified=r["user_verified"],
        backup_eligible=r["backup_eligible"],
        backup_state=r["backup_state"],
        clone_warning=r["clone_warning"],
        name=r["name"],
        created_at=r["created_at"],
        last_used_at=r["last_used_at"],
    )


async def insert_challenge(
    conn: Connection,
    *,
    purpose: str,
    challenge: bytes,
    user_id: uuid.UUID | None,
    expires_at: datetime,
    now: datetime,
) -> uuid.UUID:
    """Store a ceremony's challenge; return its id."""
    challenge_id = uuid.uuid4()
    await conn.execute(
        """
        INSERT INTO webauthn_challenges (id, created_at, user_id, purpose, challenge, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        """,
        challenge_id,
        now,
        user_id,
        purpose,
        challenge,
        expires_at,
    )
    return challenge_id


async def consume_challenge(
    conn: Connection,
    challenge_id: uuid.UUID,
    *,
    purpose: str,
    user_id: uuid.UUID | None,
    now: datetime,
) -> bytes | None:
    """Mark a live challenge of this purpose (and user) used; return it, or None (compare-and-set).

    Unknown, used, expired, of the other purpose or another user's: None, and nothing changes.
    """
    value = await conn.fetchval(
        """
        UPDATE webauthn_challenges SET consumed_at = $3
        WHERE id = $1 AND purpose = $2 AND consumed_at IS NULL AND expires_at > $3
          AND user_id IS NOT DISTINCT FROM $4
        RETURNING challenge
        """,
        challenge_id,
        purpose,
        now,
        user_id,
    )
    return None if value is None else bytes(value)


async def delete_old_challenges(conn: Connection, *, now: datetime) -> int:
    """Delete expired challenges, used or not; return how many."""
    status = await conn.execute("DELETE FROM webauthn_challenges WHERE expires_at <= $1", now)
    return int(status.split()[-1])


async def list_for_user(conn: Connection, user_id: uuid.UUID) -> list[PasskeyRow]:
    """List the user's passkeys, oldest first."""
    records = await conn.fetch(
        f"SELECT {_COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id",  # noqa: S608
        user_id,
    )
    return [_row(r) for r in records]


async def credential_ids(conn: Connection, user_id: uuid.UUID) -> list[tuple[bytes, list[str]]]:
    """List the user's credential ids and transports (a registration excludes them)."""
    records = await conn.fetch(
        "SELECT credential_id, transports FROM passkeys WHERE user_id = $1 ORDER BY created_at",
        user_id,
    )
    return [(bytes(r["credential_id"]), list(r["transports"])) for r in records]


async def insert_passkey(conn: Connection, passkey: NewPasskey, *, now: datetime) -> uuid.UUID:
    """Store a verified credential; a credential id stored already raises UniqueViolationError."""
    passkey_id = uuid.uuid4()
    await conn.execute(
        """
        INSERT INTO passkeys
            (id, created_at, updated_at, user_id, credential_id, public_key, sign_count,
             transports, aaguid, attestation_format, user_verified, backup_eligible,
             backup_state, name)
        VALUES ($1, $2, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        """,
        passkey_id,
        now,
        passkey.user_id,
        passkey.credential_id,
        passkey.public_key,
        passkey.sign_count,
        list(passkey.transports),
        passkey.aaguid,
        passkey.attestation_format,
        passkey.user_verified,
        passkey.backup_eligible,
        passkey.backup_state,
        passkey.name,
    )
    return passkey_id


async def lock_by_credential_id(conn: Connection, credential_id: bytes) -> PasskeyRow | None:
    """Lock and return the passkey with this credential id (its counter is about to move)."""
    record = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM passkeys WHERE credential_id = $1 FOR UPDATE",  # noqa: S608
        credential_id,
    )
    return None if record is None else _row(record)


async def record_use(
    conn: Connection,
    passkey_id: uuid.UUID,
    *,
    sign_count: int,
    backup_state: bool,
    now: datetime,
) -> None:
    """Move a passkey's counter and backup state after a verified sign-in."""
    await conn.execute(
        """
        UPDATE passkeys SET sign_count = $2, backup_state = $3, last_used_at = $4, updated_at = $4
        WHERE id = $1
        """,
        passkey_id,
        sign_count,
        backup_state,
        now,
    )


async def flag_clone(conn: Connection, passkey_id: uuid.UUID, *, now: datetime) -> None:
    """Mark a passkey whose counter went backwards."""
    await conn.execute(
        "UPDATE passkeys SET clone_warning = true, updated_at = $2 WHERE id = $1",
        passkey_id,
        now,
    )


async def rename(
    conn: Connection, passkey_id: uuid.UUID, user_id: uuid.UUID, name: str, *, now: datetime
) -> bool:
    """Rename one of the user's passkeys; tell whether it existed."""
    status = await conn.execute(
        "UPDATE passkeys SET name = $3, updated_at = $4 WHERE id = $1 AND user_id = $2",
        passkey_id,
        user_id,
        name,
        now,
    )
    return status != "UPDATE 0"


async def delete(conn: Connection, passkey_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Delete one of the user's passkeys; tell whether it existed."""
    status = await conn.execute(
        "DELETE FROM passkeys WHERE id = $1 AND user_id = $2", passkey_id, user_id
    )
    return status != "DELETE 0"


async def count_for_user(conn: Connection, user_id: uuid.UUID) -> int:
    """How many passkeys the user can sign in with (one flagged as a clone signs in no more)."""
    count = await conn.fetchval(
        "SELECT count(*) FROM passkeys WHERE user_id = $1 AND NOT clone_warning", user_id
    )
    return int(count or 0)


async def has_other_sign_in_method(conn: Connection, user_id: uuid.UUID) -> bool:
    """Tell whether the user can sign in without passkeys: a password, or a linked provider."""
    found = await conn.fetchval(
        """
        SELECT EXISTS (
            SELECT 1 FROM auth_providers
            WHERE user_id = $1
              AND CASE WHEN provider = 'password' THEN coalesce(password_hash, '') <> ''
                       ELSE coalesce(provider_user_id, '') <> '' END
        )
        """,
        user_id,
    )
    return bool(found)
