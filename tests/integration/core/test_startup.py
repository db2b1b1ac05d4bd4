"""`authara-core` as a real process: schema gate, health check, clean shutdown."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from authara_contract import cookies, routes
from authara_contract.database import DatabaseSettings
from authara_devstack.embedded_pg import free_port
from authara_migrations import runner
from tests.coresupport import core_env, run_core
from tests.dbutil import fresh_database

BIN = Path(sys.executable).parent


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line]
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    return lines[0]


def test_refuses_an_unmigrated_database(pg_server_url: str) -> None:
    with fresh_database(pg_server_url) as database:
        result = run_core(core_env(database))
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert "revision none" in line
    assert "authara-migrate up" in line


def test_refuses_a_newer_schema(pg_server_url: str) -> None:
    with fresh_database(pg_server_url) as database:
        runner.upgrade(database)
        with psycopg.connect(database.url(), autocommit=True) as conn:
            conn.execute("UPDATE authara.alembic_version SET version_num = '9999'")
        result = run_core(core_env(database))
    assert result.returncode == 1
    assert "revision 9999" in _one_line(result.stderr)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_refuses_a_database_pinned_to_another_organization_mode(
    pg_server_url: str, workers: str
) -> None:
    with fresh_database(pg_server_url) as database:
        runner.upgrade(database)
        with psycopg.connect(database.url(), autocommit=True) as conn:
            conn.execute("INSERT INTO authara.organization_mode (id, mode) VALUES (1, 'single')")
        result = run_core(core_env(database, AUTHARA_WORKERS=workers))
    assert result.returncode == 2
    assert _one_line(result.stderr) == (
        "authara-core: organization mode mismatch: database=single config=personal"
    )


def test_first_start_pins_the_configured_organization_mode(db: DatabaseSettings) -> None:
    bind = f"127.0.0.1:{free_port()}"
    env = core_env(db, AUTHARA_BIND=bind, AUTHARA_ORGANIZATION_MODE="multi")
    try:
        with serving_core({"PATH": "/usr/bin:/bin", **env}):
            pass
        with psycopg.connect(db.url(), autocommit=True) as conn:
            rows = conn.execute("SELECT id, mode FROM authara.organization_mode").fetchall()
        mismatch = run_core(core_env(db))
    finally:  # later tests serve this database in the default mode without truncating it
        with psycopg.connect(db.url(), autocommit=True) as conn:
            conn.execute("DELETE FROM authara.organization_mode")
    assert rows == [(1, "multi")]
    assert mismatch.returncode == 2
    assert "database=multi config=personal" in _one_line(mismatch.stderr)


def test_unreachable_database_is_one_line() -> None:
    unreachable = DatabaseSettings(host="127.0.0.1", port=1, database="x", username="postgres")
    result = run_core(core_env(unreachable))
    assert result.returncode == 1
    assert "cannot start" in _one_line(result.stderr)


@contextmanager
def serving_core(env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """Start `authara-core`, wait until its health check passes; kill it if still running."""
    process = subprocess.Popen(
        [str(BIN / "authara-core")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        healthy = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.poll() is None:
            check = subprocess.run(
                [str(BIN / "authara-core"), "healthcheck"],
                env=env,
                capture_output=True,
                timeout=10,
                check=False,
            )
            if check.returncode == 0:
                healthy = True
                break
            time.sleep(0.2)
        assert healthy, process.stderr.read() if process.poll() is not None else "no answer"  # type: ignore[union-attr]
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stdout.close()  # type: ignore[union-attr]
        process.stderr.close()  # type: ignore[union-attr]


def test_serves_answers_healthcheck_and_stops_on_sigterm(db_settings: DatabaseSettings) -> None:
    bind = f"127.0.0.1:{free_port()}"
    env = {"PATH": "/usr/bin:/bin", **core_env(db_settings, AUTHARA_BIND=bind)}
    with serving_core(env) as process:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0


def _post_json(bind: str, path: str, body: dict[str, str]) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection(bind, timeout=30)
    try:
        connection.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={
                "Content-Type": "application/json",
                "X-CSRF-Token": "t",
                "Cookie": f"{cookies.CSRF.name}=t",
            },
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_repeated_signals_do_not_cut_the_drain_short(db_settings: DatabaseSettings) -> None:
    """An orchestrator that repeats SIGTERM (or adds SIGINT) still gets a finished login."""
    bind = f"127.0.0.1:{free_port()}"
    # Slow hashing (about a second per login) keeps the login in flight while signals arrive.
    env = {
        "PATH": "/usr/bin:/bin",
        **core_env(db_settings, AUTHARA_BIND=bind, AUTHARA_PASSWORD_HASH_TIME_COST="60"),
    }
    credentials = {"email": "drain@example.com", "password": "correct horse battery"}
    with serving_core(env) as process:
        assert _post_json(bind, routes.API_SIGNUP_DIRECT, credentials)[0] == 201
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            login = pool.submit(_post_json, bind, routes.API_LOGIN, credentials)
            time.sleep(0.3)
            assert not login.done()
            for sig in (signal.SIGTERM, signal.SIGTERM, signal.SIGINT):
                process.send_signal(sig)
                time.sleep(0.05)
            status, body = login.result(timeout=30)
        assert status == 200
        assert body["user"]["email"] == credentials["email"]
        assert process.wait(timeout=20) == 0


def _healthcheck(bind: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "authara-core"), "healthcheck"],
        env={"PATH": "/usr/bin:/bin", "AUTHARA_BIND": bind},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


def test_healthcheck_fails_when_nothing_listens() -> None:
    result = _healthcheck(f"127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "unhealthy" in result.stderr


def test_healthcheck_refuses_a_bad_bind_address_with_exit_2() -> None:
    result = _healthcheck("nonsense")
    assert result.returncode == 2
    assert "AUTHARA_BIND" in _one_line(result.stderr)


def test_python_m_runs_the_same_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "authara_core", "no-such-command"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("usage: authara-core"), result.stderr
    assert "invalid choice: 'no-such-command'" in result.stderr
