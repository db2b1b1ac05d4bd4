"""Account self-service: a signed-in user changes their username or password, or leaves.

Every change runs in one transaction that first checks the caller's session is still live
(an access token outlives its session's revocation by up to its lifetime), and reports the
change (`user.updated`) in that same transaction: a refused change records nothing.
Passwords are checked and hashed before any transaction opens (argon2 runs off the loop).

Where we differ from upstream: a password change ends every *other* session of the user
(upstream ends none); `PUT /users/password` ends all of them, the caller's too, as upstream.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Final

import asyncpg

from authara_core.accounts import store
from authara_core.accounts.events import user_updated
from authara_core.accounts.store import UserRow
from authara_core.accounts.validation import validate_password
from authara_core.admin import audit
from authara_core.challenges.service import delete_password_resets_in
from authara_core.organizations.management import OrganizationManagement
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import (
    InvalidUsername,
    NoPassword,
    PasswordExists,
    PasswordMismatch,
    ReauthenticationRequired,
    SignInAgain,
    Unauthorized,
    UsernameTaken,
    WrongCurrentPassword,
)
from authara_core.platform.hasher import PasswordHasher
from authara_core.platform.outbox import Outbox
from authara_core.platform.ratelimit import Throttle
from authara_core.platform.revocation import Revoker
from authara_core.sessions.service import (
    end_other_sessions_in,
    end_user_sessions_in,
    signed_in_at_in,
)

# fullmatch: `$` would also match before a final newline.
USERNAME: Final = re.compile(r"[A-Za-z0-9_-]{3,30}")
RECENT_SIGN_IN: Final = timedelta(minutes=10)
"""How recent a sign-in must be for a change no password confirms: deleting an account that
has none, adding a password, PUT /users/password."""
SIGN_IN_TO_ADD_PASSWORD: Final = "For your security, sign in again, then add your password."  # noqa: S105


def validate_username(raw: str) -> str:
    """Return the trimmed username or raise InvalidUsername."""
    username = raw.strip()
    if not USERNAME.fullmatch(username):
        raise InvalidUsername
    return username


def check_new_password(password: str, confirmation: str) -> None:
    """Refuse a new password that differs from its confirmation or breaks the length rule."""
    if password != confirmation:
        raise PasswordMismatch
    validate_password(password)


class SelfService:
    """Change one's username or password, add a password, delete one's account."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        hasher: PasswordHasher,
        throttle: Throttle,
        management: OrganizationManagement,
        events: Outbox,
        revoker: Revoker | None = None,
    ) -> None:
        self._events = events
        self._revoker = revoker or Revoker.disabled(clock)  # after commits (Redis)
        self._db = db
        self._clock = clock
        self._hasher = hasher
        self._throttle = throttle
        self._management = management

    async def change_username(
        self, *, user_id: uuid.UUID, session_id: uuid.UUID, username: str
    ) -> str:
        """Rename the caller; UsernameTaken when another account has it in any case."""
        username = validate_username(username)
        now = self._clock.now()
        try:
            async with self._db.transaction() as conn:
                await signed_in_at_in(conn, session_id=session_id, user_id=user_id, now=now)
                if await store.update_username(conn, user_id=user_id, username=username, now=now):
                    await self._events.record_in(conn, [user_updated(user_id)], now=now)
        except asyncpg.UniqueViolationError as exc:  # of two renames to one name, one wins
            if exc.constraint_name in store.USERNAME_CONSTRAINTS:
                raise UsernameTaken from exc
            raise
        return username

    async def change_password(
        self,
        *,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        current: str,
        new: str,
        confirmation: str,
        client_ip: str | None,
    ) -> int:
        """Replace the password after checking the current one; end the other sessions.

        Returns how many other sessions were ended. A wrong current password changes
        nothing and counts as a failed login for the account's email.
        """
        check_new_password(new, confirmation)
        user, old_hash = await self._password_of(user_id)
        if old_hash is None:
            raise NoPassword
        await self._throttle.check("login", ip=client_ip, email=user.email)
        if not await self._hasher.verify(old_hash, current):
            raise WrongCurrentPassword
        new_hash = await self._hasher.hash(new)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            await signed_in_at_in(conn, session_id=session_id, user_id=user_id, now=now)
            if not await store.replace_password_hash(
                conn, user_id=user_id, old_hash=old_hash, new_hash=new_hash, now=now
            ):  # changed meanwhile: the current password given is no longer current
                raise WrongCurrentPassword
            ended = await end_other_sessions_in(conn, user_id, now, keep=session_id)
            # A reset started before the change would set an older password once verified.
            await delete_password_resets_in(conn, user_id)
            await self._events.record_in(conn, [user_updated(user_id)], now=now)
            await _audit_password_change(conn, user, client_ip, "account", len(ended), now)
        await self._revoker.sessions(ended)
        return len(ended)

    async def add_password(
        self, *, user_id: uuid.UUID, session_id: uuid.UUID, new: str, confirmation: str
    ) -> None:
        """Give an account without a password one (sessions are kept).

        There is no password to confirm with, so the session must have signed in recently
        (RECENT_SIGN_IN), as for deleting such an account: a session left open elsewhere
        must not be able to add a password, sign in with it, and confirm anything later.
        """
        check_new_password(new, confirmation)
        _, old_hash = await self._password_of(user_id)
        if old_hash is not None:
            raise PasswordExists
        new_hash = await self._hasher.hash(new)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            started = await signed_in_at_in(conn, session_id=session_id, user_id=user_id, now=now)
            if not _recent(started, now):
                raise SignInAgain(SIGN_IN_TO_ADD_PASSWORD)
            if not await store.add_password_hash(  # False: a concurrent add won
                conn, user_id=user_id, password_hash=new_hash, now=now
            ):
                raise PasswordExists
            await delete_password_resets_in(conn, user_id)
            await self._events.record_in(conn, [user_updated(user_id)], now=now)

    async def set_password(
        self,
        *,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        password: str,
        client_ip: str | None = None,
    ) -> None:
        """Create or replace the password and end every session, the caller's included.

        Pending password resets are dropped: they would set an older password later. The
        caller's session must still be live (a device signed out elsewhere keeps a valid
        access token for minutes) and must have signed in within RECENT_SIGN_IN: the route
        asks for no current password, so an old session left open must not take the account
        over with it (ReauthenticationRequired, 403; upstream has no such check).
        """
        validate_password(password)
        new_hash = await self._hasher.hash(password)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            if not await store.lock_user(conn, user_id, exclusive=True):
                raise Unauthorized
            started = await signed_in_at_in(conn, session_id=session_id, user_id=user_id, now=now)
            if not _recent(started, now):
                raise ReauthenticationRequired
            await store.set_password_hash(conn, user_id=user_id, password_hash=new_hash, now=now)
            ended = await end_user_sessions_in(conn, user_id, now)
            await delete_password_resets_in(conn, user_id)
            await self._events.record_in(conn, [user_updated(user_id)], now=now)
            locked = await store.get_user(conn, user_id)
            if locked is not None:
                await _audit_password_change(conn, locked, client_ip, "api", ended, now)
        await self._revoker.user(user_id)

    async def has_password(self, user_id: uuid.UUID) -> bool:
        """Tell whether the account has a password (the delete form asks for it)."""
        return (await self._password_of(user_id))[1] is not None

    async def delete_account(
        self,
        *,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        password: str,
        client_ip: str | None,
    ) -> None:
        """Delete the caller's account, confirmed by password or, without one, a recent sign-in.

        Goes through the one deletion path (organizations' delete_user): everything the
        account owns alone goes with it, `user.deleted` is recorded, and the last active
        admin or the last owner of a shared organization is refused.
        """
        user, password_hash = await self._password_of(user_id)
        if password_hash is not None:
            await self._throttle.check("login", ip=client_ip, email=user.email)
            if not password or not await self._hasher.verify(password_hash, password):
                raise WrongCurrentPassword(
                    "Your password is not correct. Your account was not deleted."
                )

        async def confirmed(conn: Connection, locked: UserRow) -> None:
            now = self._clock.now()
            started = await signed_in_at_in(conn, session_id=session_id, user_id=user_id, now=now)
            if await store.get_password_hash(conn, locked.id) != password_hash:
                raise WrongCurrentPassword("Your password changed meanwhile. Nothing was changed.")
            if password_hash is None and not _recent(started, now):
                raise SignInAgain

        await self._management.delete_user(user_id, guard=confirmed)  # revokes the tokens

    async def _password_of(self, user_id: uuid.UUID) -> tuple[UserRow, str | None]:
        async with self._db.connection() as conn:
            user = await store.get_user(conn, user_id)
            password_hash = await store.get_password_hash(conn, user_id)
        if user is None:
            raise Unauthorized
        return user, password_hash


async def _audit_password_change(
    conn: Connection,
    user: UserRow,
    client_ip: str | None,
    via: str,
    sessions_ended: int,
    now: datetime,
) -> None:
    """Record `user.password_changed` by the account's owner, in the change's transaction."""
    event = audit.Actor(user_id=user.id, ip=client_ip).event(
        audit.Action.PASSWORD_CHANGED,
        target_user_id=user.id,
        target_email=user.email,
        metadata={"via": via, "sessions_ended": sessions_ended},
    )
    await audit.record(conn, event, now=now)


def _recent(started: datetime, now: datetime) -> bool:
    return now - started <= RECENT_SIGN_IN
