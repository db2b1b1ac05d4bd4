"""Sessions: issue tokens for a signed-in user, identify callers, log out."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from authara_contract.claims import ROLE_PREFIX, Audience, PlatformRole
from authara_contract.tokens import (
    AccessClaims,
    InvalidAccessToken,
    VerifiedTokenCache,
    decode_access_token,
    encode_access_token,
)
from authara_core.accounts import users
from authara_core.accounts.users import UserRow
from authara_core.accounts.validation import clean_user_agent
from authara_core.admin import audit
from authara_core.allowlist.service import AccessPolicy
from authara_core.organizations import directory
from authara_core.organizations import service as organizations
from authara_core.organizations.service import MembershipRow
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import (
    AudienceNotAllowed,
    Forbidden,
    InvalidRefreshToken,
    RefreshTokenMissing,
    RefreshTokenReused,
    SessionNotFound,
    Unauthorized,
)
from authara_core.platform.revocation import Revoker
from authara_core.sessions import store as session_store
from authara_core.sessions.devices import DeviceInfo, UserAgentParser
from authara_core.sessions.store import LiveSession, RefreshRow, SessionRow
from authara_core.sessions.tokens import (
    hash_refresh_token,
    new_refresh_token,
    recover_successor,
    successor_token,
)
from authara_core.settings import TokenSettings

LAST_USED_RESOLUTION: Final = timedelta(minutes=1)
"""A session's `last_used_at` moves at refresh, at most this often."""
MAX_IP_LENGTH: Final = 64  # sessions.ip_address
CLEANUP_BATCH: Final = 1000
"""Expired sessions deleted per transaction by the cleanup job."""


def clean_ip(client_ip: str | None) -> str | None:
    """Keep a client IP that fits its column; anything longer is not an address worth keeping."""
    return client_ip if client_ip and len(client_ip) <= MAX_IP_LENGTH else None


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """What a client receives when a session starts or refreshes."""

    user: UserRow
    roles: tuple[str, ...]
    session_id: uuid.UUID
    organization: MembershipRow
    access_token: str
    refresh_token: str


@dataclass(frozen=True, slots=True)
class SessionView:
    """One of the user's live sessions, as the account page and the JSON API show it."""

    id: uuid.UUID
    current: bool
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    ip_address: str | None
    user_agent: str
    device: DeviceInfo


@dataclass(frozen=True, slots=True)
class CurrentUser:
    """The signed-in user as the API shows them, in the token's organization."""

    user: UserRow
    roles: tuple[str, ...]
    organization: MembershipRow


class SessionService:
    """Create, identify and end sessions."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        settings: TokenSettings,
        user_agents: UserAgentParser | None = None,
        policy: AccessPolicy | None = None,
        revoker: Revoker | None = None,
    ) -> None:
        self._db = db
        # Redis revocation (AUTHARA_CACHE_PROVIDER=redis), written after each commit below.
        self._revoker = revoker or Revoker.disabled(clock)
        self._policy = policy  # the allowlist; None: everyone may sign in
        self._clock = clock
        self._settings = settings
        self._user_agents = user_agents or UserAgentParser()
        # Signature checks dominate GET /user; a token verified once is trusted until exp.
        self._verified: VerifiedTokenCache[AccessClaims] = VerifiedTokenCache()

    async def start_in(
        self,
        conn: Connection,
        user: UserRow,
        *,
        audience: Audience,
        user_agent: str,
        client_ip: str | None = None,
        organization_id: uuid.UUID | None = None,
    ) -> IssuedSession:
        """Create session, refresh token and access token inside the caller's transaction.

        The session starts in `organization_id` when given (the user must be a member),
        else in the user's default organization. `client_ip` (platform/client.py) is kept
        with the session for its owner to see.
        """
        if user.disabled_at is not None:
            raise AudienceNotAllowed("This account is disabled.")
        await self.check_allowed_in(conn, user.email)
        roles = await self._roles(conn, user.id)
        if audience is Audience.ADMIN and not roles:
            raise AudienceNotAllowed
        if organization_id is None:
            organization = await organizations.default_membership_in(conn, user.id)
        else:
            organization = await directory.lock_membership_in(conn, organization_id, user.id)
        if organization is None:
            raise AudienceNotAllowed("This account belongs to no organization.")
        now = self._clock.now()
        session_expires = now + self._settings.session_ttl
        session_id = await session_store.insert_session(
            conn,
            user_id=user.id,
            organization_id=organization.organization_id,
            expires_at=session_expires,
            user_agent=clean_user_agent(user_agent),
            ip_address=clean_ip(client_ip),
            now=now,
        )
        refresh_token = new_refresh_token()
        await session_store.insert_refresh_token(
            conn,
            session_id=session_id,
            token_hash=hash_refresh_token(refresh_token),
            expires_at=min(now + self._settings.refresh_ttl, session_expires),
            now=now,
        )
        return IssuedSession(
            user=user,
            roles=roles,
            session_id=session_id,
            organization=organization,
            access_token=self._access_token(
                user.id, session_id, organization, audience, roles, now
            ),
            refresh_token=refresh_token,
        )

    async def check_allowed_in(
        self, conn: Connection, email: str, message: str | None = "This account is disabled."
    ) -> None:
        """Refuse (EmailNotAllowed, 403) an email the allowlist keeps out (upstream's words).

        Every session starts in `start_in`, so this is where every sign-in meets the policy;
        provider sign-ins ask first (message None: the policy's own words), before any
        account is made or linked.
        """
        if self._policy is not None:
            await self._policy.check_in(conn, email, message)

    async def refresh(self, refresh_token: str | None, *, audience: Audience) -> IssuedSession:
        """Exchange a refresh token for a new access token, rotating it when due.

        A replay of the token just rotated away, within the reuse grace, gets the very same
        successor (concurrent tabs and gateway replicas must not log the user out). Any
        other replay of a consumed token is theft: the session is revoked, the revocation
        committed, and only then is the caller refused.
        """
        if not refresh_token:
            raise RefreshTokenMissing
        now = self._clock.now()
        issued: IssuedSession | None = None
        async with self._db.transaction() as conn:
            row = await session_store.lock_refresh_token(conn, hash_refresh_token(refresh_token))
            if row is None or not row.is_usable(now):
                raise InvalidRefreshToken
            next_token: str | None
            if row.consumed_at is None:
                next_token = await self._rotate_if_due(conn, row, refresh_token, now)
            else:
                next_token = await self._grace_successor(conn, row, refresh_token, now)
            if next_token is None:
                await session_store.revoke_session(conn, row.session_id, now)
                event = audit.SYSTEM.event(
                    audit.Action.SESSION_REUSE_DETECTED,
                    target_user_id=row.user_id,
                    metadata={"session_id": str(row.session_id)},
                )
                await audit.record(conn, event, now=now)
            else:
                issued = await self._reissue(conn, row, next_token, audience, now)
                last_used = row.session_last_used_at
                if last_used is None or now - last_used >= LAST_USED_RESOLUTION:
                    await session_store.touch_session(
                        conn, row.session_id, now, resolution=LAST_USED_RESOLUTION
                    )
        if issued is None:  # the revocation above is committed by now
            await self._revoker.sessions([row.session_id])
            raise RefreshTokenReused
        return issued

    async def switch_organization(
        self, claims: AccessClaims, organization_id: uuid.UUID, *, refresh_token: str | None
    ) -> IssuedSession:
        """Make one of the caller's organizations their session's active one (app audience).

        The session row is locked, so concurrent switches take turns and the last one wins;
        the membership is locked against deletion until the switch commits. The organization
        lives on the session, so every refresh token of the session follows the switch. The
        request must carry a current refresh token of this session, which is kept (rotation
        stays refresh's business): an access token alone, perhaps stolen, must not be turned
        into a refresh token that outlives it.
        """
        async with self._db.transaction() as conn:
            return await self.switch_in(conn, claims, organization_id, refresh_token=refresh_token)

    async def switch_in(
        self,
        conn: Connection,
        claims: AccessClaims,
        organization_id: uuid.UUID,
        *,
        refresh_token: str | None,
    ) -> IssuedSession:
        """Switch the caller's session inside the caller's transaction (see above)."""
        now = self._clock.now()
        session = await session_store.lock_session(conn, claims.session_id)
        if session is None or session.user_id != claims.user_id or not session.is_usable(now):
            raise Unauthorized
        if session.user_disabled_at is not None:
            raise AudienceNotAllowed("This account is disabled.")
        organization = await directory.lock_membership_in(conn, organization_id, claims.user_id)
        if organization is None:
            raise Forbidden("You are not a member of this organization.")
        await session_store.set_active_organization(conn, session.id, organization_id, now)
        token = await self._session_refresh_token(conn, session, refresh_token, now)
        found = await users.get_user_with_roles(conn, claims.user_id)
        if found is None:
            raise Unauthorized
        user, names = found
        await self.check_allowed_in(conn, user.email)  # a new access token, like a refresh
        roles = tuple(ROLE_PREFIX + name for name in names)
        return IssuedSession(
            user=user,
            roles=roles,
            session_id=session.id,
            organization=organization,
            access_token=self._access_token(
                user.id, session.id, organization, Audience.APP, roles, now
            ),
            refresh_token=token,
        )

    async def _session_refresh_token(
        self, conn: Connection, session: SessionRow, presented: str | None, now: datetime
    ) -> str:
        if presented:
            owner = await session_store.current_token_session(
                conn, hash_refresh_token(presented), now
            )
            if owner == session.id:
                return presented
        raise Unauthorized

    async def cleanup(self, *, batch_size: int = CLEANUP_BATCH) -> int:
        """Delete sessions (and their tokens) past their absolute lifetime; return how many.

        In batches of `batch_size`, each its own short transaction, so no lock is held for
        longer than one batch takes (milliseconds) however many sessions expired. Stops at the
        first batch that comes back short: what is left is locked by someone else or expired
        since, and the next run takes it.
        """
        now = self._clock.now()
        deleted = 0
        while True:
            async with self._db.transaction() as conn:
                count = await session_store.delete_expired_sessions(conn, now, limit=batch_size)
            deleted += count
            if count < batch_size:
                return deleted

    async def _rotate_if_due(
        self, conn: Connection, row: RefreshRow, token: str, now: datetime
    ) -> str:
        if not self._settings.rotation.is_due(now - row.created_at):
            return token
        successor = successor_token(token, self._settings.keys.active_key)
        successor_hash = hash_refresh_token(successor)
        if not await session_store.consume_refresh_token(
            conn, token_id=row.id, successor_hash=successor_hash, now=now
        ):  # impossible while we hold the row lock; refuse rather than branch the family
            raise InvalidRefreshToken
        await session_store.insert_refresh_token(
            conn,
            session_id=row.session_id,
            token_hash=successor_hash,
            expires_at=min(now + self._settings.refresh_ttl, row.session_expires_at),
            now=now,
        )
        return successor

    async def _grace_successor(
        self, conn: Connection, row: RefreshRow, token: str, now: datetime
    ) -> str | None:
        assert row.consumed_at is not None  # noqa: S101
        grace = self._settings.reuse_grace
        if row.successor_hash is None or grace <= timedelta(0) or now - row.consumed_at >= grace:
            return None
        if not await session_store.is_current_token(conn, row.successor_hash):
            return None  # an older token: the family has moved on since
        return recover_successor(token, row.successor_hash, self._settings.keys.keys.values())

    async def _reissue(
        self, conn: Connection, row: RefreshRow, token: str, audience: Audience, now: datetime
    ) -> IssuedSession:
        found = await users.get_user_with_roles(conn, row.user_id)
        if found is None:
            raise InvalidRefreshToken
        user, names = found
        if self._policy is not None and not await self._policy.allows_in(conn, user.email):
            raise InvalidRefreshToken  # taken off the allowlist: the session ends at refresh
        roles = tuple(ROLE_PREFIX + name for name in names)
        if audience is Audience.ADMIN and not roles:
            raise InvalidRefreshToken
        # Whoever removed the membership meant the session to lose that organization.
        organization = await organizations.membership_in(conn, row.organization_id, user.id)
        if organization is None:
            raise InvalidRefreshToken
        return IssuedSession(
            user=user,
            roles=roles,
            session_id=row.session_id,
            organization=organization,
            access_token=self._access_token(
                user.id, row.session_id, organization, audience, roles, now
            ),
            refresh_token=token,
        )

    def known_user(self, access_token: str) -> str | None:
        """Return the user id of an access token verified before (for logs), else None.

        Only the verified-token cache is read: nothing is verified here.
        """
        claims = self._verified.get(access_token, self._clock.now().timestamp())
        return str(claims.user_id) if claims is not None else None

    async def _roles(self, conn: Connection, user_id: uuid.UUID) -> tuple[str, ...]:
        return tuple(ROLE_PREFIX + name for name in await users.get_role_names(conn, user_id))

    async def identify(
        self, access_token: str | None, *, audiences: tuple[Audience, ...]
    ) -> AccessClaims:
        """Verify an access token for one of the audiences and that it was not revoked.

        Unauthorized otherwise. With Redis (contract §5.6) one MGET asks whether the token,
        its session, user or membership was revoked since it was issued; while Redis cannot
        answer, an admin-audience token is refused (RevocationUnavailable, 503) and an
        app-audience one accepted (the revoker logs and counts it).
        """
        claims = self.verify(access_token, audiences=audiences)
        if self._revoker.enabled:
            admin = Audience.ADMIN in claims.audience
            if await self._revoker.is_revoked(access_token or "", claims, fail_closed=admin):
                raise Unauthorized
        return claims

    def verify(self, access_token: str | None, *, audiences: tuple[Audience, ...]) -> AccessClaims:
        """Verify an access token's signature, expiry and audience (no revocation check)."""
        if not access_token:
            raise Unauthorized
        now = self._clock.now()
        claims = self._verified.get(access_token, now.timestamp())
        if claims is None:
            try:
                claims = decode_access_token(
                    access_token,
                    keys=self._settings.keys,
                    issuer=self._settings.issuer,
                    audiences=tuple(Audience),
                    now=now,
                )
            except InvalidAccessToken as exc:
                raise Unauthorized from exc
            self._verified.put(access_token, claims, claims.expires_at.timestamp())
        for audience in audiences:  # Audience is a StrEnum: it equals its value
            if audience in claims.audience:
                return claims
        raise Unauthorized

    async def current_user(self, claims: AccessClaims) -> CurrentUser:
        """Load the user an access token names, with their membership in its organization."""
        found = await organizations.member_with_roles_in(
            self._db.single, claims.organization_id, claims.user_id
        )
        if found is None:  # the user is gone, or no longer a member of the token's organization
            raise Unauthorized
        user, names, organization = found
        return CurrentUser(
            user=user, roles=tuple(ROLE_PREFIX + name for name in names), organization=organization
        )

    async def list_sessions(self, claims: AccessClaims) -> list[SessionView]:
        """List the caller's live sessions: theirs first (marked current), then by last use.

        Unauthorized when the caller's own session is not among them (revoked or expired
        while its access token lives on): a signed-out browser sees no one's devices or IPs.
        """
        async with self._db.connection() as conn:
            rows = await session_store.live_sessions(conn, claims.user_id, self._clock.now())
        if not any(row.id == claims.session_id for row in rows):
            raise Unauthorized
        views = [self._view(row, current=row.id == claims.session_id) for row in rows]
        views.sort(key=lambda view: not view.current)  # stable: the rest keep their order
        return views

    async def sessions_of(self, user_id: uuid.UUID) -> list[SessionView]:
        """List any user's live sessions, most recently used first (the admin console's view)."""
        async with self._db.connection() as conn:
            rows = await session_store.live_sessions(conn, user_id, self._clock.now())
        return [self._view(row, current=False) for row in rows]

    def _view(self, row: LiveSession, *, current: bool) -> SessionView:
        return SessionView(
            id=row.id,
            current=current,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            expires_at=row.expires_at,
            ip_address=row.ip_address,
            user_agent=row.user_agent,
            device=self._user_agents.describe(row.user_agent),
        )

    async def revoke_session(self, claims: AccessClaims, session_id: uuid.UUID) -> None:
        """Revoke one of the caller's own live sessions (its refresh tokens go with it).

        Another user's session, or an unknown, expired or already revoked one: SessionNotFound
        (422), nothing changed; a caller whose own session has ended: Unauthorized. The caller
        may revoke their own current session too: its refresh fails, and its access token
        lives on until it expires (with Redis, the session's tokens are revoked at once).
        """
        now = self._clock.now()
        async with self._db.transaction() as conn:
            await self._check_live(conn, claims, now)
            revoked = await session_store.revoke_own_session(
                conn, user_id=claims.user_id, session_id=session_id, now=now
            )
        if not revoked:
            raise SessionNotFound
        await self._revoker.sessions([session_id])

    async def revoke_other_sessions(self, claims: AccessClaims) -> int:
        """Revoke every live session of the caller but the current one; count them."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            await self._check_live(conn, claims, now)
            ended = await end_other_sessions_in(conn, claims.user_id, now, keep=claims.session_id)
        await self._revoker.sessions(ended)
        return len(ended)

    @staticmethod
    async def _check_live(conn: Connection, claims: AccessClaims, now: datetime) -> None:
        """Refuse (401) a caller whose own session has ended though its access token lives on.

        Otherwise a revoked browser (a lost laptop) could, until its access token expires,
        sign out the very sessions that signed it out.
        """
        if not await session_store.is_live_session(
            conn, user_id=claims.user_id, session_id=claims.session_id, now=now
        ):
            raise Unauthorized

    async def logout(
        self,
        *,
        refresh_token: str | None,
        access_token: str | None = None,
        claims: AccessClaims | None = None,
    ) -> None:
        """Revoke the session behind a refresh token or access token; unknown ones are fine.

        `claims` are the verified claims of `access_token`, if the request had a valid one;
        with Redis, that token and every token of the sessions are revoked once committed.
        """
        now = self._clock.now()
        ended: set[uuid.UUID] = set()
        async with self._db.transaction() as conn:
            if refresh_token:
                found = await session_store.revoke_session_by_token_hash(
                    conn, hash_refresh_token(refresh_token), now
                )
                if found is not None:
                    ended.add(found)
            if claims is not None:
                await session_store.revoke_session(conn, claims.session_id, now)
                ended.add(claims.session_id)
        if ended or claims is not None:
            await self._revoker.logout(access_token, claims, sorted(ended))

    def _access_token(
        self,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        organization: MembershipRow,
        audience: Audience,
        roles: tuple[str, ...],
        now: datetime,
    ) -> str:
        return encode_access_token(
            keys=self._settings.keys,
            issuer=self._settings.issuer,
            user_id=user_id,
            session_id=session_id,
            organization_id=organization.organization_id,
            organization_role=organization.role,
            audience=audience,
            roles=tuple(role for role in roles if role in set(PlatformRole)),
            now=now,
            ttl=self._settings.access_ttl,
        )


async def end_user_sessions_in(
    conn: Connection, user_id: uuid.UUID, now: datetime, *, keep: uuid.UUID | None = None
) -> int:
    """Revoke every live session of a user but `keep`, in the caller's transaction; count them.

    A revoked session refreshes no more: its next refresh answers 401 and clears the cookies.
    With Redis, the caller revokes the user's access tokens after committing
    (`Revoker.user`, or `Revoker.sessions` of `end_other_sessions_in` when keeping one).
    """
    return len(await session_store.revoke_user_sessions(conn, user_id, now, keep=keep))


async def end_other_sessions_in(
    conn: Connection, user_id: uuid.UUID, now: datetime, *, keep: uuid.UUID
) -> list[uuid.UUID]:
    """Revoke every live session of a user but `keep`, in the caller's transaction; list them."""
    return await session_store.revoke_user_sessions(conn, user_id, now, keep=keep)


async def end_user_session_in(
    conn: Connection, user_id: uuid.UUID, session_id: uuid.UUID, now: datetime
) -> bool:
    """Revoke one live session of a user (its refresh tokens go), in the caller's transaction.

    Tell whether it was revoked (False: not that user's, unknown, expired or already ended).
    """
    return await session_store.revoke_own_session(
        conn, user_id=user_id, session_id=session_id, now=now
    )


async def leave_organization_in(
    conn: Connection,
    *,
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    fallback_id: uuid.UUID | None,
    now: datetime,
) -> None:
    """Before a membership goes: move its sessions to `fallback_id`, or delete them if None.

    Every session row, live or not, names a membership (foreign key), so none may stay
    behind; a moved session refreshes into the fallback organization, a deleted one is
    signed out.
    """
    if fallback_id is None:
        await session_store.delete_sessions_in(
            conn, user_id=user_id, organization_id=organization_id
        )
    else:
        await session_store.move_sessions(
            conn,
            user_id=user_id,
            from_organization_id=organization_id,
            to_organization_id=fallback_id,
            now=now,
        )


async def signed_in_at_in(
    conn: Connection, *, session_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> datetime:
    """Return when the caller's live session signed in; Unauthorized if it has ended.

    An access token outlives its session's revocation by up to its lifetime: changes to an
    account check the session itself, in their transaction.
    """
    started = await session_store.live_session_created_at(
        conn, session_id=session_id, user_id=user_id, now=now
    )
    if started is None:
        raise Unauthorized("Your session has ended. Sign in and try again.")
    return started
