"""`authara-core admin` and `authara admin`: make the first admin from the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract.database import DatabaseSettings
from tests.coresupport import core_env
from tests.integration.core.conftest import signup

BIN = Path(sys.executable).parent


def _run(command: list[str], db: DatabaseSettings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        env={"PATH": "/usr/bin:/bin", **core_env(db)},
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
