"""The public organization API's reads: capabilities, a caller's organizations and members.

Every read is on behalf of an access token: its user and its organization (`org_id`). A token
whose membership is gone is refused as GET /user refuses it (401).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from authara_contract.claims import OrganizationMode
from authara_contract.tokens import AccessClaims
from authara_core.organizations import store as organization_store
from authara_core.organizations.store import MemberRow, MembershipRow
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import Forbidden, Unauthorized

SWITCHING_DISABLED = "Organization switching is disabled."
MEMBERS_HIDDEN = "Organization members are not visible in personal mode."

__all__ = [
    "Capabilities",
    "MemberRow",
    "MembershipRow",
    "OrganizationDirectory",
    "lock_membership_in",
]


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What the organization mode lets clients show and do (the Capabilities schema)."""

    organization_mode: OrganizationMode
    has_visible_organizations: bool
    allows_invitations: bool
    allows_public_organization_management: bool
    allows_org_switching: bool
    allows_user_created_team_orgs: bool
    allows_organization_leave: bool


class OrganizationDirectory:
    """Answer a signed-in member's questions about their organizations."""

    def __init__(self, *, db: Database, mode: OrganizationMode, public_management: bool) -> None:
        self._db = db
        self._mode = mode
        self._public_management = public_management

    def capabilities(self) -> Capabilities:
        """Describe the mode.

        Personal mode hides organizations altogether; single mode shows the one team and
        its invitations; only multi mode switches between organizations and lets users own
        several (team organizations come from the internal API). No route lets a member
        leave an organization yet, so no mode allows it.
        """
        team = self._mode is not OrganizationMode.PERSONAL
        multi = self._mode is OrganizationMode.MULTI
        return Capabilities(
            organization_mode=self._mode,
            has_visible_organizations=team,
            allows_invitations=team,
            allows_public_organization_management=self._public_management,
            allows_org_switching=multi,
            allows_user_created_team_orgs=multi,
            allows_organization_leave=False,
        )

    def check_switching(self) -> None:
        """Refuse a switch unless the mode is multi."""
        if self._mode is not OrganizationMode.MULTI:
            raise Forbidden(SWITCHING_DISABLED)

    async def organizations(self, claims: AccessClaims) -> list[MembershipRow]:
        """List the caller's organizations, the token's one first, then by name."""
        async with self._db.connection() as conn:
            found = await organization_store.list_memberships(
                conn, claims.user_id, claims.organization_id
            )
        if not found or found[0].organization_id != claims.organization_id:
            raise Unauthorized
        return found

    async def current(self, claims: AccessClaims) -> MembershipRow:
        """Return the token's organization, with the role the token carries (as upstream)."""
        async with self._db.connection() as conn:
            found = await organization_store.get_membership(
                conn, claims.organization_id, claims.user_id
            )
        if found is None:
            raise Unauthorized
        return MembershipRow(found.organization_id, found.name, claims.organization_role)

    async def members(self, claims: AccessClaims) -> list[MemberRow]:
        """List the members of the token's organization (never in personal mode)."""
        if self._mode is OrganizationMode.PERSONAL:
            raise Forbidden(MEMBERS_HIDDEN)
        async with self._db.transaction() as conn:
            if (
                await organization_store.get_membership(
                    conn, claims.organization_id, claims.user_id
                )
                is None
            ):
                raise Unauthorized
            return await organization_store.list_members(conn, claims.organization_id)


async def lock_membership_in(
    conn: Connection, organization_id: uuid.UUID, user_id: uuid.UUID
) -> MembershipRow | None:
    """Return a membership, kept from deletion until the caller's transaction ends."""
    return await organization_store.lock_membership(conn, organization_id, user_id)
