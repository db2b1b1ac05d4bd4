"""Accounts: sign up and log in with email and password."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Final

import asyncpg

from authara_contract.claims import Audience
from authara_core.accounts import store as user_store
from authara_core.accounts.events import user_created, user_updated
from authara_core.accounts.store import UserRow
from authara_core.accounts.validation import (
    derive_username,
    normalize_email,
    validate_email,
    validate_password,
)
from authara_core.admin import audit
from authara_core.allowlist import service as allowlist
from authara_core.allowlist.service import AccessPolicy
from authara_core.organizations.service import OrganizationService
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import EmailTaken, InvalidCredentials
from authara_core.platform.hasher import PasswordHasher
from authara_core.platform.outbox import Outbox
from authara_core.platform.ratelimit import Throttle
from authara_core.sessions.service import IssuedSession, SessionService

USERNAME_ATTEMPTS: Final = 5
LOGIN_FAILURES_AUDITED: Final = 5
"""The failed login for one email, within the login rate limit's per-email window, that writes
one `security.login_failures` audit event (capped at the per-email limit)."""
SIGNUP_NOT_ALLOWED: Final = "Sign-up is limited to approved email addresses."


@dataclass(frozen=True, slots=True)
class PreparedSignup:
    """A checked email and the hash of a checked password, ready to insert."""

    email: str
    password_hash: str


class AccountService:
    """Create accounts and authenticate them, starting a session in the same transaction."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        events: Outbox,
        hasher: PasswordHasher,
        sessions: SessionService,
        organizations: OrganizationService,
        throttle: Throttle,
        policy: AccessPolicy | None = None,
    ) -> None:
        self._policy = policy  # the allowlist; None: everyone may sign up
        self._db = db
        self._clock = clock
        self._events = events
        self._hasher = hasher
        self._sessions = sessions
        self._organizations = organizations
        self._throttle = throttle

    async def signup(
        self,
        *,
        email: str,
        password: str,
        audience: Audience,
        user_agent: str,
        client_ip: str | None,
    ) -> IssuedSession:
        """Create a password account and sign it in; nothing is written if any step fails."""
        if self._policy is not None and self._policy.enabled:  # before the password's hashing
            await self.check_signup_allowed(validate_email(email))
        prepared = await self.prepare_signup(email=email, password=password, client_ip=client_ip)
        async with self._db.transaction() as conn:
            user = await self.create_password_user_in(conn, prepared)
            return await self._sessions.start_in(
                conn, user, audience=audience, user_agent=user_agent, client_ip=client_ip
            )

    async def check_signup_allowed(self, email: str) -> None:
        """Refuse (EmailNotAllowed, 403) a signup the allowlist keeps out, before any work."""
        if self._policy is not None:
            await self._policy.check(email, SIGNUP_NOT_ALLOWED)

    async def prepare_signup(
        self, *, email: str, password: str, client_ip: str | None
    ) -> PreparedSignup:
        """Do a signup's checks and hash the password, before any transaction opens."""
        await self._throttle.check("signup", ip=client_ip, email=email)
        address = validate_email(email)
        validate_password(password)
        return PreparedSignup(address, await self._hasher.hash(password))

    async def hash_new_password(self, password: str) -> str:
        """Check a new password against the rule and hash it (before any transaction)."""
        validate_password(password)
        return await self._hasher.hash(password)

    async def set_password_in(
        self, conn: Connection, user_id: uuid.UUID, password_hash: str
    ) -> None:
        """Set a user's password inside the caller's transaction (adding one if they had none)."""
        await user_store.set_password_hash(
            conn, user_id=user_id, password_hash=password_hash, now=self._clock.now()
        )

    async def change_email_in(self, conn: Connection, user_id: uuid.UUID, email: str) -> bool:
        """Move a user to a new email inside the caller's transaction; EmailTaken if it is used.

        A clash aborts the caller's transaction: nothing it did is kept. A change is reported
        (`user.updated`) in the same transaction.
        """
        now = self._clock.now()
        before = await user_store.get_user(conn, user_id)
        try:
            changed = await user_store.update_email(conn, user_id=user_id, email=email, now=now)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == user_store.EMAIL_CONSTRAINT:
                raise EmailTaken(
                    "That email address now belongs to another account. Nothing was changed."
                ) from exc
            raise
        if changed:
            await self._events.record_in(conn, [user_updated(user_id)], now=now)
            if before is not None:  # the allowlist entry follows the account
                await allowlist.move_in(conn, before.email, email, clock=self._clock)
        return changed

    async def create_password_user_in(
        self, conn: Connection, prepared: PreparedSignup, *, first_organization: bool = True
    ) -> UserRow:
        """Insert a prepared password account inside the caller's transaction."""
        user = await self.insert_user_in(
            conn, prepared.email, first_organization=first_organization
        )
        await user_store.insert_password_provider(
            conn, user_id=user.id, password_hash=prepared.password_hash, now=self._clock.now()
        )
        return user

    async def login(
        self,
        *,
        email: str,
        password: str,
        audience: Audience,
        user_agent: str,
        client_ip: str | None,
    ) -> IssuedSession:
        """Check email and password and start a session; failures never say which was wrong."""
        user = await self.authenticate(email=email, password=password, client_ip=client_ip)
        async with self._db.transaction() as conn:
            return await self._sessions.start_in(
                conn, user, audience=audience, user_agent=user_agent, client_ip=client_ip
            )

    async def authenticate(self, *, email: str, password: str, client_ip: str | None) -> UserRow:
        """Check email and password (rate-limited as a login); the caller starts the session."""
        await self._throttle.check("login", ip=client_ip, email=email)
        address = normalize_email(email)
        async with self._db.connection() as conn:
            found = await user_store.get_password_login(conn, address)
        if found is None:
            await self._hasher.burn(password)
            await self._failed_login(address, None, client_ip)
            raise InvalidCredentials
        if not await self._hasher.verify(found.password_hash, password):
            await self._failed_login(address, found.user.id, client_ip)
            raise InvalidCredentials
        if self._hasher.needs_rehash(found.password_hash):
            new_hash = await self._hasher.hash(password)
            async with self._db.transaction() as conn:
                await user_store.update_password_hash(
                    conn, user_id=found.user.id, password_hash=new_hash, now=self._clock.now()
                )
        return found.user

    async def _failed_login(
        self, address: str, user_id: uuid.UUID | None, client_ip: str | None
    ) -> None:
        """Audit `security.login_failures` once when an email reaches LOGIN_FAILURES_AUDITED.

        The count is the rate limiter's (per process, the per-email login window), so a
        failed login costs no database write; the event has no change to join and commits
        in a transaction of its own, before the refusal (ARCHITECTURE §4).
        """
        reached = await self._throttle.failed(
            "login", email=address, threshold=LOGIN_FAILURES_AUDITED
        )
        if reached is None:
            return
        now = self._clock.now()
        event = audit.Actor(label=audit.ANONYMOUS_ACTOR, ip=client_ip).event(
            audit.Action.LOGIN_FAILURES,
            target_user_id=user_id,
            target_email=address,
            metadata={
                "failures": reached.limit,
                "window_seconds": int(reached.window.total_seconds()),
                "account_exists": user_id is not None,
            },
        )
        async with self._db.transaction() as conn:
            await audit.record(conn, event, now=now)

    async def insert_user_in(
        self, conn: Connection, email: str, *, first_organization: bool = True
    ) -> UserRow:
        """Insert a user and their first organization inside the caller's transaction.

        Every way of signing up comes through here, so no user exists without an
        organization, and each one is reported (`user.created`) in the same transaction.
        Only a single-mode invitation signup leaves out the first organization: the
        invitation's organization, joined in the same transaction, is the user's one.
        """
        user = await self._insert_user_row(conn, email)
        await self._events.record_in(conn, [user_created(user.id)], now=self._clock.now())
        if first_organization:
            await self._organizations.create_first_in(
                conn, user_id=user.id, username=user.username, email=user.email
            )
        return user

    async def _insert_user_row(self, conn: Connection, email: str) -> UserRow:
        for _ in range(USERNAME_ATTEMPTS):
            try:
                async with conn.transaction():  # savepoint: a clash must not abort the outer tx
                    return await user_store.insert_user(
                        conn, email=email, username=derive_username(email), now=self._clock.now()
                    )
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == user_store.EMAIL_CONSTRAINT:
                    raise EmailTaken from exc
                if exc.constraint_name not in user_store.USERNAME_CONSTRAINTS:
                    raise
        raise RuntimeError(f"no free username after {USERNAME_ATTEMPTS} attempts")
