"""`authara-core admin` and `authara admin`: make the first admin from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from authara_contract.database import DatabaseSettings
from tests.coresupport import core_env
from tests.integration.core.conftest import csrf_token, signup

BIN = Path(sys.executable).parent


def _run(
    command: list[str], db: DatabaseSettings, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env={"PATH": "/usr/bin:/bin", **core_env(db)},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("program", [["authara-core", "admin"], ["authara", "admin"]])
async def test_grant_and_revoke_admin(
    client: TestClient, conn: asyncpg.Connection, db: DatabaseSettings, program: list[str]
) -> None:
    await signup(client)
    command = [str(BIN / program[0]), *program[1:]]
    granted = _run([*command, "grant", "Ada@Example.com"], db)
    assert granted.returncode == 0, granted.stderr
    assert "role admin granted" in granted.stdout
    again = _run([*command, "grant", "ada@example.com"], db)
    assert "already had" in again.stdout
    roles = await conn.fetch(
        "SELECT r.name FROM user_platform_roles ur JOIN platform_roles r ON r.id = ur.role_id"
    )
    assert [r["name"] for r in roles] == ["admin"]

    revoked = _run([*command, "revoke", "ada@example.com"], db)
    assert revoked.returncode == 0, revoked.stderr
    assert await conn.fetchval("SELECT count(*) FROM user_platform_roles") == 0
    assert await conn.fetchval("SELECT bool_and(revoked_at IS NOT NULL) FROM sessions") is True


def test_unknown_email_is_one_line_error(db: DatabaseSettings) -> None:
    result = _run([str(BIN / "authara-core"), "admin", "grant", "ghost@example.com"], db)
    assert result.returncode == 1
    assert result.stderr.strip() == "authara-core admin: no account with email 'ghost@example.com'"


def test_bad_role_is_a_usage_error(db: DatabaseSettings) -> None:
    result = _run(
        [str(BIN / "authara-core"), "admin", "grant", "a@example.com", "--role", "root"], db
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


async def login(client: TestClient, email: str, password: str) -> ClientResponse:
    client.session.cookie_jar.clear()  # a fresh browser: the old access cookie is still a JWT
    token = await csrf_token(client, "/auth/login")
    return await client.post(
        "/auth/login?return_to=/private",
        data={"email": email, "password": password, "csrf_token": token},
        allow_redirects=False,
    )


@pytest.mark.parametrize("program", [["authara-core", "admin"], ["authara", "admin"]])
async def test_set_password_recovers_an_account_and_ends_its_sessions(
    client: TestClient, conn: asyncpg.Connection, db: DatabaseSettings, program: list[str]
) -> None:
    await signup(client)
    command = [str(BIN / program[0]), *program[1:], "set-password", "Ada@Example.com"]

    result = _run(command, db, "a brand new passphrase\n")

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Ada@Example.com: password set; 1 session(s) ended"
    assert await conn.fetchval("SELECT bool_and(revoked_at IS NOT NULL) FROM sessions") is True
    old = await login(client, "ada@example.com", "correct horse battery")
    assert old.status == 422
    new = await login(client, "ada@example.com", "a brand new passphrase")
    assert new.status == 303, await new.text()


async def test_set_password_refuses_a_short_password_and_changes_nothing(
    client: TestClient, conn: asyncpg.Connection, db: DatabaseSettings
) -> None:
    await signup(client)
    before = await conn.fetchval("SELECT password_hash FROM auth_providers")
    command = [str(BIN / "authara-core"), "admin", "set-password", "ada@example.com"]

    result = _run(command, db, "short\n")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "authara-core admin: Password must be between 8 and 128 characters."
    )
    assert await conn.fetchval("SELECT password_hash FROM auth_providers") == before
    assert await conn.fetchval("SELECT bool_or(revoked_at IS NOT NULL) FROM sessions") is False


async def test_list_shows_the_role_holders(client: TestClient, db: DatabaseSettings) -> None:
    core = str(BIN / "authara-core")
    empty = _run([core, "admin", "list"], db)
    assert empty.returncode == 0, empty.stderr
    assert "no account holds a platform role" in empty.stdout
    await signup(client)
    assert _run([core, "admin", "grant", "ada@example.com"], db).returncode == 0
    assert (
        _run([core, "admin", "grant", "ada@example.com", "--role", "auditor"], db).returncode == 0
    )

    listed = _run([core, "admin", "list"], db)
    as_json = _run([str(BIN / "authara"), "admin", "list", "--json"], db)

    assert listed.stdout.splitlines() == ["ada@example.com\tadmin", "ada@example.com\tauditor"]
    assert json.loads(as_json.stdout) == [
        {"email": "ada@example.com", "roles": ["admin", "auditor"]}
    ]


async def test_allow_adds_an_email_to_the_allowlist_once(
    db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    command = [str(BIN / "authara-core"), "admin", "allow"]
    added = _run([*command, " First@Example.com "], db)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "first@example.com: added to the allowlist"
    again = _run([*command, "first@example.com"], db)
    assert again.returncode == 0
    assert "already on the allowlist" in again.stdout
    bad = _run([*command, "nope"], db)
    assert bad.returncode == 1
    assert "Enter a valid email address." in bad.stderr
    assert await conn.fetchval("SELECT array_agg(email) FROM allowed_emails") == [
        "first@example.com"
    ]
    event = await conn.fetchrow("SELECT action, actor_label, target_email FROM admin_audit_events")
    assert tuple(event) == ("allowlist.email_added", "cli", "first@example.com")
