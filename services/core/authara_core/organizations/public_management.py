"""The public management group: a member reads and renames the token's organization.

Behind AUTHARA_PUBLIC_ORGANIZATION_MANAGEMENT_ENABLED: when it is off every route of the
group answers 404, as if absent (after the access check). An organization is reachable only
as the access token's organization (`org_id`) and only by a current member; the role that
allows a rename is read from the database, not the token, so a demotion takes effect at once.
"""

from __future__ import annotations

import uuid

from authara_contract.claims import OrganizationMode, OrganizationRole
from authara_contract.tokens import AccessClaims
from authara_core.organizations import events, management_store, public_store
from authara_core.organizations.management_store import Membership, Organization
from authara_core.organizations.public_store import OrganizationMember
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import (
    Forbidden,
    InvalidRequest,
    MembershipNotFound,
    NotFound,
    OrganizationNotFound,
)
from authara_core.platform.outbox import Outbox

__all__ = ["Membership", "Organization", "OrganizationMember", "PublicManagement"]

NOT_THE_TOKENS = "The organization is not the access token's organization."
NOT_A_MEMBER = "Not a member of this organization."
NOT_A_MANAGER = "Only an owner or admin can change the organization."
MEMBERS_HIDDEN = "Organization members are not visible in personal mode."
OTHER_USER = "Memberships of other users are not visible."
BLANK_NAME = "Organization name must not be blank."
MANAGERS = frozenset({OrganizationRole.OWNER, OrganizationRole.ADMIN})


class PublicManagement:
    """Answer the public management routes for a signed-in member."""

    def __init__(
        self, *, db: Database, clock: Clock, events: Outbox, mode: OrganizationMode, enabled: bool
    ) -> None:
        self._db = db
        self._clock = clock
        self._events = events
        self._mode = mode
        self._enabled = enabled

    def check_enabled(self) -> None:
        """Answer 404 for the whole group unless the flag is on."""
        if not self._enabled:
            raise NotFound

    async def organization(self, claims: AccessClaims, organization_id: uuid.UUID) -> Organization:
        """Return the token's organization to one of its members."""
        async with self._db.connection() as conn:
            organization = await self._reachable(conn, claims, organization_id)
            await _role(conn, claims, organization_id)
        return organization

    async def rename(
        self, claims: AccessClaims, organization_id: uuid.UUID, name: str
    ) -> Organization:
        """Rename the token's organization (owner or admin); the name is trimmed."""
        name = name.strip()
        if not name:
            raise InvalidRequest(BLANK_NAME)
        self._check_own(claims, organization_id)
        async with self._db.transaction() as conn:
            if await management_store.lock_organization(conn, organization_id) is None:
                raise OrganizationNotFound
            if await _role(conn, claims, organization_id) not in MANAGERS:
                raise Forbidden(NOT_A_MANAGER)
            now = self._clock.now()
            renamed = await public_store.rename_organization(conn, organization_id, name, now)
            updated = events.organization_updated(
                renamed.id,
                name=renamed.name,
                kind=renamed.kind,
                created_by=renamed.created_by_user_id,
            )
            await self._events.record_in(conn, [updated], now=now)
            return renamed

    async def members(
        self, claims: AccessClaims, organization_id: uuid.UUID
    ) -> list[OrganizationMember]:
        """List the members of the token's organization (never in personal mode)."""
        self._check_members_visible()
        async with self._db.transaction() as conn:
            await self._reachable(conn, claims, organization_id)
            await _role(conn, claims, organization_id)
            return await public_store.list_members(conn, organization_id)

    async def member(
        self, claims: AccessClaims, organization_id: uuid.UUID, user_id: uuid.UUID
    ) -> OrganizationMember:
        """Return one member of the token's organization (never in personal mode)."""
        self._check_members_visible()
        async with self._db.transaction() as conn:
            await self._reachable(conn, claims, organization_id)
            await _role(conn, claims, organization_id)
            found = await public_store.get_member(conn, organization_id, user_id)
        if found is None:
            raise MembershipNotFound
        return found

    async def memberships(
        self, claims: AccessClaims, user_id: uuid.UUID
    ) -> list[tuple[Organization, Membership]]:
        """List the caller's own organizations with their membership in each."""
        if user_id != claims.user_id:
            raise Forbidden(OTHER_USER)
        async with self._db.connection() as conn:
            return await public_store.list_memberships(conn, user_id)

    def _check_own(self, claims: AccessClaims, organization_id: uuid.UUID) -> None:
        if organization_id != claims.organization_id:
            raise Forbidden(NOT_THE_TOKENS)

    def _check_members_visible(self) -> None:
        if self._mode is OrganizationMode.PERSONAL:
            raise Forbidden(MEMBERS_HIDDEN)

    async def _reachable(
        self, conn: Connection, claims: AccessClaims, organization_id: uuid.UUID
    ) -> Organization:
        self._check_own(claims, organization_id)
        found = await public_store.get_organization(conn, organization_id)
        if found is None:
            raise OrganizationNotFound
        return found


async def _role(
    conn: Connection, claims: AccessClaims, organization_id: uuid.UUID
) -> OrganizationRole:
    """Return the caller's role in the organization; refuse a non-member (403)."""
    role = await public_store.get_role(conn, organization_id, claims.user_id)
    if role is None:
        raise Forbidden(NOT_A_MEMBER)
    return role
