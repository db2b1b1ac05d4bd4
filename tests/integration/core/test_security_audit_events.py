"""Security events in the admin audit log: each written once, and only when its change commits.

Refresh-token reuse (sessions), a completed password reset and email change (challenges), a
password change (account page and PUT /users/password) and repeated failed logins (accounts).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from authara_contract.claims import Audience
from authara_contract.database import DatabaseSettings
from authara_core.app import Services, build_services
from authara_core.oauth.secrets import new_secret
from authara_core.platform.errors import (
    ChallengeCodeWrong,
    ChallengeUsed,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
    WrongCurrentPassword,
)
from authara_core.sessions.service import IssuedSession
from authara_core.settings import load_settings
from tests.coresupport import FakeClock, core_env
from tests.integration.core.challengesupport import (
    CHALLENGE_ON,
    NEW_PASSWORD,
    PASSWORD,
    code_for,
    wrong,
)

IP = "192.0.2.7"


@pytest.fixture
async def app(db: DatabaseSettings, clock: FakeClock) -> AsyncIterator[Services]:
    env = core_env(
        db,
        **CHALLENGE_ON,
        AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL="always",
        AUTHARA_REFRESH_TOKEN_REUSE_GRACE="0",
    )
    services = build_services(load_settings(env), clock=clock, oauth_secrets=new_secret)
    await services.database.open()
    try:
        await services.organizations.pin_mode()
        yield services
    finally:
        await services.database.close()
        services.hasher.close()


@pytest.fixture
async def conn(db: DatabaseSettings) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(db.url(), server_settings={"search_path": db.schema})
    yield connection
    await connection.close()


async def _signup(app: Services, email: str = "ada@example.com") -> IssuedSession:
    prepared = await app.accounts.prepare_signup(email=email, password=PASSWORD, client_ip=IP)
    async with app.database.transaction() as tx:
        user = await app.accounts.create_password_user_in(tx, prepared)
        return await app.sessions.start_in(
            tx, user, audience=Audience.APP, user_agent="test", client_ip=IP
        )


async def _events(conn: asyncpg.Connection, action: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT actor_user_id, actor_label, target_user_id, target_email, metadata, ip"
        " FROM admin_audit_events WHERE action = $1 ORDER BY created_at",
        action,
    )
    return [dict(row) | {"metadata": json.loads(row["metadata"])} for row in rows]


async def _count(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM admin_audit_events")
    return count


async def test_refresh_token_reuse_is_audited_once_with_the_revocation(
    app: Services, conn: asyncpg.Connection
) -> None:
    first = await _signup(app)
    await app.sessions.refresh(first.refresh_token, audience=Audience.APP)
    assert await _count(conn) == 0  # a rotation is no event

    with pytest.raises(RefreshTokenReused):
        await app.sessions.refresh(first.refresh_token, audience=Audience.APP)
    with pytest.raises(InvalidRefreshToken):  # the session is revoked now: no second event
        await app.sessions.refresh(first.refresh_token, audience=Audience.APP)

    [event] = await _events(conn, "session.reuse_detected")
    assert event["actor_label"] == "system"
    assert event["target_user_id"] == first.user.id
    session_id = await conn.fetchval("SELECT id FROM sessions WHERE revoked_at IS NOT NULL")
    assert event["metadata"] == {"session_id": str(session_id)}
    assert await _count(conn) == 1


async def test_a_completed_password_reset_is_audited_once_and_a_refused_one_not(
    app: Services, conn: asyncpg.Connection
) -> None:
    ada = await _signup(app)
    challenge_id = await app.challenges.start_password_reset(
        email="Ada@example.com", new_password=NEW_PASSWORD, client_ip=IP
    )
    code = await code_for(conn, app.mail_composers, app.clock.now(), challenge_id)
    with pytest.raises(ChallengeCodeWrong):
        await app.challenges.verify_password_reset(challenge_id, wrong(code), client_ip=IP)
    assert await _count(conn) == 0

    await app.challenges.verify_password_reset(challenge_id, code, client_ip=IP)
    with pytest.raises(ChallengeUsed):
        await app.challenges.verify_password_reset(challenge_id, code, client_ip=IP)

    [event] = await _events(conn, "user.password_reset")
    assert event["actor_user_id"] == event["target_user_id"] == ada.user.id
    assert event["target_email"] == "ada@example.com"
    assert event["ip"] == IP
    assert event["metadata"] == {"sessions_ended": 1}
    assert await _count(conn) == 1


async def test_an_email_change_is_audited_when_it_commits_and_not_when_refused(
    app: Services, conn: asyncpg.Connection
) -> None:
    ada = await _signup(app)
    taken = await app.challenges.start_email_change(user_id=ada.user.id, new_email="bo@example.com")
    taken_code = await code_for(conn, app.mail_composers, app.clock.now(), taken)
    await _signup(app, "bo@example.com")  # takes the address before the change is verified
    with pytest.raises(EmailTaken):
        await app.challenges.verify_email_change(taken, taken_code, client_ip=IP)
    assert await _count(conn) == 0

    moved = await app.challenges.start_email_change(user_id=ada.user.id, new_email="ada2@x.org")
    code = await code_for(conn, app.mail_composers, app.clock.now(), moved)
    assert await app.challenges.verify_email_change(moved, code, client_ip=IP) == "ada2@x.org"

    [event] = await _events(conn, "user.email_changed")
    assert event["actor_user_id"] == event["target_user_id"] == ada.user.id
    assert event["target_email"] == "ada2@x.org"
    assert event["metadata"] == {"old_email": "ada@example.com", "new_email": "ada2@x.org"}
    assert await _count(conn) == 1


async def test_a_password_change_is_audited_and_a_wrong_current_password_is_not(
    app: Services, conn: asyncpg.Connection
) -> None:
    ada = await _signup(app)
    ids = {"user_id": ada.user.id, "session_id": ada.session_id}
    with pytest.raises(WrongCurrentPassword):
        await app.self_service.change_password(
            **ids,
            current="not it at all",
            new=NEW_PASSWORD,
            confirmation=NEW_PASSWORD,
            client_ip=IP,
        )
    assert await _count(conn) == 0

    await app.self_service.change_password(
        **ids, current=PASSWORD, new=NEW_PASSWORD, confirmation=NEW_PASSWORD, client_ip=IP
    )
    await app.self_service.set_password(**ids, password=PASSWORD, client_ip=IP)

    events = await _events(conn, "user.password_changed")
    assert [event["metadata"] for event in events] == [
        {"via": "account", "sessions_ended": 0},
        {"via": "api", "sessions_ended": 1},
    ]
    assert {event["actor_user_id"] for event in events} == {ada.user.id}
    assert {event["ip"] for event in events} == {IP}


async def test_failed_logins_write_one_event_per_email_and_window(
    app: Services, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    ada = await _signup(app)

    async def fail(email: str = "ada@example.com") -> None:
        with pytest.raises(InvalidCredentials):
            await app.accounts.authenticate(email=email, password="wrong guess!", client_ip=IP)

    for _ in range(4):
        await fail()
    assert await _count(conn) == 0  # no write per failed login
    await app.accounts.authenticate(email="ada@example.com", password=PASSWORD, client_ip=IP)
    await fail("ADA@example.com")  # the fifth failure
    for _ in range(3):
        await fail()
    [event] = await _events(conn, "security.login_failures")
    assert event["actor_label"] == "anonymous"
    assert event["ip"] == IP
    assert event["target_user_id"] == ada.user.id
    assert event["target_email"] == "ada@example.com"
    assert event["metadata"] == {"failures": 5, "window_seconds": 3600, "account_exists": True}

    for _ in range(5):
        await fail("nobody@example.com")
    clock.advance(hours=2)  # a new window for ada (the fixed clock moves, nothing waits)
    for _ in range(5):
        await fail()
    events = await _events(conn, "security.login_failures")
    assert [(e["target_email"], e["metadata"]["account_exists"]) for e in events] == [
        ("ada@example.com", True),
        ("nobody@example.com", False),
        ("ada@example.com", True),
    ]
    assert events[1]["target_user_id"] is None
    assert await conn.fetchval("SELECT count(DISTINCT id) FROM admin_audit_events") == 3
    assert isinstance(events[0]["target_user_id"], uuid.UUID)
