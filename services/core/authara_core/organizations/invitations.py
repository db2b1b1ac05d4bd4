"""Organization invitations: made and resent over the internal API, read and revoked publicly.

Every change first locks the organization row, so two calls for one organization run one
after the other: of two concurrent invitations of one email, the second sees the first and
is refused (409 invitation_already_pending). The partial unique index on active invitations
backs this up. A token is returned once, in `invite_url`, and stored only as its SHA-256.

Creating or resending an invitation also queues its email (mail/outbox.py) in the same
transaction. The job's template data holds the invite link, hence the token, until the mail
is sent or has failed, when the worker empties it: a token cannot be rebuilt from its hash,
so it has to wait in the queue with the mail that carries it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final
from urllib.parse import urlencode

import asyncpg

from authara_contract import routes
from authara_contract.claims import OrganizationMode, OrganizationRole
from authara_contract.tokens import AccessClaims
from authara_core.accounts.validation import validate_email
from authara_core.mail.outbox import MailTemplate, enqueue_in
from authara_core.organizations import events, management_store, public_store
from authara_core.organizations import invitation_store as store
from authara_core.organizations.invitation_store import Invitation
from authara_core.organizations.management_store import Organization
from authara_core.platform import opaque
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import (
    ActorNotAllowed,
    ActorNotMember,
    AlreadyMember,
    Forbidden,
    InvalidRequest,
    InvitationAlreadyAccepted,
    InvitationAlreadyPending,
    InvitationExpired,
    InvitationNotFound,
    InvitationRevoked,
    NotFound,
    OrganizationNotFound,
)
from authara_core.platform.outbox import Outbox, rfc3339

__all__ = ["Invitation", "InvitationStatus", "Invitations", "Issued", "status_of"]

INVITABLE_ROLES: Final = frozenset({"admin", "member"})
MAX_METADATA_BYTES: Final = 16 * 1024
MANAGERS: Final = frozenset({OrganizationRole.OWNER, OrganizationRole.ADMIN})
PERSONAL_MODE = "Invitations are not available in personal mode."
NOT_THE_TOKENS = "The organization is not the access token's organization."
NOT_A_MANAGER = "Only an owner or admin can manage invitations."


class InvitationStatus(StrEnum):
    """An invitation's state, derived from its row and the time."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REVOKED = "revoked"
    EXPIRED = "expired"


def status_of(invitation: Invitation, now: datetime) -> InvitationStatus:
    """Return the status with precedence accepted > revoked > expired > pending."""
    if invitation.accepted_at is not None:
        return InvitationStatus.ACCEPTED
    if invitation.revoked_at is not None:
        return InvitationStatus.REVOKED
    if invitation.expires_at <= now:
        return InvitationStatus.EXPIRED
    return InvitationStatus.PENDING


@dataclass(frozen=True, slots=True)
class Issued:
    """A new invitation with the link carrying its token (shown once, never stored)."""

    invitation: Invitation
    invite_url: str
    now: datetime


def _check_metadata(metadata: Mapping[str, Any]) -> None:
    try:
        # Python's parser reads NaN, Infinity and 1e400; jsonb holds none of them.
        text = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise InvalidRequest("metadata must hold only finite numbers.") from exc
    size = len(text.encode())
    if size > MAX_METADATA_BYTES:
        raise InvalidRequest(f"metadata must be at most {MAX_METADATA_BYTES} bytes as JSON.")


class Invitations:
    """Create, resend, list, read and revoke organization invitations."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        events: Outbox,
        mode: OrganizationMode,
        ttl: timedelta,
        public_url: str,
        public_enabled: bool,
        email_include_code: bool = False,
    ) -> None:
        self._db = db
        self._clock = clock
        self._events = events
        self._mode = mode
        self._ttl = ttl
        self._public_url = public_url
        self._public_enabled = public_enabled
        self._email_include_code = email_include_code

    def now(self) -> datetime:
        """Return the time statuses are computed against."""
        return self._clock.now()

    async def create(
        self,
        organization_id: uuid.UUID,
        *,
        actor: uuid.UUID,
        email: str,
        role: str,
        metadata: Mapping[str, Any],
    ) -> Issued:
        """Invite an email on behalf of an owner or admin (internal API)."""
        email = validate_email(email)
        if role not in INVITABLE_ROLES:
            raise InvalidRequest("role must be admin or member.")
        _check_metadata(metadata)
        if self._mode is OrganizationMode.PERSONAL:
            raise ActorNotAllowed(PERSONAL_MODE)
        try:
            async with self._db.transaction() as conn:
                organization = await _lock_organization(conn, organization_id)
                role_of_actor = await public_store.get_role(conn, organization_id, actor)
                if role_of_actor is None:
                    raise ActorNotMember
                if role_of_actor not in MANAGERS:
                    raise ActorNotAllowed
                if await store.email_is_member(conn, organization_id, email):
                    raise AlreadyMember
                now = self._clock.now()
                active = await store.active_for_email(conn, organization_id, email)
                if active is not None and active.expires_at > now:
                    raise InvitationAlreadyPending
                if active is not None:  # expired: replaced silently (no event)
                    await store.revoke_invitation(conn, active.id, by=None, now=now)
                return await self._issue(
                    conn, organization, email, role, metadata, invited_by=actor, now=now
                )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == store.ACTIVE_EMAIL_INDEX:
                raise InvitationAlreadyPending from exc
            raise

    async def resend(self, organization_id: uuid.UUID, invitation_id: uuid.UUID) -> Issued:
        """Replace an invitation with a new one (new id, token and expiry); revoke the old."""
        if self._mode is OrganizationMode.PERSONAL:
            raise Forbidden(PERSONAL_MODE)
        async with self._db.transaction() as conn:
            organization = await _lock_organization(conn, organization_id)
            old = await store.get_invitation(conn, organization_id, invitation_id, lock=True)
            if old is None:
                raise InvitationNotFound
            if old.accepted_at is not None:
                raise InvitationAlreadyAccepted
            if old.revoked_at is not None:
                raise InvitationRevoked
            if await store.email_is_member(conn, organization_id, old.email):
                raise AlreadyMember
            now = self._clock.now()
            revoked = await store.revoke_invitation(conn, old.id, by=None, now=now)
            await self._events.record_in(conn, [events.invitation_revoked(revoked)], now=now)
            return await self._issue(
                conn,
                organization,
                old.email,
                old.role,
                old.metadata,
                invited_by=old.invited_by_user_id,
                now=now,
            )

    def check_enabled(self) -> None:
        """Answer 404 for the public routes unless the management flag is on."""
        if not self._public_enabled:
            raise NotFound

    async def list(self, claims: AccessClaims, organization_id: uuid.UUID) -> list[Invitation]:
        """List the token's organization's invitations (owner or admin)."""
        self._check_public(claims, organization_id)
        async with self._db.transaction() as conn:
            await self._manager(conn, claims, organization_id)
            return await store.list_invitations(conn, organization_id)

    async def get(
        self, claims: AccessClaims, organization_id: uuid.UUID, invitation_id: uuid.UUID
    ) -> Invitation:
        """Return one invitation of the token's organization (owner or admin)."""
        self._check_public(claims, organization_id)
        async with self._db.transaction() as conn:
            await self._manager(conn, claims, organization_id)
            found = await store.get_invitation(conn, organization_id, invitation_id)
        if found is None:
            raise InvitationNotFound
        return found

    async def revoke(
        self, claims: AccessClaims, organization_id: uuid.UUID, invitation_id: uuid.UUID
    ) -> Invitation:
        """Revoke a pending invitation of the token's organization (owner or admin)."""
        self._check_public(claims, organization_id)
        async with self._db.transaction() as conn:
            await _lock_organization(conn, organization_id)
            await self._manager(conn, claims, organization_id)
            found = await store.get_invitation(conn, organization_id, invitation_id, lock=True)
            if found is None:
                raise InvitationNotFound
            now = self._clock.now()
            current = status_of(found, now)
            if current is InvitationStatus.ACCEPTED:
                raise InvitationAlreadyAccepted
            if current is InvitationStatus.REVOKED:
                raise InvitationRevoked
            if current is InvitationStatus.EXPIRED:
                raise InvitationExpired
            revoked = await store.revoke_invitation(conn, found.id, by=claims.user_id, now=now)
            await self._events.record_in(conn, [events.invitation_revoked(revoked)], now=now)
            return revoked

    async def _issue(
        self,
        conn: Connection,
        organization: Organization,
        email: str,
        role: str,
        metadata: Mapping[str, Any],
        *,
        invited_by: uuid.UUID | None,
        now: datetime,
    ) -> Issued:
        token = opaque.new_token()
        invitation = await store.insert_invitation(
            conn,
            organization_id=organization.id,
            email=email,
            role=role,
            token_hash=opaque.hash_token(token),
            invited_by=invited_by,
            expires_at=now + self._ttl,
            metadata=metadata,
            now=now,
        )
        await self._events.record_in(conn, [events.invitation_created(invitation)], now=now)
        url = f"{self._public_url}{routes.INVITATION_ACCEPT}?{urlencode({'token': token})}"
        mail: dict[str, Any] = {
            "organization_name": organization.name,
            "role": invitation.role,
            "invite_url": url,
            "expires_at": rfc3339(invitation.expires_at),
        }
        if self._email_include_code:
            mail["code"] = token
        await enqueue_in(
            conn, template=MailTemplate.ORGANIZATION_INVITATION, to=email, data=mail, now=now
        )
        return Issued(invitation, url, now)

    def _check_public(self, claims: AccessClaims, organization_id: uuid.UUID) -> None:
        if self._mode is OrganizationMode.PERSONAL:
            raise Forbidden(PERSONAL_MODE)
        if organization_id != claims.organization_id:
            raise Forbidden(NOT_THE_TOKENS)

    async def _manager(
        self, conn: Connection, claims: AccessClaims, organization_id: uuid.UUID
    ) -> None:
        if await public_store.get_organization(conn, organization_id) is None:
            raise OrganizationNotFound
        role = await public_store.get_role(conn, organization_id, claims.user_id)
        if role not in MANAGERS:
            raise Forbidden(NOT_A_MANAGER)


async def _lock_organization(conn: Connection, organization_id: uuid.UUID) -> Organization:
    organization = await management_store.lock_organization(conn, organization_id)
    if organization is None:
        raise OrganizationNotFound
    return organization
