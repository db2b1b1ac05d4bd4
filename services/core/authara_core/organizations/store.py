"""SQL for organizations, memberships and the pinned organization mode."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from authara_contract.claims import OrganizationMode, OrganizationRole
from authara_core.platform.db import Connection


@dataclass(frozen=True, slots=True)
class MembershipRow:
    """An organization as one member sees it."""

    organization_id: uuid.UUID
    name: str
    role: OrganizationRole


async def insert_organization(
    conn: Connection, *, name: str, kind: str, created_by: uuid.UUID, now: datetime
) -> uuid.UUID:
    """Insert an organization and return its id."""
    organization_id: uuid.UUID = await conn.fetchval(
        """
        INSERT INTO organizations (name, kind, created_by_user_id, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $4) RETURNING id
        """,
        name,
        kind,
        created_by,
        now,
    )
    return organization_id


async def insert_membership(
    conn: Connection,
    *,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    role: OrganizationRole,
    now: datetime,
) -> None:
    """Make a user a member of an organization."""
    await conn.execute(
        """
        INSERT INTO organization_memberships
            (organization_id, user_id, role, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $4)
        """,
        organization_id,
        user_id,
        role.value,
        now,
    )


def _membership(record: asyncpg.Record | None) -> MembershipRow | None:
    if record is None:
        return None
    return MembershipRow(
        record["organization_id"], record["name"], OrganizationRole(record["role"])
    )


async def get_default_membership(conn: Connection, user_id: uuid.UUID) -> MembershipRow | None:
    """Return the personal organization the user created, else their oldest membership."""
    record = await conn.fetchrow(
        """
        SELECT m.organization_id, o.name, m.role
        FROM organization_memberships m
        JOIN organizations o ON o.id = m.organization_id
        WHERE m.user_id = $1
        ORDER BY (o.kind = 'personal' AND o.created_by_user_id = $1) DESC,
                 m.created_at, m.organization_id
        LIMIT 1
        """,
        user_id,
    )
    return _membership(record)


async def get_membership(
    conn: Connection, organization_id: uuid.UUID, user_id: uuid.UUID
) -> MembershipRow | None:
    """Return a user's membership in one organization, if they are a member."""
    record = await conn.fetchrow(
        """
        SELECT m.organization_id, o.name, m.role
        FROM organization_memberships m
        JOIN organizations o ON o.id = m.organization_id
        WHERE m.organization_id = $1 AND m.user_id = $2
        """,
        organization_id,
        user_id,
    )
    return _membership(record)


async def pin_mode(conn: Connection, mode: OrganizationMode) -> OrganizationMode:
    """Store the mode if none is stored yet; return the stored one."""
    await conn.execute(
        "INSERT INTO organization_mode (id, mode) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        mode.value,
    )
    stored: str = await conn.fetchval("SELECT mode FROM organization_mode WHERE id = 1")
    return OrganizationMode(stored)
