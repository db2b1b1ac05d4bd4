"""Helpers for tests that run core: a valid environment and fast argon2 parameters."""

from __future__ import annotations

import asyncio
import base64
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp

from authara_contract import routes
from authara_contract.database import DatabaseSettings

BIN = Path(sys.executable).parent
TEST_KID = "test-1"
TEST_KEY = base64.b64encode(b"k" * 32).decode()
ISSUER = "authara-test"
PUBLIC_URL = "http://127.0.0.1:3000"


# Webhooks on (every event recorded) with a receiver nobody listens on; tests that record
# events build their app with `deliver_webhooks=False` or point the URL at a real receiver.
WEBHOOK_SECRET = "test-webhook-secret-of-32-characters"
WEBHOOK_ENV: dict[str, str] = {
    "AUTHARA_WEBHOOK_URL": "http://127.0.0.1:9/hooks",
    "AUTHARA_WEBHOOK_SECRET": WEBHOOK_SECRET,
}


def core_env(db: DatabaseSettings, **overrides: str) -> dict[str, str]:
    """Return a complete core environment for a database (argon2 at the OWASP floor)."""
    env = {
        "APP_ENV": "dev",
        "LOG_LEVEL": "warn",
        "POSTGRESQL_HOST": db.host,
        "POSTGRESQL_PORT": str(db.port),
        "POSTGRESQL_DATABASE": db.database,
        "POSTGRESQL_USERNAME": db.username,
        "POSTGRESQL_PASSWORD": db.password,
        "POSTGRESQL_SCHEMA": db.schema,
        "PUBLIC_URL": PUBLIC_URL,
        "AUTHARA_JWT_ISSUER": ISSUER,
        "AUTHARA_JWT_ACTIVE_KEY_ID": TEST_KID,
        "AUTHARA_JWT_KEYS": f"{TEST_KID}:{TEST_KEY}",
        "AUTHARA_PASSWORD_HASH_TIME_COST": "2",
        "AUTHARA_PASSWORD_HASH_MEMORY_KIB": "19456",
        "AUTHARA_PASSWORD_HASH_PARALLELISM": "1",
        "AUTHARA_DB_MAX_OPEN_CONNS": "10",
        # Every test client is 127.0.0.1: the per-IP limits get their own tests.
        "AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT": "10000",
        "AUTHARA_RATE_LIMIT_SIGNUP_IP_LIMIT": "10000",
        "AUTHARA_RATE_LIMIT_LOGIN_EMAIL_LIMIT": "10000",
        "AUTHARA_RATE_LIMIT_SIGNUP_EMAIL_LIMIT": "10000",
        "AUTHARA_RATE_LIMIT_PASSWORD_RESET_IP_LIMIT": "10000",
        "AUTHARA_RATE_LIMIT_PASSWORD_RESET_EMAIL_LIMIT": "10000",
        "AUTHARA_RATE_LIMIT_CHALLENGE_VERIFY_IP_LIMIT": "10000",
        "AUTHARA_RATE_LIMIT_CHALLENGE_RESEND_IP_LIMIT": "10000",
    }
    env.update(overrides)
    return env


class FakeClock:
    """A clock tests move by hand (aware UTC)."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)


def run_core(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `authara-core` with an environment until it exits (it is expected to refuse)."""
    return subprocess.run(
        [str(BIN / "authara-core")],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@asynccontextmanager
async def core_process(
    env: dict[str, str], *, port: int, wait_s: float = 30.0
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run `authara-core` with `env` (bound to 127.0.0.1:port) until healthy; kill it at the end.

    Yields the process, so a test can kill it itself (SIGKILL: no clean stop).
    """
    process = await asyncio.create_subprocess_exec(
        str(BIN / "authara-core"),
        env={"PATH": "/usr/bin:/bin", **env, "AUTHARA_BIND": f"127.0.0.1:{port}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}{routes.HEALTH}"
        async with asyncio.timeout(wait_s), aiohttp.ClientSession() as http:
            while True:
                assert process.returncode is None, f"core exited with {process.returncode}"
                try:
                    async with http.get(url) as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
