"""Managing organizations, memberships and users for the internal API, one transaction each.

Every change to an organization's memberships first locks the organization row, so two
calls on one organization run one after the other and owner counts cannot go stale. When a
membership goes, the user's sessions active in that organization move to their default
remaining organization, or are deleted (signed out) when none remains.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from authara_contract.claims import ROLE_PREFIX, OrganizationMode, OrganizationRole, PlatformRole
from authara_core.accounts import users
from authara_core.accounts.events import user_deleted
from authara_core.accounts.users import UserRow
from authara_core.allowlist import service as allowlist
from authara_core.challenges.service import delete_user_challenges_in
from authara_core.mail.outbox import delete_mail_to_in
from authara_core.organizations import events, invitation_store
from authara_core.organizations import management_store as store
from authara_core.organizations.management_store import Membership, Organization
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import (
    Forbidden,
    InvalidRequest,
    LastAdmin,
    LastOwner,
    MembershipNotFound,
    NotOwner,
    OrganizationNotFound,
    PersonalOrganization,
    UserNotFound,
)
from authara_core.platform.outbox import Event, Outbox
from authara_core.platform.revocation import Revoker
from authara_core.sessions.service import end_user_sessions_in, leave_organization_in

__all__ = ["Membership", "Organization", "OrganizationManagement", "Transfer"]

TEAM = "team"
PERSONAL = "personal"
OWNER = OrganizationRole.OWNER
DeletionGuard = Callable[[Connection, UserRow], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Transfer:
    """An organization after an ownership transfer, with both changed memberships."""

    organization: Organization
    previous_owner: Membership
    new_owner: Membership


@dataclass(frozen=True, slots=True)
class _Locked:
    organization: Organization
    members: list[Membership]

    def member(self, user_id: uuid.UUID) -> Membership | None:
        return next((m for m in self.members if m.user_id == user_id), None)

    def owners(self) -> int:
        return sum(1 for m in self.members if m.role is OWNER)


class OrganizationManagement:
    """Create, delete and re-staff organizations; delete users with what they own."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        events: Outbox,
        mode: OrganizationMode,
        revoker: Revoker | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._revoker = revoker or Revoker.disabled(clock)  # after commits (Redis)
        self._events = events
        self._mode = mode

    async def create_team(
        self, *, name: str, created_by: uuid.UUID
    ) -> tuple[Organization, Membership]:
        """Create a team organization with its creator as owner (multi mode only)."""
        name = name.strip()
        if not name:
            raise InvalidRequest("Organization name must not be blank.")
        if self._mode is not OrganizationMode.MULTI:
            raise Forbidden("Team organizations can be created only in multi mode.")
        now = self._clock.now()
        async with self._db.transaction() as conn:
            if not await users.lock_user(conn, created_by, exclusive=False):
                raise UserNotFound
            organization = await store.insert_organization(
                conn, name=name, kind=TEAM, created_by=created_by, now=now
            )
            membership = await store.insert_membership(
                conn, organization_id=organization.id, user_id=created_by, role=OWNER, now=now
            )
            created = events.organization_created(
                organization.id, name=name, kind=TEAM, created_by=created_by
            )
            owner = events.initial_membership_created(organization.id, created_by, OWNER)
            await self._events.record_in(conn, [created, owner], now=now)
        return organization, membership

    async def delete_organization(self, organization_id: uuid.UUID) -> None:
        """Delete a team organization, or a personal one whose user is gone, with its members."""
        async with self._db.transaction() as conn:
            locked = await _lock(conn, organization_id)
            if locked.organization.kind == PERSONAL and locked.organization.created_by_user_id:
                raise PersonalOrganization
            await self._drop_organization(conn, locked)
        for member in locked.members:
            await self._revoker.membership(member.user_id, organization_id)

    async def remove_member(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> None:
        """Remove a member; the last owner of an organization cannot be removed."""
        async with self._db.transaction() as conn:
            locked = await _lock(conn, organization_id)
            membership = locked.member(user_id)
            if membership is None:
                raise MembershipNotFound
            if membership.role is OWNER and locked.owners() == 1:
                raise LastOwner
            await self._drop_membership(conn, membership)
        await self._revoker.membership(user_id, organization_id)

    async def transfer_ownership(
        self, organization_id: uuid.UUID, *, from_user_id: uuid.UUID, to_user_id: uuid.UUID
    ) -> Transfer:
        """Make a member owner and the owner handing over an admin."""
        if from_user_id == to_user_id:
            raise InvalidRequest("from_user_id and to_user_id must differ.")
        now = self._clock.now()
        async with self._db.transaction() as conn:
            locked = await _lock(conn, organization_id)
            previous, new = locked.member(from_user_id), locked.member(to_user_id)
            if previous is None or new is None:
                which = "from_user_id" if previous is None else "to_user_id"
                raise MembershipNotFound(f"{which} is not a member of this organization.")
            if previous.role is not OWNER:
                raise NotOwner
            new_owner = await store.set_role(conn, organization_id, to_user_id, OWNER, now)
            demoted = await store.set_role(
                conn, organization_id, from_user_id, OrganizationRole.ADMIN, now
            )
            # Both changed memberships are reported; a co-owner made owner again did not change.
            changed = [(new, new_owner), (previous, demoted)]
            updated = [
                _membership_event(events.membership_updated, after)
                for before, after in changed
                if before.role is not after.role
            ]
            await self._events.record_in(conn, updated, now=now)
        return Transfer(locked.organization, demoted, new_owner)

    async def delete_user(self, user_id: uuid.UUID, *, guard: DeletionGuard | None = None) -> None:
        """Delete a user, their sessions, memberships and invitations, and their lone organizations.

        Their personal organization and every organization they are the only member of go
        with them. If they are the last owner of an organization that has other members,
        nothing is deleted (409 last_owner): transfer ownership or delete it first. The last
        active admin is never deleted (422). `guard` runs first in the transaction, the user
        locked, and may refuse (account self-service checks its confirmation there).
        """
        async with self._db.transaction() as conn:
            if not await users.lock_user(conn, user_id, exclusive=True):
                raise UserNotFound
            user = await users.get_user(conn, user_id)
            if user is None:
                raise UserNotFound
            if guard is not None:
                await guard(conn, user)
            # Only an admin's deletion takes the admin locks (and so waits for another's).
            roles = await users.get_role_names(conn, user_id)
            if PlatformRole.ADMIN.removeprefix(ROLE_PREFIX) in roles:
                admins = await users.lock_active_admins(conn)
                if admins == [user_id]:
                    raise LastAdmin
            # End the sessions first: their refresh tokens are locked before any session or
            # membership row, the order a refresh takes, so an in-flight one finishes first.
            await end_user_sessions_in(conn, user_id, self._clock.now())
            doomed, kept = [], []
            for organization_id in await store.organization_ids_of(conn, user_id):
                locked = await _lock(conn, organization_id)
                membership = locked.member(user_id)
                alone = len(locked.members) == 1
                personal = locked.organization.kind == PERSONAL
                if (personal and locked.organization.created_by_user_id == user_id) or alone:
                    doomed.append(locked)
                elif membership is not None and membership.role is OWNER and locked.owners() == 1:
                    raise LastOwner(
                        f"The user is the last owner of organization {organization_id}."
                        " Transfer ownership or delete the organization first."
                    )
                elif membership is not None:
                    kept.append(_membership_event(events.membership_deleted, membership))
            for locked in doomed:
                await self._drop_organization(conn, locked)
            # Invitations to their email go too: a later account with it must be invited anew.
            await invitation_store.delete_for_user(conn, user_id, user.email)
            # And challenges: theirs, and any for their email (pending rows and mails cascade).
            await delete_user_challenges_in(conn, user_id, user.email)
            await delete_mail_to_in(conn, user.email)  # invitation mails too
            await allowlist.forget_in(conn, user.email)
            await users.delete_user(conn, user_id)  # sessions and memberships cascade
            await self._events.record_in(
                conn, [*kept, user_deleted(user_id)], now=self._clock.now()
            )
        await self._revoker.user(user_id)

    async def _drop_organization(self, conn: Connection, locked: _Locked) -> None:
        for membership in locked.members:
            await self._drop_membership(conn, membership)
        await store.delete_organization(conn, locked.organization.id)
        gone = locked.organization
        deleted = events.organization_deleted(
            gone.id, name=gone.name, kind=gone.kind, created_by=gone.created_by_user_id
        )
        await self._events.record_in(conn, [deleted], now=self._clock.now())

    async def _drop_membership(self, conn: Connection, membership: Membership) -> None:
        organization_id, user_id = membership.organization_id, membership.user_id
        fallback = await store.fallback_organization(conn, user_id, organization_id)
        now = self._clock.now()
        await leave_organization_in(
            conn, user_id=user_id, organization_id=organization_id, fallback_id=fallback, now=now
        )
        await store.delete_membership(conn, organization_id, user_id)
        await self._events.record_in(
            conn, [_membership_event(events.membership_deleted, membership)], now=now
        )


async def _lock(conn: Connection, organization_id: uuid.UUID) -> _Locked:
    organization = await store.lock_organization(conn, organization_id)
    if organization is None:
        raise OrganizationNotFound
    return _Locked(organization, await store.lock_memberships(conn, organization_id))


def _membership_event(
    build: Callable[[uuid.UUID, uuid.UUID, OrganizationRole], Event], membership: Membership
) -> Event:
    return build(membership.organization_id, membership.user_id, membership.role)
