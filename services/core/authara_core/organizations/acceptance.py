"""Accepting invitations: the invitation pages (sign up, log in, accept) and signup by code.

An invitation is used once. Every acceptance locks the organization row, then the
invitation row, and accepts it with a compare-and-set (`accepted_at IS NULL AND
revoked_at IS NULL AND expires_at > now`) in the transaction that creates the membership,
so of two people (or two tabs) using one link at the same moment exactly one joins; the
other is told the invitation was accepted. An account that already exists is locked
(FOR SHARE) before the organization, the order account deletion takes them in.

What each mode allows (contract §17):
- personal: no invitations at all;
- single: only a new account can accept, and joins the invited organization as its only
  one (no organization of its own);
- multi: a new account gets its personal organization and joins; an existing account
  logs in or, signed in, accepts.
The pages switch the session to the invited organization; signup by code (the JSON API)
leaves the new session in the user's default organization, as upstream does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

from authara_contract.claims import Audience, OrganizationMode, OrganizationRole
from authara_contract.tokens import AccessClaims
from authara_core.accounts import users
from authara_core.accounts.service import AccountService, PreparedSignup
from authara_core.accounts.users import UserRow
from authara_core.allowlist.service import AccessPolicy
from authara_core.organizations import events, management_store, public_store
from authara_core.organizations import invitation_store as store
from authara_core.organizations.invitation_store import Invitation
from authara_core.organizations.invitations import InvitationStatus, status_of
from authara_core.platform import opaque
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import (
    AlreadyInOrganization,
    InvalidCredentials,
    InvalidRequest,
    InvitationAlreadyMember,
    InvitationForOtherEmail,
    InvitationLinkExpired,
    InvitationLinkInvalid,
    InvitationLinkRevoked,
    InvitationLinkUsed,
    InvitationNeedsNewAccount,
    InvitationsDisabled,
    InvitationUnusable,
    Unauthorized,
)
from authara_core.platform.outbox import Outbox
from authara_core.sessions.service import IssuedSession, SessionService

MAX_TOKEN_LENGTH: Final = 256

__all__ = ["InvitationAcceptance", "InvitationView"]


@dataclass(frozen=True, slots=True)
class InvitationView:
    """What an invitation page shows: the invitation, its organization and who is looking."""

    invitation: Invitation
    organization_name: str
    status: InvitationStatus
    viewer_email: str | None
    """The signed-in account's email, when someone is signed in."""


class InvitationAcceptance:
    """Show invitations by their token and accept them for a new or existing account."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        events: Outbox,
        mode: OrganizationMode,
        accounts: AccountService,
        sessions: SessionService,
        policy: AccessPolicy | None = None,
    ) -> None:
        self._policy = policy  # the allowlist: an accepted invitation admits its email
        self._db = db
        self._clock = clock
        self._events = events
        self._mode = mode
        self._accounts = accounts
        self._sessions = sessions

    @property
    def existing_accounts_may_accept(self) -> bool:
        """Say whether a signed-up account may accept (multi mode) or only a new one."""
        return self._mode is OrganizationMode.MULTI

    def check_enabled(self) -> None:
        """Refuse every invitation page in personal mode."""
        if self._mode is OrganizationMode.PERSONAL:
            raise InvitationsDisabled

    def check_existing_accounts(self) -> None:
        """Refuse the log-in and accept pages unless existing accounts may accept."""
        self.check_enabled()
        if not self.existing_accounts_may_accept:
            raise InvitationNeedsNewAccount

    async def inspect(self, token: str | None, *, viewer: uuid.UUID | None) -> InvitationView:
        """Return the invitation a token opens, in any status (400 if it opens none)."""
        self.check_enabled()
        async with self._db.connection() as conn:
            link = await _find(conn, token)
            found = None if viewer is None else await users.get_user(conn, viewer)
        return InvitationView(
            invitation=link.invitation,
            organization_name=link.organization_name,
            status=status_of(link.invitation, self._clock.now()),
            viewer_email=None if found is None else found.email,
        )

    async def signup(
        self, token: str | None, password: str, *, user_agent: str, client_ip: str | None
    ) -> IssuedSession:
        """Create the invited account, accept, and start a session in the organization."""
        self.check_enabled()
        invitation = await self._pending(token)
        prepared = await self._accounts.prepare_signup(
            email=invitation.email, password=password, client_ip=client_ip
        )
        async with self._db.transaction() as conn:
            user = await self._signup_in(conn, invitation, prepared)
            return await self._sessions.start_in(
                conn,
                user,
                audience=Audience.APP,
                user_agent=user_agent,
                client_ip=client_ip,
                organization_id=invitation.organization_id,
            )

    async def pending_invitation(self, token: str | None) -> Invitation:
        """Return the pending invitation a token opens (InvitationUnusable otherwise).

        For a signup that is verified by email first: `signup_invited_in` finishes it.
        """
        self.check_enabled()
        return await self._pending(token)

    async def signup_invited_in(
        self, conn: Connection, invitation_id: uuid.UUID, prepared: PreparedSignup
    ) -> tuple[UserRow, uuid.UUID]:
        """Create the invited account and accept, inside the caller's transaction.

        Returns the new user and the organization they joined. The invitation must still
        be pending; it is locked after its organization, as in every acceptance.
        """
        self.check_enabled()
        invitation = await store.get_invitation_by_id(conn, invitation_id)
        if invitation is None:
            raise InvitationLinkInvalid
        return await self._signup_in(conn, invitation, prepared), invitation.organization_id

    async def login(
        self, token: str | None, password: str, *, user_agent: str, client_ip: str | None
    ) -> IssuedSession:
        """Sign in as the invited email, accept, and start a session in the organization."""
        self.check_existing_accounts()
        invitation = await self._pending(token)
        user = await self._accounts.authenticate(
            email=invitation.email, password=password, client_ip=client_ip
        )
        async with self._db.transaction() as conn:
            if not await users.lock_user(conn, user.id, exclusive=False):
                raise InvalidCredentials
            locked = await self._lock_pending(conn, invitation)
            await self._accept_in(conn, locked, user)
            return await self._sessions.start_in(
                conn,
                user,
                audience=Audience.APP,
                user_agent=user_agent,
                client_ip=client_ip,
                organization_id=locked.organization_id,
            )

    async def accept(
        self, claims: AccessClaims, token: str | None, *, refresh_token: str | None
    ) -> IssuedSession:
        """Accept for the signed-in account and switch its session to the organization."""
        self.check_existing_accounts()
        invitation = await self._pending(token)
        async with self._db.transaction() as conn:
            if not await users.lock_user(conn, claims.user_id, exclusive=False):
                raise Unauthorized
            user = await users.get_user(conn, claims.user_id)
            if user is None:
                raise Unauthorized
            locked = await self._lock_pending(conn, invitation)
            await self._accept_in(conn, locked, user)
            return await self._sessions.switch_in(
                conn, claims, locked.organization_id, refresh_token=refresh_token
            )

    async def signup_with_code(
        self,
        code: str,
        *,
        email: str,
        password: str,
        audience: Audience,
        user_agent: str,
        client_ip: str | None,
    ) -> IssuedSession:
        """Sign up with an invitation code (JSON API): any invitation problem is a 400.

        The email must be the invited one; the session starts in the default organization.
        """
        prepared = await self._accounts.prepare_signup(
            email=email, password=password, client_ip=client_ip
        )
        try:
            self.check_enabled()
            invitation = await self._pending(code)
            async with self._db.transaction() as conn:
                user = await self._signup_in(conn, invitation, prepared)
                return await self._sessions.start_in(
                    conn, user, audience=audience, user_agent=user_agent, client_ip=client_ip
                )
        except InvitationUnusable as exc:
            raise InvalidRequest(exc.message) from exc

    async def _signup_in(
        self, conn: Connection, invitation: Invitation, prepared: PreparedSignup
    ) -> UserRow:
        """Lock the invitation (organization first), create the account, and accept."""
        locked = await self._lock_pending(conn, invitation)
        user = await self._accounts.create_password_user_in(
            conn, prepared, first_organization=self._mode is OrganizationMode.MULTI
        )
        await self._accept_in(conn, locked, user)
        return user

    async def _pending(self, token: str | None) -> Invitation:
        """Find a token's invitation and check it is pending (before hashing a password)."""
        async with self._db.connection() as conn:
            link = await _find(conn, token)
        _check_pending(status_of(link.invitation, self._clock.now()))
        return link.invitation

    async def _lock_pending(self, conn: Connection, invitation: Invitation) -> Invitation:
        """Lock the organization, then the invitation, and check it is still pending."""
        organization_id = invitation.organization_id
        if await management_store.lock_organization(conn, organization_id) is None:
            raise InvitationLinkInvalid  # the organization went, and its invitations with it
        locked = await store.get_invitation(conn, organization_id, invitation.id, lock=True)
        if locked is None:
            raise InvitationLinkInvalid
        _check_pending(status_of(locked, self._clock.now()))
        return locked

    async def _accept_in(self, conn: Connection, invitation: Invitation, user: UserRow) -> None:
        """Accept a locked pending invitation for a user and make them a member."""
        if user.email.casefold() != invitation.email.casefold():
            raise InvitationForOtherEmail
        organization_id = invitation.organization_id
        if self._mode is OrganizationMode.SINGLE:
            if await management_store.organization_ids_of(conn, user.id):
                raise AlreadyInOrganization
        elif await public_store.get_role(conn, organization_id, user.id) is not None:
            raise InvitationAlreadyMember
        if self._policy is not None:
            await self._policy.admit_in(conn, invitation.email)
        now = self._clock.now()
        accepted = await store.mark_accepted(conn, invitation.id, by=user.id, now=now)
        if accepted is None:  # the row is locked and was pending: only a bug gets here
            raise InvitationLinkUsed
        await management_store.insert_membership(
            conn,
            organization_id=organization_id,
            user_id=user.id,
            role=OrganizationRole(accepted.role),
            now=now,
        )
        joined = events.invited_membership_created(accepted, user.id)
        await self._events.record_in(conn, [joined, events.invitation_accepted(accepted)], now=now)


async def _find(conn: Connection, token: str | None) -> store.InvitationLink:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvitationLinkInvalid
    link = await store.find_by_token_hash(conn, opaque.hash_token(token))
    if link is None:
        raise InvitationLinkInvalid
    return link


def _check_pending(status: InvitationStatus) -> None:
    if status is InvitationStatus.ACCEPTED:
        raise InvitationLinkUsed
    if status is InvitationStatus.REVOKED:
        raise InvitationLinkRevoked
    if status is InvitationStatus.EXPIRED:
        raise InvitationLinkExpired
