"""Refresh-token rotation: the state table of issue 3, reuse detection, concurrency, cleanup."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from authara_contract.claims import Audience
from authara_contract.database import DatabaseSettings
from authara_core.accounts.service import AccountService
from authara_core.admin.service import AdminService
from authara_core.organizations.service import OrganizationService
from authara_core.platform.db import Database
from authara_core.platform.errors import (
    InvalidRefreshToken,
    RefreshTokenMissing,
    RefreshTokenReused,
)
from authara_core.platform.hasher import PasswordHasher
from authara_core.platform.outbox import Outbox
from authara_core.platform.ratelimit import MemoryRateLimiter, Throttle
from authara_core.sessions.service import IssuedSession, SessionService
from authara_core.sessions.tokens import hash_refresh_token
from authara_core.settings import load_settings
from tests.coresupport import FakeClock, core_env

PASSWORD = "correct horse battery"


@dataclass
class Stack:
    db: Database
    clock: FakeClock
    sessions: SessionService
    accounts: AccountService
    admin: AdminService

    async def signup(self, email: str = "ada@example.com") -> IssuedSession:
        return await self.accounts.signup(
            email=email,
            password=PASSWORD,
            audience=Audience.APP,
            user_agent="t",
            client_ip="127.0.0.1",
        )


async def _stack(db_settings: DatabaseSettings, **env: str) -> Stack:
    settings = load_settings(core_env(db_settings, AUTHARA_DB_MAX_OPEN_CONNS="30", **env))
    database = Database(settings.database, pool_size=settings.db_pool_size)
    await database.open()
    clock = FakeClock()
    sessions = SessionService(db=database, clock=clock, settings=settings.tokens)
    limits = settings.rate_limits
    throttle = Throttle(
        MemoryRateLimiter(clock, cleanup_every=100, max_entries=1000),
        login=limits.login,
        signup=limits.signup,
        password_reset=limits.password_reset,
        challenge_verify=limits.challenge_verify,
        challenge_resend=limits.challenge_resend,
    )
    accounts = AccountService(
        db=database,
        clock=clock,
        events=Outbox(()),
        hasher=PasswordHasher(settings.passwords),
        sessions=sessions,
        organizations=OrganizationService(
            db=database, clock=clock, events=Outbox(()), mode=settings.organization_mode
        ),
        throttle=throttle,
    )
    return Stack(database, clock, sessions, accounts, AdminService(db=database, clock=clock))


@pytest.fixture
async def always(db: DatabaseSettings) -> AsyncIterator[Stack]:
    stack = await _stack(db, AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL="always")
    yield stack
    await stack.db.close()


@pytest.fixture
async def daily(db: DatabaseSettings) -> AsyncIterator[Stack]:
    stack = await _stack(db, AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL="24h")
    yield stack
    await stack.db.close()


@pytest.fixture
async def strict(db: DatabaseSettings) -> AsyncIterator[Stack]:
    stack = await _stack(
        db, AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL="always", AUTHARA_REFRESH_TOKEN_REUSE_GRACE="0"
    )
    yield stack
    await stack.db.close()


@pytest.fixture
async def conn(db: DatabaseSettings) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(db.url(), server_settings={"search_path": db.schema})
    yield connection
    await connection.close()


async def _snapshot(conn: asyncpg.Connection) -> tuple[object, ...]:
    sessions = await conn.fetch("SELECT id, revoked_at FROM sessions ORDER BY id")
    tokens = await conn.fetch(
        "SELECT token_hash, consumed_at, successor_hash, expires_at"
        " FROM refresh_tokens ORDER BY token_hash"
    )
    return tuple(map(tuple, sessions)), tuple(map(tuple, tokens))


async def test_current_token_rotation_due_gives_new_pair(
    always: Stack, conn: asyncpg.Connection
) -> None:
    first = await always.signup()
    always.clock.advance(seconds=1)
    second = await always.sessions.refresh(first.refresh_token, audience=Audience.APP)
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    old = await conn.fetchrow(
        "SELECT consumed_at, successor_hash FROM refresh_tokens WHERE token_hash = $1",
        hash_refresh_token(first.refresh_token),
    )
    assert old["consumed_at"] is not None
    assert old["successor_hash"] == hash_refresh_token(second.refresh_token)
    always.clock.advance(seconds=1)
    third = await always.sessions.refresh(second.refresh_token, audience=Audience.APP)
    assert third.refresh_token not in (first.refresh_token, second.refresh_token)


async def test_current_token_rotation_not_due_keeps_refresh_token(
    daily: Stack, conn: asyncpg.Connection
) -> None:
    first = await daily.signup()
    before = await _snapshot(conn)
    daily.clock.advance(hours=23)
    again = await daily.sessions.refresh(first.refresh_token, audience=Audience.APP)
    assert again.refresh_token == first.refresh_token
    assert again.access_token != first.access_token
    assert await _snapshot(conn) == before
    daily.clock.advance(hours=1)
    rotated = await daily.sessions.refresh(first.refresh_token, audience=Audience.APP)
    assert rotated.refresh_token != first.refresh_token


async def test_predecessor_within_grace_gets_the_same_successor(
    always: Stack, conn: asyncpg.Connection
) -> None:
    first = await always.signup()
    successor = await always.sessions.refresh(first.refresh_token, audience=Audience.APP)
    before = await _snapshot(conn)
    always.clock.advance(seconds=9)
    replay = await always.sessions.refresh(first.refresh_token, audience=Audience.APP)
    assert replay.refresh_token == successor.refresh_token
    assert replay.access_token != first.access_token
    assert await _snapshot(conn) == before  # nothing revoked, no branch created
    assert (
        await always.sessions.refresh(successor.refresh_token, audience=Audience.APP)
    ).refresh_token


async def test_predecessor_after_grace_revokes_the_session(
    always: Stack, conn: asyncpg.Connection
) -> None:
    first = await always.signup()
    successor = await always.sessions.refresh(first.refresh_token, audience=Audience.APP)
    always.clock.advance(seconds=10)
    with pytest.raises(RefreshTokenReused):
        await always.sessions.refresh(first.refresh_token, audience=Audience.APP)
    # Read through another connection: the revocation was committed before the refusal.
    assert await conn.fetchval("SELECT revoked_at IS NOT NULL FROM sessions") is True
    with pytest.raises(InvalidRefreshToken):
        await always.sessions.refresh(successor.refresh_token, audience=Audience.APP)


async def test_older_token_is_reuse_even_within_grace(
    always: Stack, conn: asyncpg.Connection
) -> None:
    first = await always.signup()
    second = await always.sessions.refresh(first.refresh_token, audience=Audience.APP)
    await always.sessions.refresh(second.refresh_token, audience=Audience.APP)
    always.clock.advance(seconds=1)
    with pytest.raises(RefreshTokenReused):
        await always.sessions.refresh(first.refresh_token, audience=Audience.APP)
    assert await conn.fetchval("SELECT revoked_at IS NOT NULL FROM sessions") is True


async def test_strict_mode_treats_any_replay_as_reuse(
    strict: Stack, conn: asyncpg.Connection
) -> None:
    first = await strict.signup()
    await strict.sessions.refresh(first.refresh_token, audience=Audience.APP)
    with pytest.raises(RefreshTokenReused):
        await strict.sessions.refresh(first.refresh_token, audience=Audience.APP)
    assert await conn.fetchval("SELECT revoked_at IS NOT NULL FROM sessions") is True


async def test_unknown_and_missing_tokens_change_nothing(
    always: Stack, conn: asyncpg.Connection
) -> None:
    await always.signup()
    before = await _snapshot(conn)
    with pytest.raises(InvalidRefreshToken):
        await always.sessions.refresh("x" * 43, audience=Audience.APP)
    with pytest.raises(RefreshTokenMissing):
        await always.sessions.refresh("", audience=Audience.APP)
    assert await _snapshot(conn) == before


@pytest.mark.parametrize(
    "spoil",
    [
        "UPDATE refresh_tokens SET expires_at = now() - interval '1 hour'",
        "UPDATE sessions SET expires_at = now() - interval '1 hour'",
        "UPDATE sessions SET revoked_at = now()",
        "UPDATE users SET disabled_at = now()",
    ],
    ids=["token-expired", "session-expired", "session-revoked", "user-disabled"],
)
async def test_unusable_token_is_401_and_changes_nothing(
    always: Stack, conn: asyncpg.Connection, spoil: str
) -> None:
    first = await always.signup()
    always.clock._now = always.clock.now().replace(microsecond=0)  # compare with DB now()
    await conn.execute(spoil)
    before = await _snapshot(conn)
    with pytest.raises(InvalidRefreshToken) as caught:
        await always.sessions.refresh(first.refresh_token, audience=Audience.APP)
    assert not isinstance(caught.value, RefreshTokenReused)
    assert await _snapshot(conn) == before


async def test_expiry_is_clamped_to_the_session(
    db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    stack = await _stack(
        db,
        AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL="always",
        AUTHARA_SESSION_TTL_DAYS="15",
        AUTHARA_REFRESH_TOKEN_TTL_DAYS="14",
    )
    try:
        first = await stack.signup()
        stack.clock.advance(days=10)
        second = await stack.sessions.refresh(first.refresh_token, audience=Audience.APP)
        row = await conn.fetchrow(
            "SELECT t.expires_at, s.expires_at AS session_expires FROM refresh_tokens t"
            " JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = $1",
            hash_refresh_token(second.refresh_token),
        )
        assert row["expires_at"] == row["session_expires"]
    finally:
        await stack.db.close()


async def test_twenty_concurrent_refreshes_agree_on_one_successor(
    always: Stack, conn: asyncpg.Connection
) -> None:
    first = await always.signup()
    results = await asyncio.gather(
        *(always.sessions.refresh(first.refresh_token, audience=Audience.APP) for _ in range(20)),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    successors = {r.refresh_token for r in results if isinstance(r, IssuedSession)}
    assert len(successors) == 1
    (successor,) = successors
    assert successor != first.refresh_token
    assert await conn.fetchval("SELECT count(*) FROM refresh_tokens") == 2
    assert await conn.fetchval("SELECT revoked_at IS NULL FROM sessions") is True
    assert (await always.sessions.refresh(successor, audience=Audience.APP)).refresh_token


async def test_admin_audience_needs_a_platform_role(always: Stack) -> None:
    first = await always.signup()
    with pytest.raises(InvalidRefreshToken):
        await always.sessions.refresh(first.refresh_token, audience=Audience.ADMIN)
    assert await always.admin.grant("ada@example.com")
    issued = await always.sessions.refresh(first.refresh_token, audience=Audience.ADMIN)
    assert issued.roles == ("authara:admin",)


async def test_revoking_admin_ends_the_sessions(always: Stack, conn: asyncpg.Connection) -> None:
    first = await always.signup()
    await always.admin.grant("ada@example.com")
    assert await always.admin.revoke("ada@example.com")
    assert await conn.fetchval("SELECT revoked_at IS NOT NULL FROM sessions") is True
    with pytest.raises(InvalidRefreshToken):
        await always.sessions.refresh(first.refresh_token, audience=Audience.APP)


async def test_cleanup_removes_expired_sessions_only(
    always: Stack, conn: asyncpg.Connection
) -> None:
    old = await always.signup("old@example.com")
    await always.sessions.refresh(old.refresh_token, audience=Audience.APP)
    always.clock.advance(days=59)
    await always.signup("new@example.com")
    always.clock.advance(days=2)
    assert await always.sessions.cleanup() == 1
    emails = await conn.fetch("SELECT u.email FROM sessions s JOIN users u ON u.id = s.user_id")
    assert [r["email"] for r in emails] == ["new@example.com"]
    assert await conn.fetchval("SELECT count(*) FROM refresh_tokens") == 1
