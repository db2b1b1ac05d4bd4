"""The expired-session cleanup: batches of its own transactions, SKIP LOCKED, cascades."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import asyncpg
import pytest

from authara_contract.database import DatabaseSettings
from authara_core.platform.db import Database
from authara_core.sessions.service import CLEANUP_BATCH, SessionService
from authara_core.settings import load_settings
from tests.coresupport import FakeClock, core_env

EXPIRED = 23  # not a multiple of the batch sizes below: the last batch comes back short
LIVE = 5


@pytest.fixture
async def conn(db: DatabaseSettings) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(db.url(), server_settings={"search_path": db.schema})
    yield connection
    await connection.close()


@pytest.fixture
async def sessions(db: DatabaseSettings) -> AsyncIterator[tuple[SessionService, FakeClock]]:
    settings = load_settings(core_env(db))
    database = Database(settings.database, pool_size=settings.db_pool_size)
    await database.open()
    clock = FakeClock()
    yield SessionService(db=database, clock=clock, settings=settings.tokens), clock
    await database.close()


async def _user(conn: asyncpg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    user_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO users (username, username_normalized, email)"
        " VALUES ('ada', 'ada', 'ada@example.com') RETURNING id"
    )
    org_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO organizations (name, kind, created_by_user_id)"
        " VALUES ('ada', 'personal', $1) RETURNING id",
        user_id,
    )
    await conn.execute(
        "INSERT INTO organization_memberships (organization_id, user_id, role)"
        " VALUES ($1, $2, 'owner')",
        org_id,
        user_id,
    )
    return user_id, org_id


async def _sessions(
    conn: asyncpg.Connection, user: tuple[uuid.UUID, uuid.UUID], count: int, expires: datetime
) -> list[uuid.UUID]:
    """Insert sessions, each with three refresh tokens and an OAuth flow state."""
    ids: list[uuid.UUID] = []
    for _ in range(count):
        session_id: uuid.UUID = await conn.fetchval(
            "INSERT INTO sessions (user_id, active_organization_id, expires_at)"
            " VALUES ($1, $2, $3) RETURNING id",
            *user,
            expires,
        )
        await conn.execute(
            "INSERT INTO refresh_tokens (session_id, token_hash, expires_at)"
            " SELECT $1, md5(random()::text) || md5(random()::text), $2"
            " FROM generate_series(1, 3)",
            session_id,
            expires,
        )
        await conn.execute(
            "INSERT INTO oauth_states (state_hash, binding_hash, provider, purpose, session_id,"
            " return_to, expires_at) VALUES (md5(random()::text), 'b', 'google', 'link', $1,"
            " '/', $2)",
            session_id,
            expires,
        )
        ids.append(session_id)
    return ids


async def _counts(conn: asyncpg.Connection) -> tuple[int, int, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM sessions) AS s, (SELECT count(*) FROM refresh_tokens) AS t,"
        " (SELECT count(*) FROM oauth_states) AS o"
    )
    assert row is not None
    return row["s"], row["t"], row["o"]


def test_default_batch_is_a_thousand() -> None:
    assert CLEANUP_BATCH == 1000


@pytest.mark.parametrize("batch_size", [1, 5, 23, 1000], ids=lambda n: f"batch{n}")
async def test_cleanup_deletes_every_expired_session_in_batches(
    sessions: tuple[SessionService, FakeClock], conn: asyncpg.Connection, batch_size: int
) -> None:
    service, clock = sessions
    user = await _user(conn)
    now = clock.now()
    await _sessions(conn, user, EXPIRED, now - timedelta(seconds=1))
    await _sessions(conn, user, 2, now)  # expires exactly now: expired too
    live = await _sessions(conn, user, LIVE, now + timedelta(days=1))
    assert await service.cleanup(batch_size=batch_size) == EXPIRED + 2
    assert await _counts(conn) == (LIVE, 3 * LIVE, LIVE)
    left = await conn.fetch("SELECT id FROM sessions")
    assert sorted(r["id"] for r in left) == sorted(live)
    remaining = await conn.fetchval(
        "SELECT count(*) FROM refresh_tokens WHERE session_id <> ALL($1::uuid[])", live
    )
    assert remaining == 0
    assert await service.cleanup(batch_size=batch_size) == 0


async def test_cleanup_skips_a_locked_session_and_takes_it_next_time(
    sessions: tuple[SessionService, FakeClock],
    conn: asyncpg.Connection,
    db: DatabaseSettings,
) -> None:
    service, clock = sessions
    user = await _user(conn)
    expired = await _sessions(conn, user, 4, clock.now() - timedelta(hours=1))
    holder = await asyncpg.connect(db.url(), server_settings={"search_path": db.schema})
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", expired[0])
        # Returns without waiting for the held row (a wait would hang this test).
        assert await service.cleanup(batch_size=2) == 3
        assert [r["id"] for r in await conn.fetch("SELECT id FROM sessions")] == [expired[0]]
        await transaction.rollback()
    finally:
        await holder.close()
    assert await service.cleanup(batch_size=2) == 1
    assert await _counts(conn) == (0, 0, 0)
