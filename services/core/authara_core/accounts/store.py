"""SQL for users, their password providers and platform roles."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg

from authara_core.platform.db import Connection, Executor

EMAIL_CONSTRAINT: Final = "uq_users_email"
USERNAME_CONSTRAINTS: Final = frozenset({"uq_users_username", "uq_users_username_normalized"})
PASSWORD_PROVIDER: Final = "password"  # noqa: S105  (a provider name, not a secret)


@dataclass(frozen=True, slots=True)
class UserRow:
    """A user as stored."""

    id: uuid.UUID
    email: str
    username: str
    created_at: datetime
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class PasswordLogin:
    """A user together with their password hash, for login."""

    user: UserRow
    password_hash: str


def _user(record: asyncpg.Record) -> UserRow:
    return UserRow(
        id=record["id"],
        email=record["email"],
        username=record["username"],
        created_at=record["created_at"],
        disabled_at=record["disabled_at"],
    )


async def insert_user(conn: Connection, *, email: str, username: str, now: datetime) -> UserRow:
    """Insert a user; raises asyncpg.UniqueViolationError on a taken email or username."""
    record = await conn.fetchrow(
        """
        INSERT INTO users AS u (email, username, username_normalized, created_at, updated_at)
        VALUES ($1, $2, lower($2), $3, $3)
        RETURNING u.id, u.email, u.username, u.created_at, u.disabled_at
        """,
        email,
        username,
        now,
    )
    assert record is not None  # noqa: S101  (INSERT ... RETURNING returns the row or raises)
    return _user(record)


async def insert_password_provider(
    conn: Connection, *, user_id: uuid.UUID, password_hash: str, now: datetime
) -> None:
    """Give a user a password sign-in method."""
    await conn.execute(
        """
        INSERT INTO auth_providers (user_id, provider, password_hash, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $4)
        """,
        user_id,
        PASSWORD_PROVIDER,
        password_hash,
        now,
    )


async def get_password_login(conn: Connection, email: str) -> PasswordLogin | None:
    """Find a user with a password by normalized email."""
    record = await conn.fetchrow(
        """
        SELECT u.id, u.email, u.username, u.created_at, u.disabled_at, p.password_hash
        FROM users u
        JOIN auth_providers p ON p.user_id = u.id AND p.provider = $2
        WHERE u.email = $1 AND p.password_hash IS NOT NULL AND p.password_hash <> ''
        """,
        email,
        PASSWORD_PROVIDER,
    )
    if record is None:
        return None
    return PasswordLogin(user=_user(record), password_hash=record["password_hash"])


async def update_password_hash(
    conn: Connection, *, user_id: uuid.UUID, password_hash: str, now: datetime
) -> None:
    """Replace a user's password hash (used to upgrade parameters on login)."""
    await conn.execute(
        """
        UPDATE auth_providers SET password_hash = $2, updated_at = $3
        WHERE user_id = $1 AND provider = 'password'
        """,
        user_id,
        password_hash,
        now,
    )


async def set_password_hash(
    conn: Connection, *, user_id: uuid.UUID, password_hash: str, now: datetime
) -> None:
    """Give a user this password, adding the password sign-in method if they had none."""
    await conn.execute(
        """
        INSERT INTO auth_providers (user_id, provider, password_hash, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $4)
        ON CONFLICT (user_id, provider) DO UPDATE
        SET password_hash = excluded.password_hash, updated_at = excluded.updated_at
        """,
        user_id,
        PASSWORD_PROVIDER,
        password_hash,
        now,
    )


async def update_email(conn: Connection, *, user_id: uuid.UUID, email: str, now: datetime) -> bool:
    """Change a user's email; raises asyncpg.UniqueViolationError when another user has it."""
    status = await conn.execute(
        "UPDATE users SET email = $2, updated_at = $3 WHERE id = $1", user_id, email, now
    )
    return status == "UPDATE 1"


async def get_user(conn: Connection, user_id: uuid.UUID) -> UserRow | None:
    """Load one user by id."""
    record = await conn.fetchrow(
        "SELECT u.id, u.email, u.username, u.created_at, u.disabled_at"
        " FROM users u WHERE u.id = $1",
        user_id,
    )
    return None if record is None else _user(record)


async def lock_user(conn: Connection, user_id: uuid.UUID, *, exclusive: bool) -> bool:
    """Lock a user row (FOR UPDATE, else FOR SHARE) until commit; tell whether it exists."""
    lock = "UPDATE" if exclusive else "SHARE"
    found = await conn.fetchval(f"SELECT 1 FROM users WHERE id = $1 FOR {lock}", user_id)  # noqa: S608
    return found is not None


async def lock_user_for_change(conn: Connection, user_id: uuid.UUID) -> bool:
    """Lock a user row for a change that keeps its id (FOR NO KEY UPDATE); tell if it exists.

    Weaker than `lock_user(exclusive=True)`: rows that reference the user (an audit event,
    a session) may still be written meanwhile, so two changes each holding one user and
    writing a reference to the other do not deadlock.
    """
    found = await conn.fetchval("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE", user_id)
    return found is not None


async def keep_user(conn: Connection, user_id: uuid.UUID) -> bool:
    """Keep a user row from being deleted until commit (FOR KEY SHARE); tell if it exists.

    Taken by a change that will write a reference to the user (an audit event's actor) before
    it takes other locks, so a concurrent deletion of that user waits for it or goes first,
    never deadlocks with it.
    """
    found = await conn.fetchval("SELECT 1 FROM users WHERE id = $1 FOR KEY SHARE", user_id)
    return found is not None


async def delete_user(conn: Connection, user_id: uuid.UUID) -> None:
    """Delete a user; roles, identities, memberships and sessions go with it (cascade)."""
    await conn.execute("DELETE FROM users WHERE id = $1", user_id)


async def get_user_with_roles(
    conn: Executor, user_id: uuid.UUID
) -> tuple[UserRow, list[str]] | None:
    """Load one user and their platform role names in a single round trip."""
    record = await conn.fetchrow(
        """
        SELECT u.id, u.email, u.username, u.created_at, u.disabled_at,
               coalesce(array_agg(r.name ORDER BY r.name) FILTER (WHERE r.name IS NOT NULL),
                        '{}') AS roles
        FROM users u
        LEFT JOIN user_platform_roles ur ON ur.user_id = u.id
        LEFT JOIN platform_roles r ON r.id = ur.role_id
        WHERE u.id = $1
        GROUP BY u.id
        """,
        user_id,
    )
    return None if record is None else (_user(record), list(record["roles"]))


async def get_role_names(conn: Connection, user_id: uuid.UUID) -> list[str]:
    """Return the user's platform role names (admin, auditor, monitor), sorted."""
    records = await conn.fetch(
        """
        SELECT r.name FROM user_platform_roles ur
        JOIN platform_roles r ON r.id = ur.role_id
        WHERE ur.user_id = $1 ORDER BY r.name
        """,
        user_id,
    )
    return [record["name"] for record in records]


async def list_role_holders(conn: Connection) -> list[tuple[str, str]]:
    """Return (email, role name) for every platform role held, by email then role."""
    records = await conn.fetch(
        """
        SELECT u.email, r.name FROM user_platform_roles ur
        JOIN platform_roles r ON r.id = ur.role_id
        JOIN users u ON u.id = ur.user_id
        ORDER BY u.email, r.name
        """
    )
    return [(record["email"], record["name"]) for record in records]


async def find_user_id_by_email(conn: Connection, email: str) -> uuid.UUID | None:
    """Return the id of the user with this normalized email."""
    user_id: uuid.UUID | None = await conn.fetchval("SELECT id FROM users WHERE email = $1", email)
    return user_id


async def grant_role(conn: Connection, *, user_id: uuid.UUID, role: str, now: datetime) -> bool:
    """Give a user a platform role; tell whether it was new."""
    status = await conn.execute(
        """
        INSERT INTO user_platform_roles (user_id, role_id, created_at)
        SELECT $1, r.id, $3 FROM platform_roles r WHERE r.name = $2
        ON CONFLICT DO NOTHING
        """,
        user_id,
        role,
        now,
    )
    return status == "INSERT 0 1"


async def set_disabled(
    conn: Connection, *, user_id: uuid.UUID, disabled: bool, now: datetime
) -> bool:
    """Disable (disabled_at = now) or enable a user; tell whether the state changed."""
    status = await conn.execute(
        """
        UPDATE users SET disabled_at = CASE WHEN $2 THEN $3::timestamptz END, updated_at = $3
        WHERE id = $1 AND (disabled_at IS NOT NULL) <> $2
        """,
        user_id,
        disabled,
        now,
    )
    return status == "UPDATE 1"


async def revoke_role(conn: Connection, *, user_id: uuid.UUID, role: str) -> bool:
    """Take a platform role from a user; tell whether they had it."""
    status = await conn.execute(
        """
        DELETE FROM user_platform_roles ur USING platform_roles r
        WHERE ur.role_id = r.id AND ur.user_id = $1 AND r.name = $2
        """,
        user_id,
        role,
    )
    return status != "DELETE 0"


async def get_user_by_email(conn: Connection, email: str) -> UserRow | None:
    """Load one user by normalized email."""
    record = await conn.fetchrow(
        "SELECT u.id, u.email, u.username, u.created_at, u.disabled_at"
        " FROM users u WHERE u.email = $1",
        email,
    )
    return None if record is None else _user(record)


async def get_password_hash(conn: Connection, user_id: uuid.UUID) -> str | None:
    """Return a user's password hash, or None when they have no password."""
    password_hash: str | None = await conn.fetchval(
        """
        SELECT password_hash FROM auth_providers
        WHERE user_id = $1 AND provider = $2 AND password_hash IS NOT NULL AND password_hash <> ''
        """,
        user_id,
        PASSWORD_PROVIDER,
    )
    return password_hash


async def update_username(
    conn: Connection, *, user_id: uuid.UUID, username: str, now: datetime
) -> bool:
    """Rename a user; tell whether it changed (raises UniqueViolationError when taken)."""
    status = await conn.execute(
        """
        UPDATE users SET username = $2, username_normalized = lower($2), updated_at = $3
        WHERE id = $1 AND username IS DISTINCT FROM $2
        """,
        user_id,
        username,
        now,
    )
    return status == "UPDATE 1"


async def lock_active_admins(conn: Connection) -> list[uuid.UUID]:
    """Lock every admin role row of an enabled user until commit; return those users.

    Callers that may remove the last admin (deleting, disabling or demoting one) take these
    locks first, so two such changes run one after the other and the second sees the first's
    outcome. The list is read again after the locks are held: in READ COMMITTED a query that
    waited for a lock still sees the users rows of its start, so it would count an admin the
    change it waited for had just disabled.
    """
    await conn.execute(
        """
        SELECT 1 FROM user_platform_roles ur
        JOIN platform_roles r ON r.id = ur.role_id
        JOIN users u ON u.id = ur.user_id
        WHERE r.name = 'admin' AND u.disabled_at IS NULL
        ORDER BY ur.user_id
        FOR UPDATE OF ur
        """
    )
    records = await conn.fetch(
        """
        SELECT ur.user_id FROM user_platform_roles ur
        JOIN platform_roles r ON r.id = ur.role_id
        JOIN users u ON u.id = ur.user_id
        WHERE r.name = 'admin' AND u.disabled_at IS NULL
        ORDER BY ur.user_id
        """
    )
    return [record["user_id"] for record in records]


async def replace_password_hash(
    conn: Connection, *, user_id: uuid.UUID, old_hash: str, new_hash: str, now: datetime
) -> bool:
    """Replace a password hash only if it is still `old_hash` (compare-and-set)."""
    status = await conn.execute(
        """
        UPDATE auth_providers SET password_hash = $3, updated_at = $4
        WHERE user_id = $1 AND provider = 'password' AND password_hash = $2
        """,
        user_id,
        old_hash,
        new_hash,
        now,
    )
    return status == "UPDATE 1"


async def add_password_hash(
    conn: Connection, *, user_id: uuid.UUID, password_hash: str, now: datetime
) -> bool:
    """Give a user without a password one; tell whether it was added (False: they have one)."""
    status = await conn.execute(
        """
        INSERT INTO auth_providers (user_id, provider, password_hash, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $4)
        ON CONFLICT (user_id, provider) DO UPDATE
        SET password_hash = excluded.password_hash, updated_at = excluded.updated_at
        WHERE auth_providers.password_hash IS NULL OR auth_providers.password_hash = ''
        """,
        user_id,
        PASSWORD_PROVIDER,
        password_hash,
        now,
    )
    return status == "INSERT 0 1"
