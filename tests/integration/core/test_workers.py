"""`authara-core` with AUTHARA_WORKERS=2: one port, shared state in PostgreSQL, limits that hold."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Final, TypeVar

import aiohttp
import psutil
import pytest

from authara_contract.database import DatabaseSettings
from authara_devstack.embedded_pg import free_port
from authara_migrations import runner
from tests.coresupport import PUBLIC_URL, core_env, run_core
from tests.dbutil import fresh_database

BIN: Final = Path(sys.executable).parent
WAIT: Final = 30.0
CSRF: Final = {"X-CSRF-Token": "t", "Cookie": "authara_csrf=t", "Origin": PUBLIC_URL}
PASSWORD: Final = "correct horse battery"

T = TypeVar("T")
StartCore = Callable[..., AbstractAsyncContextManager["RunningCore"]]


class RunningCore:
    """A core process (a supervisor and its workers) and its base URL."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self, *, signal_it: bool = True) -> tuple[int, str]:
        """SIGTERM the supervisor (unless told not to); return its exit code and stderr."""
        if signal_it:
            self.process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(self.process.communicate(), WAIT)
        assert self.process.returncode is not None
        return self.process.returncode, stderr.decode()


@pytest.fixture
def start_core(db_settings: DatabaseSettings) -> StartCore:
    """Start core on a free port with extra environment; kill whatever is left at the end."""

    @asynccontextmanager
    async def start(**overrides: str) -> AsyncIterator[RunningCore]:
        port = free_port()
        env = {
            "PATH": "/usr/bin:/bin",
            **core_env(db_settings, AUTHARA_BIND=f"127.0.0.1:{port}", **overrides),
        }
        process = await asyncio.create_subprocess_exec(
            str(BIN / "authara-core"),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        core = RunningCore(process, port)
        try:
            await _wait_healthy(core)
            yield core
        finally:
            if process.returncode is None:
                for child in psutil.Process(process.pid).children():
                    child.kill()
                process.kill()
                await process.wait()

    return start


async def _wait_healthy(core: RunningCore) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    async with aiohttp.ClientSession() as http:
        while asyncio.get_running_loop().time() < deadline:
            if core.process.returncode is not None:
                raise AssertionError(f"core exited with {core.process.returncode}")
            try:
                async with http.get(f"{core.base}/auth/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("core did not become healthy")


async def _wait_listening(workers: list[psutil.Process]) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not all(
        any(conn.status == psutil.CONN_LISTEN for conn in worker.net_connections())
        for worker in workers
    ):
        assert asyncio.get_running_loop().time() < deadline, "a worker never listened"
        await asyncio.sleep(0.05)


async def _fresh_connection(call: Callable[[aiohttp.ClientSession], Awaitable[T]]) -> T:
    """Run one request on a new TCP connection (the kernel picks the worker)."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar()
    ) as http:
        return await call(http)


async def test_workers_share_the_port_and_the_sessions(start_core: StartCore) -> None:
    async with start_core(AUTHARA_WORKERS="2") as core:
        workers = psutil.Process(core.process.pid).children()
        assert len(workers) == 2
        # Workers start independently: one may answer /health before the other listens.
        await _wait_listening(workers)

        async def signup(http: aiohttp.ClientSession) -> tuple[int, Any]:
            async with http.post(
                f"{core.base}/auth/api/v1/signup/direct",
                json={"email": "w@example.com", "password": PASSWORD},
                headers=CSRF,
            ) as response:
                return response.status, await response.json()

        status, body = await _fresh_connection(signup)
        assert status == 201
        token = body["access_token"]

        # A session started on one worker is good on every worker, whichever gets the request.
        async def user(http: aiohttp.ClientSession) -> int:
            async with http.get(
                f"{core.base}/auth/api/v1/user", headers={"Cookie": f"authara_access={token}"}
            ) as response:
                return response.status

        statuses = [await _fresh_connection(user) for _ in range(20)]
        assert statuses == [200] * 20

        code, log = await core.stop()

    assert code == 0
    assert "Traceback" not in log
    assert not any(worker.is_running() and worker.status() != "zombie" for worker in workers)


async def test_rate_limits_hold_across_workers(start_core: StartCore) -> None:
    async with start_core(AUTHARA_WORKERS="2", AUTHARA_RATE_LIMIT_LOGIN_EMAIL_LIMIT="4") as core:

        async def wrong_login(http: aiohttp.ClientSession) -> int:
            async with http.post(
                f"{core.base}/auth/api/v1/login",
                json={"email": "target@example.com", "password": "not the password"},
                headers=CSRF,
            ) as response:
                await response.read()
                return response.status

        statuses = [await _fresh_connection(wrong_login) for _ in range(16)]
        await core.stop()

    # Each worker counts half of the limit: whichever worker a connection reaches, the
    # attempts that got through to a password check never exceed the configured 4.
    assert set(statuses) <= {401, 429}
    assert 2 <= statuses.count(401) <= 4
    assert statuses.count(429) >= 12


async def test_a_worker_that_dies_takes_core_down_with_exit_1(start_core: StartCore) -> None:
    async with start_core(AUTHARA_WORKERS="2") as core:
        first, second = psutil.Process(core.process.pid).children()
        first.kill()
        code, log = await core.stop(signal_it=False)

    assert code == 1
    assert "exited unexpectedly" in log
    second.wait(WAIT)


def test_workers_refuse_an_unmigrated_database_with_exit_1(pg_server_url: str) -> None:
    with fresh_database(pg_server_url) as database:
        result = run_core(core_env(database, AUTHARA_WORKERS="2"))
    assert result.returncode == 1
    assert "authara-migrate up" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr


def test_workers_setting_is_bounded(pg_server_url: str) -> None:
    with fresh_database(pg_server_url) as database:
        runner.upgrade(database)
        result = run_core(core_env(database, AUTHARA_WORKERS="0"))
    assert result.returncode == 2
    assert "AUTHARA_WORKERS" in result.stderr
    assert "Traceback" not in result.stderr, result.stderr
