"""SQL for the public management group: an organization, its members, a user's memberships."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg

from authara_contract.claims import OrganizationRole
from authara_core.organizations.management_store import Membership, Organization
from authara_core.platform.db import Connection

_ORGANIZATION: Final = "o.id, o.created_at, o.updated_at, o.name, o.kind, o.created_by_user_id"
_MEMBER: Final = """
    SELECT m.organization_id, m.user_id, u.email, u.username, m.role, m.created_at,
           m.updated_at, u.disabled_at IS NOT NULL AS disabled
    FROM organization_memberships m
    JOIN users u ON u.id = m.user_id
    WHERE m.organization_id = $1"""


@dataclass(frozen=True, slots=True)
class OrganizationMember:
    """A membership with its user's public fields (the OrganizationMember schema)."""

    organization_id: uuid.UUID
    user_id: uuid.UUID
    email: str
    username: str
    role: OrganizationRole
    created_at: datetime
    updated_at: datetime
    disabled: bool


def _organization(record: asyncpg.Record) -> Organization:
    return Organization(
        record["id"],
        record["created_at"],
        record["updated_at"],
        record["name"],
        record["kind"],
        record["created_by_user_id"],
    )


def _member(record: asyncpg.Record) -> OrganizationMember:
    return OrganizationMember(**(dict(record) | {"role": OrganizationRole(record["role"])}))


async def get_organization(conn: Connection, organization_id: uuid.UUID) -> Organization | None:
    """Return an organization, if it exists."""
    record = await conn.fetchrow(
        f"SELECT {_ORGANIZATION} FROM organizations o WHERE o.id = $1",  # noqa: S608
        organization_id,
    )
    return None if record is None else _organization(record)


async def get_role(
    conn: Connection, organization_id: uuid.UUID, user_id: uuid.UUID
) -> OrganizationRole | None:
    """Return a user's role in an organization, or None when they are not a member."""
    role: str | None = await conn.fetchval(
        "SELECT role FROM organization_memberships WHERE organization_id = $1 AND user_id = $2",
        organization_id,
        user_id,
    )
    return None if role is None else OrganizationRole(role)


async def rename_organization(
    conn: Connection, organization_id: uuid.UUID, name: str, now: datetime
) -> Organization:
    """Rename an organization (its row is locked by the caller) and return it."""
    record = await conn.fetchrow(
        f"""
        UPDATE organizations o SET name = $2, updated_at = GREATEST($3, o.updated_at)
        WHERE o.id = $1 RETURNING {_ORGANIZATION}
        """,  # noqa: S608
        organization_id,
        name,
        now,
    )
    if record is None:
        raise LookupError("the locked organization is gone")
    return _organization(record)


async def list_members(conn: Connection, organization_id: uuid.UUID) -> list[OrganizationMember]:
    """List an organization's members, longest-standing first (then by user id)."""
    records = await conn.fetch(f"{_MEMBER} ORDER BY m.created_at, m.user_id", organization_id)
    return [_member(record) for record in records]


async def get_member(
    conn: Connection, organization_id: uuid.UUID, user_id: uuid.UUID
) -> OrganizationMember | None:
    """Return one member of an organization, if that user is one."""
    record = await conn.fetchrow(f"{_MEMBER} AND m.user_id = $2", organization_id, user_id)
    return None if record is None else _member(record)


async def list_memberships(
    conn: Connection, user_id: uuid.UUID
) -> list[tuple[Organization, Membership]]:
    """List a user's organizations with their membership in each, by name then id."""
    records = await conn.fetch(
        f"""
        SELECT {_ORGANIZATION}, m.role, m.created_at AS m_created_at,
               m.updated_at AS m_updated_at
        FROM organization_memberships m
        JOIN organizations o ON o.id = m.organization_id
        WHERE m.user_id = $1
        ORDER BY o.name, o.id
        """,  # noqa: S608
        user_id,
    )
    return [
        (
            _organization(r),
            Membership(
                r["id"],
                user_id,
                OrganizationRole(r["role"]),
                r["m_created_at"],
                r["m_updated_at"],
            ),
        )
        for r in records
    ]
