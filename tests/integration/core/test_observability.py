"""Core as a real process with AUTHARA_METRICS_BIND and JSON access lines: scraped over HTTP."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from pathlib import Path
from typing import Any, Final

import aiohttp

from authara_contract import routes
from authara_contract.database import DatabaseSettings
from authara_devstack.embedded_pg import free_port
from tests.coresupport import BIN, core_env

PASSWORD: Final = "observability horse battery"
EMAIL: Final = "watched@example.com"
WAIT: Final = 30.0


async def _wait_healthy(process: asyncio.subprocess.Process, url: str) -> None:
    async with asyncio.timeout(WAIT), aiohttp.ClientSession() as http:
        while True:
            assert process.returncode is None, f"core exited with {process.returncode}"
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)


async def _scrape(url: str) -> str:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        return await response.text()


def _sample(text: str, name: str, **labels: str) -> float | None:
    """Return the value of one sample of the exposition text, or None when absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return None


async def test_core_serves_metrics_on_its_own_listener_and_logs_each_request(
    db: DatabaseSettings, tmp_path: Path
) -> None:
    port, metrics_port = free_port(), free_port()
    log_path = tmp_path / "core.log"
    env = core_env(
        db,
        LOG_LEVEL="info",
        LOG_FORMAT="json",
        AUTHARA_BIND=f"127.0.0.1:{port}",
        AUTHARA_METRICS_BIND=f"127.0.0.1:{metrics_port}",
    )
    base = f"http://127.0.0.1:{port}"
    metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            str(BIN / "authara-core"),
            env={"PATH": "/usr/bin:/bin", **env},
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        await _wait_healthy(process, base + routes.HEALTH)
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(base_url=base, cookie_jar=jar) as http:
            async with http.get(routes.API_PREFIX + "/csrf") as response:
                csrf = (await response.json())["csrf_token"]
            headers = {"X-CSRF-Token": csrf, "X-Request-Id": "obs-signup-1"}
            credentials = {"email": EMAIL, "password": PASSWORD}
            async with http.post(
                routes.API_SIGNUP_DIRECT, json=credentials, headers=headers
            ) as response:
                assert response.status == 201
                body = await response.json()
                user_id, access_token = body["user"]["id"], body["access_token"]
            async with http.get(routes.API_USER, headers={"X-Request-Id": "obs-user-1"}) as r:
                assert r.status == 200
            wrong = {"email": EMAIL, "password": PASSWORD + "!"}
            jar.clear()
            async with http.get(routes.API_PREFIX + "/csrf") as response:
                headers = {"X-CSRF-Token": (await response.json())["csrf_token"]}
            async with http.post(routes.API_LOGIN, json=wrong, headers=headers) as response:
                assert response.status == 401
            # The metrics are not on the public port.
            async with http.get("/metrics") as response:
                assert response.status == 404
        text = await _scrape(metrics_url)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), WAIT)

    signup_route = {"method": "POST", "route": routes.API_SIGNUP_DIRECT, "status": "201"}
    assert _sample(text, "authara_requests_total", **signup_route) == 1
    user_route = {"method": "GET", "route": routes.API_USER, "status": "200"}
    assert _sample(text, "authara_requests_total", **user_route) == 1
    bucket = {"le": "+Inf", "route": routes.API_USER, "status_class": "2xx"}
    assert _sample(text, "authara_request_duration_seconds_bucket", **bucket) == 1
    assert _sample(text, "authara_signups_total", outcome="success") == 1
    assert _sample(text, "authara_logins_total", outcome="refused") == 1
    assert _sample(text, "authara_db_pool_max") == 10
    assert _sample(text, "authara_password_hash_in_flight") == 0
    assert _sample(text, "authara_password_hash_rejections_total") == 0
    assert _sample(text, "authara_outbox_backlog", queue="email", status="pending") is not None
    assert _sample(text, "authara_outbox_backlog", queue="webhooks", status="failed") == 0
    assert "# TYPE authara_revocation_checks_total counter" in text
    assert "# TYPE authara_refresh_token_reuse_detected_total counter" in text

    log_text = log_path.read_text()
    for secret in (PASSWORD, access_token, csrf, EMAIL):
        assert secret not in log_text
    lines = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    access = {line["request_id"]: line for line in lines if line["logger"] == "core.access"}
    signup = access["obs-signup-1"]
    assert signup["route"] == routes.API_SIGNUP_DIRECT
    assert signup["status"] == 201
    assert signup["method"] == "POST"
    assert signup["duration_ms"] > 0
    user: dict[str, Any] = access["obs-user-1"]
    assert (user["route"], user["status"], user["user_id"]) == (routes.API_USER, 200, user_id)
    # Every other line is JSON too (LOG_FORMAT=json), with a level and a message.
    others = [line for line in lines if line["logger"] != "core.access"]
    assert others
    assert all({"time", "level", "logger", "message"} <= set(line) for line in others)
