"""The gateway as a process: serves, answers its health check, stops on SIGTERM."""

import asyncio
import os
import signal

import aiohttp
from aiohttp.test_utils import TestServer

from authara_contract.env import BY_NAME
from tests.integration.gateway.support import (
    GATEWAY_SCRIPT,
    WAIT,
    Control,
    free_port,
)


def _process_environ(**extra: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if key not in BY_NAME}
    return {**environ, **extra}


async def _run(*args: str, environ: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *args,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_serves_answers_healthcheck_and_stops_on_sigterm(
    core: TestServer, app_upstream: TestServer, control: Control
) -> None:
    port = free_port()
    environ = _process_environ(
        GATEWAY_BIND=f"127.0.0.1:{port}",
        AUTHARA_UPSTREAM=f"127.0.0.1:{core.port}",
        APP_UPSTREAM=f"http://127.0.0.1:{app_upstream.port}",
        AUTO_HTTPS="on",
        LOG_LEVEL="info",
    )
    server = await asyncio.create_subprocess_exec(
        str(GATEWAY_SCRIPT), env=environ, stderr=asyncio.subprocess.PIPE
    )
    try:
        code, output = 1, ""
        for _ in range(100):
            code, output = await _run(str(GATEWAY_SCRIPT), "healthcheck", environ=environ)
            if code == 0:
                break
            await asyncio.sleep(0.1)
        assert code == 0, output
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/private") as response,
        ):
            assert (await response.json())["upstream"] == "app"
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(server.communicate(), WAIT)

    assert server.returncode == 0
    log = stderr.decode()
    assert "AUTO_HTTPS=on" in log
    assert "Traceback" not in log
