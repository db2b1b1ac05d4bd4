"""SQL for organizations, memberships and the pinned organization mode."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from authara_contract.claims import OrganizationMode, OrganizationRole
from authara_core.accounts.users import UserRow
from authara_core.platform.db import Connection, Executor


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
    """Return the personal organization the user created, else their oldest membership.

    The row is locked against deletion until the transaction ends: a session about to be
    created in it must not lose the membership its foreign key needs (a 500) to a removal
    that runs at the same moment; the removal waits, or wins and the row is not returned.
    """
    record = await conn.fetchrow(
        """
        SELECT m.organization_id, o.name, m.role
        FROM organization_memberships m
        JOIN organizations o ON o.id = m.organization_id
        WHERE m.user_id = $1
        ORDER BY (o.kind = 'personal' AND o.created_by_user_id = $1) DESC,
                 m.created_at, m.organization_id
        LIMIT 1
        FOR KEY SHARE OF m
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


async def get_member_with_roles(
    conn: Executor, organization_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[UserRow, list[str], MembershipRow] | None:
    """Load a user, their platform role names and their membership in one round trip.

    None when the user is gone or is not a member of that organization (any more).
    """
    record = await conn.fetchrow(
        """
        SELECT u.id, u.email, u.username, u.created_at, u.disabled_at,
               array(SELECT r.name FROM user_platform_roles ur
                     JOIN platform_roles r ON r.id = ur.role_id
                     WHERE ur.user_id = u.id ORDER BY r.name) AS roles,
               o.name AS organization_name, m.role
        FROM organization_memberships m
        JOIN users u ON u.id = m.user_id
        JOIN organizations o ON o.id = m.organization_id
        WHERE m.organization_id = $1 AND m.user_id = $2
        """,
        organization_id,
        user_id,
    )
    if record is None:
        return None
    user = UserRow(
        id=record["id"],
        email=record["email"],
        username=record["username"],
        created_at=record["created_at"],
        disabled_at=record["disabled_at"],
    )
    membership = MembershipRow(
        organization_id, record["organization_name"], OrganizationRole(record["role"])
    )
    return user, list(record["roles"]), membership


async def pin_mode(conn: Connection, mode: OrganizationMode) -> OrganizationMode:
    """Store the mode if none is stored yet; return the stored one."""
    await conn.execute(
        "INSERT INTO organization_mode (id, mode) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
        mode.value,
    )
    stored: str = await conn.fetchval("SELECT mode FROM organization_mode WHERE id = 1")
    return OrganizationMode(stored)


# --- The public organization API (organizations/directory.py): a member's view. ---


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A member of an organization as its other members see them."""

    user_id: uuid.UUID
    email: str
    username: str
    role: OrganizationRole
    created_at: datetime


async def list_memberships(
    conn: Connection, user_id: uuid.UUID, active_id: uuid.UUID
) -> list[MembershipRow]:
    """List a user's memberships: the active organization first, then by name and id."""
    records = await conn.fetch(
        """
        SELECT m.organization_id, o.name, m.role
        FROM organization_memberships m
        JOIN organizations o ON o.id = m.organization_id
        WHERE m.user_id = $1
        ORDER BY m.organization_id = $2 DESC, o.name, o.id
        """,
        user_id,
        active_id,
    )
    return [
        MembershipRow(r["organization_id"], r["name"], OrganizationRole(r["role"])) for r in records
    ]


async def list_members(conn: Connection, organization_id: uuid.UUID) -> list[MemberRow]:
    """List an organization's members, longest-standing first (then by user id)."""
    records = await conn.fetch(
        """
        SELECT m.user_id, u.email, u.username, m.role, m.created_at
        FROM organization_memberships m
        JOIN users u ON u.id = m.user_id
        WHERE m.organization_id = $1
        ORDER BY m.created_at, m.user_id
        """,
        organization_id,
    )
    return [
        MemberRow(
            r["user_id"], r["email"], r["username"], OrganizationRole(r["role"]), r["created_at"]
        )
        for r in records
    ]


async def lock_membership(
    conn: Connection, organization_id: uuid.UUID, user_id: uuid.UUID
) -> MembershipRow | None:
    """Return a membership and keep it from being deleted until the transaction ends."""
    record = await conn.fetchrow(
        """
        SELECT m.organization_id, o.name, m.role
        FROM organization_memberships m
        JOIN organizations o ON o.id = m.organization_id
        WHERE m.organization_id = $1 AND m.user_id = $2
        FOR KEY SHARE OF m
        """,
        organization_id,
        user_id,
    )
    return _membership(record)
