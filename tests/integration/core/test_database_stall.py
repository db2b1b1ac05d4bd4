"""A stalled PostgreSQL (SIGSTOP) gets 503s within core's deadlines, and core recovers after.

The server here is this module's own embedded PostgreSQL: the test freezes it, which must
never happen to the shared one. Each stall lasts until every answer is in (SIGCONT comes
only after), so a server that merely waited the stall out would hit the client timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Application

from authara_contract.database import DatabaseSettings
from authara_core.app import SERVICES_KEY, create_app
from authara_core.platform.openapi import openapi_document
from authara_core.settings import load_settings
from authara_devstack.embedded_pg import EmbeddedPostgres, free_port
from authara_migrations import runner
from tests.coresupport import core_env, run_core
from tests.dbutil import make_database, random_database_name

CREDENTIALS: Final = {"email": "ada@example.com", "password": "correct horse battery"}
# Far longer than any deadline under test, far shorter than "hangs forever".
CLIENT_TIMEOUT: Final = aiohttp.ClientTimeout(total=30)
# The fault: PostgreSQL paused for ten seconds, five times core's deadlines here.
PAUSE_S: Final = 10.0

Client = TestClient[Any, Application]
API_ROUTES: Final = [
    ("api_login", "/login", "post"),
    ("user", "/user", "get"),
    ("refresh", "/tokens/refresh", "post"),
]


@pytest.fixture(scope="module")
def stallable_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    """Run a PostgreSQL server of this module's own, the one the tests freeze."""
    # Durable: one test stops and restarts it, and a throwaway cluster is deleted on stop.
    server = EmbeddedPostgres(tmp_path_factory.mktemp("stallpg"), free_port(), durable=True)
    server.start()
    try:
        yield server
    finally:
        resume(server)
        server.stop()
        server.discard()


@pytest.fixture(scope="module")
def stall_db(stallable_pg: EmbeddedPostgres) -> DatabaseSettings:
    """Migrate a database on the stallable server."""
    settings = make_database(stallable_pg.url(), random_database_name())
    runner.upgrade(settings)
    return settings


def children_of(parent: int) -> list[int]:
    """Return the processes `parent` forked (PostgreSQL backends each run in their own session)."""
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                # The parent pid is the second field after the parenthesised command name.
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
                    children.append(int(entry.name))
    return children


def signal_server(server: EmbeddedPostgres, signum: signal.Signals) -> None:
    """Send a signal to the postmaster first (so it forks nothing new), then to its children."""
    assert server.pid is not None
    os.kill(server.pid, signum)
    for pid in children_of(server.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def resume(server: EmbeddedPostgres) -> None:
    """Let a frozen server run again (harmless when it is not frozen)."""
    if server.pid is not None:
        signal_server(server, signal.SIGCONT)


@contextmanager
def stalled(server: EmbeddedPostgres) -> Iterator[None]:
    """Freeze the whole server for the block; it always runs again afterwards."""
    signal_server(server, signal.SIGSTOP)
    try:
        yield
    finally:
        resume(server)


async def serve(db: DatabaseSettings, **overrides: str) -> AsyncIterator[Client]:
    """Serve core on the stallable database (no email workers: they would share the pool)."""
    app = create_app(
        load_settings(core_env(db, **overrides)), periodic_cleanup=False, send_mail=False
    )
    async with TestClient(TestServer(app), timeout=CLIENT_TIMEOUT) as client:
        yield client


@pytest.fixture
async def core(stall_db: DatabaseSettings) -> AsyncIterator[Client]:
    """Core with two-second database deadlines and a two-connection pool."""
    overrides = {
        "AUTHARA_DB_ACQUIRE_TIMEOUT": "2s",
        "AUTHARA_DB_STATEMENT_TIMEOUT": "2s",
        "AUTHARA_DB_MAX_OPEN_CONNS": "2",
    }
    async for client in serve(stall_db, **overrides):
        yield client


@pytest.fixture
async def patient_core(stall_db: DatabaseSettings) -> AsyncIterator[Client]:
    """Core whose database deadlines are longer than the client waits."""
    overrides = {"AUTHARA_DB_ACQUIRE_TIMEOUT": "5m", "AUTHARA_DB_STATEMENT_TIMEOUT": "5m"}
    async for client in serve(stall_db, **overrides):
        yield client


async def csrf(client: Client) -> str:
    response = await client.get("/auth/api/v1/csrf")
    token: str = (await response.json())["csrf_token"]
    return token


async def signed_in(client: Client) -> str:
    """Sign Ada in (creating her account once); return her refresh token."""
    token = await csrf(client)
    response = await client.post(
        "/auth/api/v1/login", json=CREDENTIALS, headers={"X-CSRF-Token": token}
    )
    if response.status == 401:
        response = await client.post(
            "/auth/api/v1/signup/direct", json=CREDENTIALS, headers={"X-CSRF-Token": token}
        )
    assert response.status in (200, 201), await response.text()
    refresh_token: str = (await response.json())["refresh_token"]
    return refresh_token


async def fire(client: Client, refresh_token: str, csrf_token: str) -> dict[str, Any]:
    """Send login (API and page), /user, refresh and readiness at once; return the answers."""
    requests = {
        "api_login": client.post(
            "/auth/api/v1/login", json=CREDENTIALS, headers={"X-CSRF-Token": csrf_token}
        ),
        "page_login": client.post(
            "/auth/login", data={**CREDENTIALS, "csrf_token": csrf_token}, allow_redirects=False
        ),
        "user": client.get("/auth/api/v1/user"),
        "refresh": client.post(
            "/auth/api/v1/tokens/refresh", json={"refresh_token": refresh_token}
        ),
        "ready": client.get("/auth/ready"),
    }
    responses = await asyncio.gather(*requests.values())
    answers = {}
    for name, response in zip(requests, responses, strict=True):
        answers[name] = (response.status, dict(response.headers), await response.read())
    return answers


def assert_unavailable_envelope(answer: tuple[int, dict[str, str], bytes]) -> None:
    status, headers, body = answer
    assert status == 503, body
    assert headers["Content-Type"].startswith("application/json")
    assert int(headers["Retry-After"]) >= 1
    assert body.startswith(b'{"error":{"code":"service_unavailable","message":')


async def test_stalled_database_gets_503s_and_core_recovers(
    core: Client, stallable_pg: EmbeddedPostgres, caplog: pytest.LogCaptureFixture
) -> None:
    refresh_token = await signed_in(core)
    csrf_token = await csrf(core)
    with stalled(stallable_pg):
        answers = await fire(core, refresh_token, csrf_token)
    paths = openapi_document()["paths"]
    for name, path, method in API_ROUTES:
        assert_unavailable_envelope(answers[name])
        assert "503" in paths[path][method]["responses"]  # type: ignore[index]
    status, headers, body = answers["page_login"]
    assert status == 503
    assert headers["Content-Type"].startswith("text/html")
    assert int(headers["Retry-After"]) >= 1
    assert b"try again" in body
    status, headers, body = answers["ready"]
    assert status == 503
    assert headers["Cache-Control"] == "no-store"
    assert "database unavailable" in caplog.text  # the operator learns why

    answers = await fire(core, refresh_token, await csrf(core))
    assert answers["api_login"][0] == 200
    assert answers["page_login"][0] == 303
    assert answers["user"][0] == 200
    assert answers["refresh"][0] == 200
    assert answers["ready"][0] == 200
    pool = core.app[SERVICES_KEY].database.pool
    assert pool.get_size() <= 2
    assert pool.get_idle_size() == pool.get_size()  # every connection came back


async def test_a_ten_second_pause_gets_503s_throughout_and_core_recovers(
    core: Client, stallable_pg: EmbeddedPostgres
) -> None:
    refresh_token = await signed_in(core)
    rounds = []
    with stalled(stallable_pg):
        paused_until = time.monotonic() + PAUSE_S
        # Request after request while the server stays frozen: each one gives up at the
        # deadline, and neither the pool nor its bookkeeping runs out.
        while time.monotonic() < paused_until:
            user, ready = await asyncio.gather(
                core.get("/auth/api/v1/user"), core.get("/auth/ready")
            )
            rounds.append((user.status, ready.status))
            assert_unavailable_envelope((user.status, dict(user.headers), await user.read()))
    assert len(rounds) >= 2
    assert set(rounds) == {(503, 503)}

    answers = await fire(core, refresh_token, await csrf(core))
    assert {name: answer[0] for name, answer in answers.items()} == {
        "api_login": 200,
        "page_login": 303,
        "user": 200,
        "refresh": 200,
        "ready": 200,
    }
    pool = core.app[SERVICES_KEY].database.pool
    assert pool.get_size() <= 2


async def test_readiness_keeps_its_own_deadline(
    patient_core: Client, stallable_pg: EmbeddedPostgres
) -> None:
    assert (await patient_core.get("/auth/ready")).status == 200
    with stalled(stallable_pg):
        response = await patient_core.get("/auth/ready")
        body = await response.json()
    assert response.status == 503
    assert body["status"] == "unavailable"
    assert (await patient_core.get("/auth/ready")).status == 200


async def test_a_stopped_database_gets_503s_until_it_is_back(
    core: Client, stallable_pg: EmbeddedPostgres
) -> None:
    refresh_token = await signed_in(core)
    stallable_pg.stop()  # its pooled connections die with it; new ones are refused
    try:
        answers = await fire(core, refresh_token, await csrf(core))
    finally:
        stallable_pg.start()
    for name, _path, _method in API_ROUTES:
        assert_unavailable_envelope(answers[name])
    assert answers["ready"][0] == 503
    answers = await fire(core, refresh_token, await csrf(core))
    assert {name: answer[0] for name, answer in answers.items()} == {
        "api_login": 200,
        "page_login": 303,
        "user": 200,
        "refresh": 200,
        "ready": 200,
    }


def test_core_refuses_to_start_on_a_stalled_database(
    stall_db: DatabaseSettings, stallable_pg: EmbeddedPostgres
) -> None:
    env = core_env(
        stall_db, AUTHARA_DB_ACQUIRE_TIMEOUT="2s", AUTHARA_BIND=f"127.0.0.1:{free_port()}"
    )
    with stalled(stallable_pg):
        result = run_core(env)  # gives up after a minute: far past the deadline
    assert result.returncode == 1
    assert (
        result.stderr.strip() == "authara-core: cannot start: PostgreSQL did not answer within 2s"
    )
