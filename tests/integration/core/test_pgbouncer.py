"""Core through Debian's PgBouncer in transaction pooling mode (AUTHARA_DB_PGBOUNCER=true).

PgBouncer gets two server connections for core's ten pooled ones, so consecutive
transactions of one core connection land on different server connections: a prepared
statement, a session setting or a statement split over two server connections would fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application

from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.platform.db import Database
from authara_core.settings import load_settings
from authara_devstack.embedded_pg import free_port
from tests.coresupport import BIN, core_env, run_core

PGBOUNCER: Final = Path("/usr/sbin/pgbouncer")
SERVER_CONNECTIONS: Final = 2
CORE_POOL: Final = 10
START_TIMEOUT_S: Final = 20.0
PASSWORD: Final = "correct horse battery"

Client = TestClient[Any, Application]


def _run_as() -> pwd.struct_passwd | None:
    """PgBouncer refuses to run as root: run it as `postgres` then."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwnam("postgres")


@pytest.fixture
def pgbouncer(db: DatabaseSettings) -> Iterator[DatabaseSettings]:
    """Run PgBouncer (transaction pooling) in front of the test database; return its settings."""
    if not PGBOUNCER.is_file():
        pytest.fail(f"{PGBOUNCER} is missing: install Debian's pgbouncer package (apt)")
    user = _run_as()
    folder = Path(tempfile.mkdtemp(prefix="authara-pgbouncer-"))
    port = free_port()
    (folder / "userlist.txt").write_text(f'"{db.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={db.host} port={db.port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {folder / 'userlist.txt'}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {SERVER_CONNECTIONS}\n"
        "min_pool_size = 0\n"
        "reserve_pool_size = 0\n"
        "max_client_conn = 200\n"
        f"logfile = {folder / 'pgbouncer.log'}\n"
    )
    if user is not None:
        os.chown(folder, user.pw_uid, user.pw_gid)
        for path in folder.iterdir():
            os.chown(path, user.pw_uid, user.pw_gid)
    with (folder / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            [str(PGBOUNCER), str(folder / "pgbouncer.ini")],
            user=user.pw_name if user is not None else None,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        _wait_listening(process, port, folder)
        yield replace(db, port=port)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_listening(process: subprocess.Popen[bytes], port: int, folder: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            logs = [folder / "stderr.log", folder / "pgbouncer.log"]
            text = "".join(log.read_text() for log in logs if log.exists())
            pytest.fail(f"pgbouncer exited at start: {text}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    pytest.fail("pgbouncer did not listen in time")


@pytest.fixture
async def core(pgbouncer: DatabaseSettings) -> AsyncIterator[Client]:
    env = core_env(pgbouncer, AUTHARA_DB_PGBOUNCER="true", AUTHARA_DB_MAX_OPEN_CONNS=str(CORE_POOL))
    app = create_app(load_settings(env), periodic_cleanup=False, send_mail=False)
    async with TestClient(TestServer(app)) as client:
        yield client


async def _csrf(client: Client) -> str:
    response = await client.get("/auth/api/v1/csrf")
    token: str = (await response.json())["csrf_token"]
    return token


async def _signup(client: Client, email: str) -> dict[str, Any]:
    response = await client.post(
        "/auth/api/v1/signup/direct",
        json={"email": email, "password": PASSWORD},
        headers={"X-CSRF-Token": await _csrf(client)},
    )
    assert response.status in (200, 201), await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def _server_connections(db: DatabaseSettings) -> int:
    """Count core's server connections (PgBouncer's, by application name) to the database."""
    conn = await asyncpg.connect(db.url())
    try:
        count = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
            " AND application_name = 'authara-core'",
            db.database,
        )
    finally:
        await conn.close()
    return int(count)


async def test_core_works_through_transaction_pooling(core: Client, db: DatabaseSettings) -> None:
    await _signup(core, "ada@example.com")
    response = await core.post(
        "/auth/api/v1/login",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers={"X-CSRF-Token": await _csrf(core)},
    )
    assert response.status == 200, await response.text()
    tokens = await response.json()
    response = await core.post(
        "/auth/api/v1/tokens/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status == 200, await response.text()
    access = (await response.json())["access_token"]
    response = await core.get("/auth/api/v1/user", headers={"Authorization": f"Bearer {access}"})
    assert response.status == 200, await response.text()
    assert (await response.json())["email"] == "ada@example.com"
    assert (await core.get("/auth/ready")).status == 200

    # Many at once: core's ten connections share PgBouncer's two server connections.
    users = await asyncio.gather(*(_signup(core, f"user{i}@example.com") for i in range(8)))

    async def me(refresh_token: str) -> int:
        response = await core.post(
            "/auth/api/v1/tokens/refresh", json={"refresh_token": refresh_token}
        )
        assert response.status == 200, await response.text()
        token = (await response.json())["access_token"]
        response = await core.get("/auth/api/v1/user", headers={"Authorization": f"Bearer {token}"})
        return response.status

    statuses = await asyncio.gather(*(me(user["refresh_token"]) for user in users))
    assert statuses == [200] * len(users)
    assert await _server_connections(db) <= SERVER_CONNECTIONS


def test_core_without_the_setting_is_refused_by_pgbouncer(pgbouncer: DatabaseSettings) -> None:
    env = core_env(pgbouncer, AUTHARA_BIND=f"127.0.0.1:{free_port()}")
    result = run_core(env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "authara-core: cannot start: unsupported startup parameter: search_path"
    ]


def _admin(db: DatabaseSettings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "authara-core"), "admin", *args],
        env={"PATH": "/usr/bin:/bin", **core_env(db, AUTHARA_DB_PGBOUNCER="true")},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_admin_command_works_through_pgbouncer(
    core: Client, pgbouncer: DatabaseSettings
) -> None:
    await _signup(core, "admin@example.com")
    result = await asyncio.to_thread(_admin, pgbouncer, "grant", "admin@example.com")
    assert result.returncode == 0, result.stderr
    assert "role admin granted" in result.stdout


async def test_every_kind_of_checkout_finds_the_schema_through_pgbouncer(
    pgbouncer: DatabaseSettings,
) -> None:
    database = Database(pgbouncer, pool_size=4, pgbouncer=True)
    await database.open()
    try:
        async with database.snapshot() as conn:
            assert await conn.fetchval("SELECT count(*) FROM users") == 0
        async with database.connection() as conn:
            assert await conn.fetchval("SELECT current_schema()") == pgbouncer.schema
            assert await conn.fetchval("SELECT count(*) FROM sessions") == 0
        # A savepoint inside the transaction, as OAuth linking uses.
        async with database.transaction() as conn, conn.transaction():
            assert await conn.fetchval("SELECT count(*) FROM platform_roles") > 0
        record = await database.single.fetchrow("SELECT current_schema() AS schema")
        assert record is not None
        assert record["schema"] == pgbouncer.schema
        # The schema is per transaction: nothing leaks onto PgBouncer's server connections.
        conn = await asyncpg.connect(pgbouncer.url(), statement_cache_size=0)
        try:
            assert await conn.fetchval("SELECT current_schema()") == "public"
        finally:
            await conn.close()
    finally:
        await database.close()
