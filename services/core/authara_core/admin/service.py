"""Platform roles: make the first admin from the command line (there is no default admin)."""

from __future__ import annotations

import uuid

from authara_contract.claims import PlatformRole
from authara_core.accounts import users
from authara_core.accounts.validation import normalize_email
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import NotFound
from authara_core.sessions.service import end_user_sessions_in

ROLE_NAMES = tuple(role.value.removeprefix("authara:") for role in PlatformRole)


class AdminService:
    """Grant and revoke platform roles."""

    def __init__(self, *, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def grant(self, email: str, role: str = "admin") -> bool:
        """Give the account with this email a role; tell whether it was new."""
        async with self._db.transaction() as conn:
            user_id = await self._user_id(conn, email)
            return await users.grant_role(conn, user_id=user_id, role=role, now=self._clock.now())

    async def revoke(self, email: str, role: str = "admin") -> bool:
        """Take a role away and end the account's sessions, so no token keeps the old roles."""
        async with self._db.transaction() as conn:
            user_id = await self._user_id(conn, email)
            removed = await users.revoke_role(conn, user_id=user_id, role=role)
            if removed:
                await end_user_sessions_in(conn, user_id, self._clock.now())
            return removed

    async def list_roles(self) -> list[tuple[str, str]]:
        """Return (email, role) for every platform role held, by email."""
        async with self._db.connection() as conn:
            return await users.list_role_holders(conn)

    async def set_password(self, email: str, password_hash: str) -> int:
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
            return await end_user_sessions_in(conn, user_id, now)

    async def _user_id(self, conn: Connection, email: str) -> uuid.UUID:
        user_id = await users.find_user_id_by_email(conn, normalize_email(email))
        if user_id is None:
            raise NotFound(f"no account with email {normalize_email(email)!r}")
        return user_id
