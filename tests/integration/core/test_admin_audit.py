"""The admin audit log's writer: events in the caller's transaction; the CLI's changes audited."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract.database import DatabaseSettings
from authara_core.admin.audit import CLI_ACTOR, Action, Actor, AuditEvent, record
from tests.coresupport import core_env
from tests.integration.core.conftest import signup

CORE = str(Path(sys.executable).parent / "authara-core")


def _admin(db: DatabaseSettings, *args: str, stdin: str | None = None) -> None:
    result = subprocess.run(
        [CORE, "admin", *args],
        env={"PATH": "/usr/bin:/bin", **core_env(db)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


async def _events(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT action, actor_user_id, actor_label, target_user_id, target_email, metadata"
        " FROM admin_audit_events ORDER BY created_at, action"
    )


async def test_the_cli_audits_grant_revoke_and_set_password_as_cli(
    client: TestClient, conn: asyncpg.Connection, db: DatabaseSettings
) -> None:
    await signup(client)
    user_id = await conn.fetchval("SELECT id FROM users")

    _admin(db, "grant", "Ada@Example.com")
    _admin(db, "grant", "ada@example.com")  # already held: no change, no event
    _admin(db, "grant", "ada@example.com", "--role", "auditor")
    _admin(db, "revoke", "ada@example.com")
    _admin(db, "set-password", "ada@example.com", stdin="a brand new passphrase\n")

    rows = await _events(conn)
    assert [(r["action"], json.loads(r["metadata"])) for r in rows] == [
        ("user.admin_granted", {"role": "admin"}),
        ("user.role_granted", {"role": "auditor"}),
        ("user.admin_revoked", {"role": "admin", "sessions_ended": 1}),
        ("user.password_set", {"sessions_ended": 0}),
    ]
    for row in rows:
        assert row["actor_label"] == CLI_ACTOR
        assert row["actor_user_id"] is None
        assert row["target_user_id"] == user_id
        assert row["target_email"] == "ada@example.com"


async def test_record_writes_in_the_callers_transaction_and_rolls_back_with_it(
    conn: asyncpg.Connection,
) -> None:
    now = datetime.now(UTC)
    actor = Actor(label="test", ip="203.0.113.9", user_agent="x" * 600, request_id="r" * 200)
    event = actor.event(Action.USER_DISABLED, target_email="gone@example.com", metadata={"n": 1})

    async def failing_change() -> None:
        async with conn.transaction():
            await record(conn, event, now=now)
            raise RuntimeError("the change fails")

    with pytest.raises(RuntimeError):
        await failing_change()
    assert await conn.fetchval("SELECT count(*) FROM admin_audit_events") == 0

    async with conn.transaction():
        event_id = await record(conn, event, now=now)
    row = await conn.fetchrow("SELECT * FROM admin_audit_events")
    assert row is not None
    assert row["id"] == event_id
    assert row["action"] == "user.disabled"
    assert row["ip"] == "203.0.113.9"
    assert len(row["user_agent"]) == 512  # cut to the column, never refused
    assert len(row["request_id"]) == 128
    assert json.loads(row["metadata"]) == {"n": 1}


async def test_record_refuses_an_empty_or_overlong_action(conn: asyncpg.Connection) -> None:
    for action in ("", "a" * 65):
        with pytest.raises(ValueError, match="audit action"):
            await record(conn, AuditEvent(action=action), now=datetime.now(UTC))


async def test_deleting_a_user_keeps_their_events(conn: asyncpg.Connection) -> None:
    user_id = await conn.fetchval(
        "INSERT INTO users (username, username_normalized, email)"
        " VALUES ('x', 'x', 'x@example.com') RETURNING id"
    )
    event = AuditEvent(action="user.disabled", actor_user_id=user_id, target_user_id=user_id)
    await record(conn, event, now=datetime.now(UTC))
    await conn.execute("DELETE FROM users WHERE id = $1", user_id)
    row = await conn.fetchrow("SELECT actor_user_id, target_user_id FROM admin_audit_events")
    assert row is not None
    assert (row["actor_user_id"], row["target_user_id"]) == (None, None)
