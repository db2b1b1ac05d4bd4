"""Platform roles, passwords and the console's user actions, each audited in its transaction.

The command line (`authara admin ...`) names users by email; the console by id, through the
`*_user` methods below, which enforce upstream's guards (contract §17):

- an operator cannot disable themselves, remove their own admin role, or sign out all their
  own sessions from the console;
- the last active (enabled) admin is never disabled nor loses the admin role.

Every console change first locks the target's user row, then every active admin's role row
(`users.lock_active_admins`, the lock account deletion takes), so console changes run one
after another: the second sees the first's outcome. It also checks the operator is still an
active admin at that moment (their token may predate a demotion): two admins demoting each
other at once end with exactly one change.
"""

from __future__ import annotations

import uuid

from authara_contract.claims import PlatformRole
from authara_core.accounts import users
from authara_core.accounts.events import user_updated
from authara_core.accounts.validation import normalize_email
from authara_core.admin.audit import CLI, Action, Actor, AuditEvent, record, role_action
from authara_core.mail.outbox import MailTemplate, enqueue_in
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import (
    ConsoleChangeRefused,
    Forbidden,
    LastActiveAdmin,
    NotFound,
    SessionNotFound,
    UserNotFound,
)
from authara_core.platform.outbox import Outbox
from authara_core.platform.revocation import Revoker
from authara_core.sessions.service import end_user_session_in, end_user_sessions_in

ROLE_NAMES = tuple(role.value.removeprefix("authara:") for role in PlatformRole)
ADMIN = "admin"
NOT_AN_ADMIN_NOW = "You are no longer an active admin. Nothing was changed."


class AdminService:
    """Grant and revoke platform roles, set a password; each change is audited by `actor`.

    `actor` defaults to the command line (`audit.CLI`); the console passes its operator's.
    The audit event is written in the change's transaction: both commit or neither.
    """

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        events: Outbox | None = None,
        password_reset_url: str = "",
        revoker: Revoker | None = None,
    ) -> None:
        """`password_reset_url`: the public reset page the console's reset mail links to.

        `revoker`: with Redis, the access tokens of the sessions ended here are revoked once
        the change commits (the CLI's changes too).
        """
        self._db = db
        self._clock = clock
        self._revoker = revoker or Revoker.disabled(clock)
        self._events = events or Outbox(())
        self._reset_url = password_reset_url

    async def grant(self, email: str, role: str = "admin", *, actor: Actor = CLI) -> bool:
        """Give the account with this email a role; tell whether it was new (only then audited)."""
        async with self._db.transaction() as conn:
            user_id = await self._user_id(conn, email)
            now = self._clock.now()
            added = await users.grant_role(conn, user_id=user_id, role=role, now=now)
            if added:
                await record(conn, self._role_event(actor, role, user_id, email, True), now=now)
            return added

    async def revoke(self, email: str, role: str = "admin", *, actor: Actor = CLI) -> bool:
        """Take a role away and end the account's sessions, so no token keeps the old roles."""
        async with self._db.transaction() as conn:
            user_id = await self._user_id(conn, email)
            now = self._clock.now()
            removed = await users.revoke_role(conn, user_id=user_id, role=role)
            if removed:
                ended = await end_user_sessions_in(conn, user_id, now)
                event = self._role_event(actor, role, user_id, email, False, ended)
                await record(conn, event, now=now)
        if removed:
            await self._revoker.user(user_id)
        return removed

    async def list_roles(self) -> list[tuple[str, str]]:
        """Return (email, role) for every platform role held, by email."""
        async with self._db.connection() as conn:
            return await users.list_role_holders(conn)

    async def set_password(self, email: str, password_hash: str, *, actor: Actor = CLI) -> int:
        """Set an account's password (recovery) and end all its sessions; return how many.

        The password sign-in method is added when the account had none (an OAuth-only
        account). Ending the sessions logs out whoever used the old password.
        """
        async with self._db.transaction() as conn:
            user_id = await self._user_id(conn, email)
            now = self._clock.now()
            await users.set_password_hash(
                conn, user_id=user_id, password_hash=password_hash, now=now
            )
            ended = await end_user_sessions_in(conn, user_id, now)
            event = actor.event(
                Action.PASSWORD_SET,
                target_user_id=user_id,
                target_email=normalize_email(email),
                metadata={"sessions_ended": ended},
            )
            await record(conn, event, now=now)
        await self._revoker.user(user_id)
        return ended

    # The console's actions, by user id ----------------------------------------------------------

    async def disable_user(self, user_id: uuid.UUID, *, actor: Actor) -> int | None:
        """Disable an account, end its sessions (refresh tokens deleted); None if it already was.

        Returns how many sessions ended. Refused for oneself and for the last active admin.
        """
        if user_id == actor.user_id:
            raise ConsoleChangeRefused("You cannot disable your own account. Nothing was changed.")
        async with self._db.transaction() as conn:
            user, admins = await self._lock(conn, user_id, actor)
            if user.disabled_at is not None:
                return None
            if admins == [user_id]:
                raise LastActiveAdmin
            now = self._clock.now()
            await users.set_disabled(conn, user_id=user_id, disabled=True, now=now)
            ended = await end_user_sessions_in(conn, user_id, now)
            event = actor.event(
                Action.USER_DISABLED,
                target_user_id=user_id,
                target_email=user.email,
                metadata={"sessions_ended": ended},
            )
            await record(conn, event, now=now)
            await self._events.record_in(conn, [user_updated(user_id)], now=now)
        await self._revoker.user(user_id)
        return ended

    async def enable_user(self, user_id: uuid.UUID, *, actor: Actor) -> bool:
        """Enable a disabled account; tell whether it was disabled (only then audited)."""
        async with self._db.transaction() as conn:
            user, _ = await self._lock(conn, user_id, actor)
            now = self._clock.now()
            if not await users.set_disabled(conn, user_id=user_id, disabled=False, now=now):
                return False
            event = actor.event(
                Action.USER_ENABLED, target_user_id=user_id, target_email=user.email
            )
            await record(conn, event, now=now)
            await self._events.record_in(conn, [user_updated(user_id)], now=now)
            return True

    async def grant_user_role(self, user_id: uuid.UUID, role: str, *, actor: Actor) -> bool:
        """Give an account a platform role; tell whether it was new (only then audited)."""
        async with self._db.transaction() as conn:
            user, _ = await self._lock(conn, user_id, actor)
            now = self._clock.now()
            added = await users.grant_role(conn, user_id=user_id, role=role, now=now)
            if added:
                event = self._role_event(actor, role, user_id, user.email, True)
                await record(conn, event, now=now)
            return added

    async def revoke_user_role(self, user_id: uuid.UUID, role: str, *, actor: Actor) -> int | None:
        """Take a platform role away and end the account's sessions; None if it had none.

        Returns how many sessions ended. Refused: one's own admin role, the last active admin's.
        """
        if role == ADMIN and user_id == actor.user_id:
            raise ConsoleChangeRefused(
                "You cannot remove your own admin role. Nothing was changed."
            )
        async with self._db.transaction() as conn:
            user, admins = await self._lock(conn, user_id, actor)
            if role == ADMIN and admins == [user_id]:
                raise LastActiveAdmin
            now = self._clock.now()
            if not await users.revoke_role(conn, user_id=user_id, role=role):
                return None
            ended = await end_user_sessions_in(conn, user_id, now)
            event = self._role_event(actor, role, user_id, user.email, False, ended)
            await record(conn, event, now=now)
        await self._revoker.user(user_id)
        return ended

    async def end_user_session(
        self, user_id: uuid.UUID, session_id: uuid.UUID, *, actor: Actor
    ) -> None:
        """Sign out one live session of an account (SessionNotFound if it is not one)."""
        async with self._db.transaction() as conn:
            user, _ = await self._lock(conn, user_id, actor)
            now = self._clock.now()
            if not await end_user_session_in(conn, user_id, session_id, now):
                raise SessionNotFound
            event = actor.event(
                Action.SESSION_REVOKED,
                target_user_id=user_id,
                target_email=user.email,
                metadata={"session_id": str(session_id)},
            )
            await record(conn, event, now=now)
        await self._revoker.sessions([session_id])

    async def end_user_sessions(self, user_id: uuid.UUID, *, actor: Actor) -> int:
        """Sign out every live session of an account; count them (audited when any ended)."""
        if user_id == actor.user_id:
            raise ConsoleChangeRefused(
                "You cannot sign out all your own sessions here: use your account page."
                " Nothing was changed."
            )
        async with self._db.transaction() as conn:
            user, _ = await self._lock(conn, user_id, actor)
            now = self._clock.now()
            ended = await end_user_sessions_in(conn, user_id, now)
            if ended:
                event = actor.event(
                    Action.SESSIONS_REVOKED,
                    target_user_id=user_id,
                    target_email=user.email,
                    metadata={"sessions_ended": ended},
                )
                await record(conn, event, now=now)
        if ended:
            await self._revoker.user(user_id)
        return ended

    async def request_password_reset(self, user_id: uuid.UUID, *, actor: Actor) -> str:
        """Mail the account a link to the password reset page; return the address.

        The challenges' reset takes the new password up front (the person resetting types it,
        then confirms with a mailed code), so an operator cannot start one for someone else.
        This mail asks the user to do it themselves; nothing about the account changes.
        A disabled account is refused (it could not sign in with a new password anyway).
        """
        if not self._reset_url:
            raise ConsoleChangeRefused("Password reset mail is not available here.")
        async with self._db.transaction() as conn:
            user, _ = await self._lock(conn, user_id, actor)
            if user.disabled_at is not None:
                raise ConsoleChangeRefused(
                    "The account is disabled: enable it before asking for a password reset."
                )
            now = self._clock.now()
            await enqueue_in(
                conn,
                template=MailTemplate.PASSWORD_RESET_REQUEST,
                to=user.email,
                data={"reset_url": self._reset_url},
                now=now,
            )
            event = actor.event(
                Action.PASSWORD_RESET_REQUESTED, target_user_id=user_id, target_email=user.email
            )
            await record(conn, event, now=now)
            return user.email

    @staticmethod
    async def _lock(
        conn: Connection, user_id: uuid.UUID, actor: Actor
    ) -> tuple[users.UserRow, list[uuid.UUID]]:
        """Lock the target, the operator's row, then the active admins; check the operator.

        Returns the target and the active admins, read after the locks are held (see
        `users.lock_active_admins`).
        """
        if not await users.lock_user_for_change(conn, user_id):
            raise UserNotFound
        user = await users.get_user(conn, user_id)
        if user is None:
            raise UserNotFound
        # The audit event will reference the operator: hold their row now (a concurrent
        # deletion of the operator then waits for this change or goes first, no deadlock).
        operator = actor.user_id
        if operator is not None and operator != user_id:
            kept = await users.keep_user(conn, operator)
            if not kept:
                raise Forbidden(NOT_AN_ADMIN_NOW)
        admins = await users.lock_active_admins(conn)
        if actor.user_id is not None and actor.user_id not in admins:
            raise Forbidden(NOT_AN_ADMIN_NOW)
        return user, admins

    @staticmethod
    def _role_event(
        actor: Actor,
        role: str,
        user_id: uuid.UUID,
        email: str,
        granted: bool,
        sessions_ended: int | None = None,
    ) -> AuditEvent:
        metadata: dict[str, object] = {"role": role}
        if sessions_ended is not None:
            metadata["sessions_ended"] = sessions_ended
        return actor.event(
            role_action(role, granted=granted),
            target_user_id=user_id,
            target_email=normalize_email(email),
            metadata=metadata,
        )

    async def _user_id(self, conn: Connection, email: str) -> uuid.UUID:
        user_id = await users.find_user_id_by_email(conn, normalize_email(email))
        if user_id is None:
            raise NotFound(f"no account with email {normalize_email(email)!r}")
        return user_id
