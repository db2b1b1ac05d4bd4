"""SQL for organization invitations; the caller locks the organization row first."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from authara_core.platform.db import Connection

_INVITATION: Final = """id, created_at, updated_at, organization_id, email, role, token_hash,
    invited_by_user_id, expires_at, accepted_at, accepted_by_user_id, revoked_at,
    revoked_by_user_id, metadata"""
ACTIVE_EMAIL_INDEX: Final = "uq_organization_invitations_active_email"


@dataclass(frozen=True, slots=True)
class Invitation:
    """An organization_invitations row."""

    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    organization_id: uuid.UUID
    email: str
    role: str
    token_hash: str
    invited_by_user_id: uuid.UUID | None
    expires_at: datetime
    accepted_at: datetime | None
    accepted_by_user_id: uuid.UUID | None
    revoked_at: datetime | None
    revoked_by_user_id: uuid.UUID | None
    metadata: dict[str, Any]


def _invitation(record: asyncpg.Record | Mapping[str, Any]) -> Invitation:
    metadata = record["metadata"]
    if isinstance(metadata, str):  # asyncpg hands jsonb over as text without a codec
        metadata = json.loads(metadata)
    return Invitation(**(dict(record) | {"metadata": metadata}))


async def insert_invitation(
    conn: Connection,
    *,
    organization_id: uuid.UUID,
    email: str,
    role: str,
    token_hash: str,
    invited_by: uuid.UUID | None,
    expires_at: datetime,
    metadata: Mapping[str, Any],
    now: datetime,
) -> Invitation:
    """Insert a pending invitation and return it."""
    record = await conn.fetchrow(
        f"""
        INSERT INTO organization_invitations (organization_id, email, role, token_hash,
            invited_by_user_id, expires_at, metadata, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $8) RETURNING {_INVITATION}
        """,  # noqa: S608
        organization_id,
        email,
        role,
        token_hash,
        invited_by,
        expires_at,
        json.dumps(metadata, separators=(",", ":")),
        now,
    )
    if record is None:
        raise LookupError("the insert returned no row")
    return _invitation(record)


async def active_for_email(
    conn: Connection, organization_id: uuid.UUID, email: str
) -> Invitation | None:
    """Return the organization's active (not accepted, not revoked) invitation for an email."""
    record = await conn.fetchrow(
        f"""
        SELECT {_INVITATION} FROM organization_invitations
        WHERE organization_id = $1 AND lower(email) = lower($2)
          AND accepted_at IS NULL AND revoked_at IS NULL
        FOR UPDATE
        """,  # noqa: S608
        organization_id,
        email,
    )
    return None if record is None else _invitation(record)


async def get_invitation(
    conn: Connection, organization_id: uuid.UUID, invitation_id: uuid.UUID, *, lock: bool = False
) -> Invitation | None:
    """Return one of the organization's invitations, locked FOR UPDATE when asked."""
    record = await conn.fetchrow(
        f"""
        SELECT {_INVITATION} FROM organization_invitations
        WHERE organization_id = $1 AND id = $2 {"FOR UPDATE" if lock else ""}
        """,  # noqa: S608
        organization_id,
        invitation_id,
    )
    return None if record is None else _invitation(record)


async def get_invitation_by_id(conn: Connection, invitation_id: uuid.UUID) -> Invitation | None:
    """Return an invitation by id alone (unlocked: lock its organization, then it, to use it)."""
    record = await conn.fetchrow(
        f"SELECT {_INVITATION} FROM organization_invitations WHERE id = $1",  # noqa: S608
        invitation_id,
    )
    return None if record is None else _invitation(record)


async def list_invitations(conn: Connection, organization_id: uuid.UUID) -> list[Invitation]:
    """List the organization's invitations, newest first (then by id)."""
    records = await conn.fetch(
        f"""
        SELECT {_INVITATION} FROM organization_invitations
        WHERE organization_id = $1 ORDER BY created_at DESC, id
        """,  # noqa: S608
        organization_id,
    )
    return [_invitation(record) for record in records]


async def revoke_invitation(
    conn: Connection, invitation_id: uuid.UUID, *, by: uuid.UUID | None, now: datetime
) -> Invitation:
    """Mark an invitation revoked and return it."""
    record = await conn.fetchrow(
        f"""
        UPDATE organization_invitations
        SET revoked_at = $2, revoked_by_user_id = $3, updated_at = $2
        WHERE id = $1 RETURNING {_INVITATION}
        """,  # noqa: S608
        invitation_id,
        now,
        by,
    )
    if record is None:
        raise LookupError("the locked invitation is gone")
    return _invitation(record)


async def email_is_member(conn: Connection, organization_id: uuid.UUID, email: str) -> bool:
    """Say whether a user with this email (any case) belongs to the organization."""
    found: bool = await conn.fetchval(
        """
        SELECT EXISTS (
            SELECT 1 FROM organization_memberships m JOIN users u ON u.id = m.user_id
            WHERE m.organization_id = $1 AND lower(u.email) = lower($2))
        """,
        organization_id,
        email,
    )
    return found


@dataclass(frozen=True, slots=True)
class InvitationLink:
    """An invitation found by its token, with the name of the organization it is for."""

    invitation: Invitation
    organization_name: str


async def find_by_token_hash(conn: Connection, token_hash: str) -> InvitationLink | None:
    """Return the invitation a token opens (any status), with its organization's name."""
    record = await conn.fetchrow(
        f"""
        SELECT {_qualified("i")}, o.name AS organization_name
        FROM organization_invitations i JOIN organizations o ON o.id = i.organization_id
        WHERE i.token_hash = $1
        """,  # noqa: S608
        token_hash,
    )
    if record is None:
        return None
    fields = dict(record)
    name = fields.pop("organization_name")
    return InvitationLink(_invitation(fields), name)


async def mark_accepted(
    conn: Connection, invitation_id: uuid.UUID, *, by: uuid.UUID, now: datetime
) -> Invitation | None:
    """Accept a pending invitation (compare-and-set): None unless it was still pending."""
    record = await conn.fetchrow(
        f"""
        UPDATE organization_invitations
        SET accepted_at = $3, accepted_by_user_id = $2, updated_at = $3
        WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3
        RETURNING {_INVITATION}
        """,  # noqa: S608
        invitation_id,
        by,
        now,
    )
    return None if record is None else _invitation(record)


async def delete_for_user(conn: Connection, user_id: uuid.UUID, email: str) -> int:
    """Delete the invitations sent to a user's email or accepted by them (account deletion)."""
    status: str = await conn.execute(
        """
        DELETE FROM organization_invitations
        WHERE lower(email) = lower($2) OR accepted_by_user_id = $1
        """,
        user_id,
        email,
    )
    return int(status.rsplit(" ", 1)[-1])


def _qualified(alias: str) -> str:
    return ", ".join(f"{alias}.{name.strip()}" for name in _INVITATION.split(","))
