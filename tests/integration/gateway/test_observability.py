"""The gateway as a real process with GATEWAY_METRICS_BIND and JSON access lines."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import uuid
from pathlib import Path
from typing import Final

import aiohttp
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from authara_contract.env import BY_NAME
from authara_contract.routes import GATEWAY_HEALTH
from tests.integration.gateway.support import (
    GATEWAY_SCRIPT,
    ISSUER,
    KEYS,
    Control,
    access_token,
    free_port,
    upstream_app,
)

WAIT: Final = 20.0


async def _wait_healthy(process: asyncio.subprocess.Process, url: str, log: Path) -> None:
    async with asyncio.timeout(WAIT), aiohttp.ClientSession() as http:
        while True:
            assert process.returncode is None, f"the gateway exited: see {log}"
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)


def _free_pair() -> int:
    """Return a port p such that p and p+1 are both free (worker i serves metrics on p+i)."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as first, socket.socket() as second:
            try:
                first.bind(("127.0.0.1", port))
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise AssertionError("no two adjacent free ports")


def _sample(text: str, name: str, **labels: str) -> float | None:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    prefix = f"{name}{{{wanted}}} " if labels else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix) :])
    return None


async def test_gateway_metrics_per_worker_and_access_lines_share_the_request_id(
    aiohttp_server: AiohttpServer, tmp_path: Path
) -> None:
    control = Control()
    core: TestServer = await aiohttp_server(upstream_app("core", control))
    app: TestServer = await aiohttp_server(upstream_app("app", control))
    port, metrics_port = free_port(), _free_pair()
    environ = {key: value for key, value in os.environ.items() if key not in BY_NAME}
    environ.update(
        GATEWAY_BIND=f"127.0.0.1:{port}",
        GATEWAY_METRICS_BIND=f"127.0.0.1:{metrics_port}",
        GATEWAY_WORKERS="2",
        AUTHARA_UPSTREAM=f"127.0.0.1:{core.port}",
        APP_UPSTREAM=f"127.0.0.1:{app.port}",
        AUTHARA_JWT_KEYS=",".join(
            f"{kid}:{base64.b64encode(key).decode()}" for kid, key in KEYS.keys.items()
        ),
        AUTHARA_JWT_ISSUER=ISSUER,
        LOG_LEVEL="info",
        LOG_FORMAT="json",
    )
    user_id = uuid.uuid4()
    token = access_token(user_id=user_id)
    log_path = tmp_path / "gateway.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            str(GATEWAY_SCRIPT), env=environ, stdout=asyncio.subprocess.DEVNULL, stderr=log
        )
    try:
        await _wait_healthy(process, f"http://127.0.0.1:{port}{GATEWAY_HEALTH}", log_path)
        async with aiohttp.ClientSession() as http:
            for index in range(4):
                headers = {"X-Request-Id": f"obs-app-{index}", "Cookie": f"authara_access={token}"}
                url = f"http://127.0.0.1:{port}/page?code=secret-code-{index}"
                async with http.get(url, headers=headers) as response:
                    assert response.status == 200
            headers = {"X-Request-Id": "obs-core-1"}
            async with http.get(f"http://127.0.0.1:{port}/auth/x", headers=headers) as response:
                assert response.status == 200
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert (await response.json())["upstream"] == "app"  # proxied, not served
            texts = []
            for worker in range(2):  # worker i listens on port+i
                url = f"http://127.0.0.1:{metrics_port + worker}/metrics"
                async with http.get(url) as response:
                    assert response.status == 200
                    texts.append(await response.text())
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), WAIT)
    assert process.returncode == 0, log_path.read_text()

    def total(name: str, **labels: str) -> float:
        return sum(_sample(text, name, **labels) or 0.0 for text in texts)

    app_ok = {"method": "GET", "route": "app", "status": "200"}
    assert total("authara_gateway_requests_total", **app_ok) == 5
    core_ok = {"method": "GET", "route": "core", "status": "200"}
    assert total("authara_gateway_requests_total", **core_ok) == 1
    assert total("authara_gateway_upstream_duration_seconds_count", upstream="app") == 5
    assert total("authara_gateway_upstream_duration_seconds_count", upstream="core") == 1
    for text in texts:
        assert "# TYPE authara_gateway_revocation_checks_total counter" in text
        assert "# TYPE authara_gateway_refreshes_total counter" in text
        assert "# TYPE authara_gateway_upstream_errors_total counter" in text

    log_text = log_path.read_text()
    assert token not in log_text
    assert "secret-code" not in log_text
    lines = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    access = {line["request_id"]: line for line in lines if line["logger"] == "gateway.access"}
    for index in range(4):
        line = access[f"obs-app-{index}"]
        assert (line["route"], line["status"], line["user_id"]) == ("app", 200, str(user_id))
    assert access["obs-core-1"]["route"] == "core"
    assert access["obs-core-1"]["user_id"] is None
    # The upstreams got the same request ids the gateway logged.
    forwarded = {seen.headers["X-Request-Id"] for seen in control.seen}
    assert {f"obs-app-{index}" for index in range(4)} | {"obs-core-1"} <= forwarded
