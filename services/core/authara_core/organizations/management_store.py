"""SQL for managing organizations and memberships (the internal API); rows lock FOR UPDATE."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg

from authara_contract.claims import OrganizationRole
from authara_core.platform.db import Connection

_ORGANIZATION: Final = "id, created_at, updated_at, name, kind, created_by_user_id"
_MEMBERSHIP: Final = "organization_id, user_id, role, created_at, updated_at"


@dataclass(frozen=True, slots=True)
class Organization:
    """An organization row."""

    id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    name: str
    kind: str
    created_by_user_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class Membership:
    """A membership row."""

    organization_id: uuid.UUID
    user_id: uuid.UUID
    role: OrganizationRole
    created_at: datetime
    updated_at: datetime


def _returned(record: asyncpg.Record | None) -> asyncpg.Record:
    """Return the row an INSERT or UPDATE ... RETURNING gave back."""
    if record is None:
        raise LookupError("the statement returned no row")
    return record


def _organization(record: asyncpg.Record) -> Organization:
    return Organization(**dict(record))


def _membership(record: asyncpg.Record) -> Membership:
    return Membership(**(dict(record) | {"role": OrganizationRole(record["role"])}))


async def insert_organization(
    conn: Connection, *, name: str, kind: str, created_by: uuid.UUID, now: datetime
) -> Organization:
    """Insert an organization and return it."""
    record = await conn.fetchrow(
        f"""
        INSERT INTO organizations (name, kind, created_by_user_id, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $4) RETURNING {_ORGANIZATION}
        """,  # noqa: S608
        name,
        kind,
        created_by,
        now,
    )
    return _organization(_returned(record))


async def insert_membership(
    conn: Connection,
    *,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    role: OrganizationRole,
    now: datetime,
) -> Membership:
    """Make a user a member of an organization and return the membership."""
    record = await conn.fetchrow(
        f"""
        INSERT INTO organization_memberships
            (organization_id, user_id, role, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $4) RETURNING {_MEMBERSHIP}
        """,  # noqa: S608
        organization_id,
        user_id,
        role.value,
        now,
    )
    return _membership(_returned(record))


async def lock_organization(conn: Connection, organization_id: uuid.UUID) -> Organization | None:
    """Lock an organization until commit: every change to its memberships takes this lock."""
    record = await conn.fetchrow(
        f"SELECT {_ORGANIZATION} FROM organizations WHERE id = $1 FOR UPDATE",  # noqa: S608
        organization_id,
    )
    return None if record is None else _organization(record)


async def lock_memberships(conn: Connection, organization_id: uuid.UUID) -> list[Membership]:
    """Lock and return an organization's memberships (sessions cannot join them meanwhile)."""
    records = await conn.fetch(
        f"""
        SELECT {_MEMBERSHIP} FROM organization_memberships
        WHERE organization_id = $1 ORDER BY user_id FOR UPDATE
        """,  # noqa: S608
        organization_id,
    )
    return [_membership(record) for record in records]


async def organization_ids_of(conn: Connection, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Return the ids of the organizations a user belongs to, in id order (the lock order)."""
    records = await conn.fetch(
        "SELECT organization_id FROM organization_memberships WHERE user_id = $1"
        " ORDER BY organization_id",
        user_id,
    )
    return [record["organization_id"] for record in records]


async def fallback_organization(
    conn: Connection, user_id: uuid.UUID, leaving: uuid.UUID
) -> uuid.UUID | None:
    """Return the organization a user's sessions go to when they leave one (default order)."""
    organization_id: uuid.UUID | None = await conn.fetchval(
        """
        SELECT m.organization_id
        FROM organization_memberships m
        JOIN organizations o ON o.id = m.organization_id
        WHERE m.user_id = $1 AND m.organization_id <> $2
        ORDER BY (o.kind = 'personal' AND o.created_by_user_id = $1) DESC,
                 m.created_at, m.organization_id
        LIMIT 1
        """,
        user_id,
        leaving,
    )
    return organization_id


async def delete_membership(
    conn: Connection, organization_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Delete one membership."""
    await conn.execute(
        "DELETE FROM organization_memberships WHERE organization_id = $1 AND user_id = $2",
        organization_id,
        user_id,
    )


async def delete_organization(conn: Connection, organization_id: uuid.UUID) -> None:
    """Delete an organization (its memberships must be gone already)."""
    await conn.execute("DELETE FROM organizations WHERE id = $1", organization_id)


async def set_role(
    conn: Connection,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    role: OrganizationRole,
    now: datetime,
) -> Membership:
    """Change a member's role and return the membership."""
    record = await conn.fetchrow(
        f"""
        UPDATE organization_memberships SET role = $3, updated_at = $4
        WHERE organization_id = $1 AND user_id = $2 RETURNING {_MEMBERSHIP}
        """,  # noqa: S608
        organization_id,
        user_id,
        role.value,
        now,
    )
    return _membership(_returned(record))
