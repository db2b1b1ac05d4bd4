"""Organizations: each user's first organization, the session's default, the pinned mode."""

from __future__ import annotations

import uuid

from authara_contract.claims import OrganizationMode, OrganizationRole
from authara_core.accounts.users import UserRow
from authara_core.organizations import events
from authara_core.organizations import store as organization_store
from authara_core.organizations.store import MembershipRow
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database, Executor
from authara_core.platform.errors import OrganizationModeMismatch
from authara_core.platform.outbox import Outbox

PERSONAL = "personal"
TEAM = "team"
FALLBACK_NAME = "Personal workspace"

__all__ = [
    "MembershipRow",
    "OrganizationService",
    "default_membership_in",
    "member_with_roles_in",
    "membership_in",
    "organization_name",
]


def organization_name(username: str, email: str) -> str:
    """Name a user's first organization: username, else email local part, else a fallback."""
    return username.strip() or email.partition("@")[0].strip() or FALLBACK_NAME


class OrganizationService:
    """Create users' organizations according to the mode, and pin that mode."""

    def __init__(
        self, *, db: Database, clock: Clock, events: Outbox, mode: OrganizationMode
    ) -> None:
        self._db = db
        self._clock = clock
        self._events = events
        self._mode = mode

    async def pin_mode(self) -> None:
        """Store the configured mode on first start; refuse a database pinned to another."""
        async with self._db.transaction() as conn:
            stored = await organization_store.pin_mode(conn, self._mode)
        if stored is not self._mode:
            raise OrganizationModeMismatch(
                f"organization mode mismatch: database={stored} config={self._mode}"
            )

    async def create_first_in(
        self, conn: Connection, *, user_id: uuid.UUID, username: str, email: str
    ) -> MembershipRow:
        """Give a new user their organization (inside the caller's transaction), as owner.

        Personal and multi mode: a personal organization. Single mode: a team organization
        named after the user.
        """
        name = organization_name(username, email)
        kind = TEAM if self._mode is OrganizationMode.SINGLE else PERSONAL
        now = self._clock.now()
        organization_id = await organization_store.insert_organization(
            conn, name=name, kind=kind, created_by=user_id, now=now
        )
        await organization_store.insert_membership(
            conn,
            organization_id=organization_id,
            user_id=user_id,
            role=OrganizationRole.OWNER,
            now=now,
        )
        created = events.organization_created(
            organization_id, name=name, kind=kind, created_by=user_id
        )
        owner = events.initial_membership_created(organization_id, user_id, OrganizationRole.OWNER)
        await self._events.record_in(conn, [created, owner], now=now)
        return MembershipRow(organization_id, name, OrganizationRole.OWNER)


async def default_membership_in(conn: Connection, user_id: uuid.UUID) -> MembershipRow | None:
    """Return the organization a new session starts in, if the user belongs to any."""
    return await organization_store.get_default_membership(conn, user_id)


async def membership_in(
    conn: Connection, organization_id: uuid.UUID, user_id: uuid.UUID
) -> MembershipRow | None:
    """Return a user's membership in an organization, or None if they are not a member."""
    return await organization_store.get_membership(conn, organization_id, user_id)


async def member_with_roles_in(
    conn: Executor, organization_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[UserRow, list[str], MembershipRow] | None:
    """Return a member's user row, platform role names and membership, in one query.

    None when the user is gone or is not a member of that organization.
    """
    return await organization_store.get_member_with_roles(conn, organization_id, user_id)
