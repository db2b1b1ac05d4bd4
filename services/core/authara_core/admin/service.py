"""Platform roles: make the first admin from the command line (there is no default admin)."""

from __future__ import annotations

import uuid

from authara_contract.claims import PlatformRole
from authara_core.accounts import users
from authara_core.accounts.validation import normalize_email
from authara_core.admin.audit import CLI, Action, Actor, AuditEvent, record, role_action
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import NotFound
from authara_core.sessions.service import end_user_sessions_in

ROLE_NAMES = tuple(role.value.removeprefix("authara:") for role in PlatformRole)


class AdminService:
    """Grant and revoke platform roles, set a password; each change is audited by `actor`.

    `actor` defaults to the command line (`audit.CLI`); the console passes its operator's.
    The audit event is written in the change's transaction: both commit or neither.
    """

    def __init__(self, *, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

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
            return ended

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
