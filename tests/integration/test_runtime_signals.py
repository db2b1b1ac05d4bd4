"""A stop signal at any moment of a server's life ends it with exit 0, never -15.

Real processes, the gateway and core (on a migrated database), each alone and with two
workers. SIGTERM is sent at many moments of start-up, so that it lands in the imports, the
settings, the event loop's creation, the app's start, the workers' forks and the serving
loop, and again repeatedly during the drain. The interpreter's own start-up, before the
program's first line, cannot catch anything: the test starts each process with the stop
signals blocked, as a careful parent does, and the program must take them (unblock) once it
can handle them.
"""

import asyncio
import contextlib
import itertools
import os
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import aiohttp
import pytest

from authara_contract import routes
from authara_contract.database import DatabaseSettings
from authara_contract.env import BY_NAME
from authara_runtime.stopping import stop_signals_blocked
from tests.coresupport import core_env
from tests.integration.gateway.support import free_port

BIN: Final = Path(sys.executable).parent
WAIT: Final = 30.0
# Seconds after the spawn: the early ones land in imports and settings, the later ones in
# the loop's creation, the app's start (core: the pool and the schema check), the site's
# start and serving (a start takes ~0.3-1 s here for the gateway, ~1-2 s for core).
DELAYS: Final = (
    0.0,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.13,
    0.16,
    0.2,
    0.25,
    0.3,
    0.35,
    0.4,
    0.5,
    0.6,
    0.8,
    1.0,
    1.3,
    1.6,
    2.0,
    2.5,
)


@dataclass(frozen=True, slots=True)
class Program:
    """A server program to start: its script, its health path and its environment."""

    script: Path
    health: str
    environ: Callable[[int, str], dict[str, str]]  # (port, workers) -> environment


@pytest.fixture(params=["gateway", "core"])
def program(request: pytest.FixtureRequest) -> Program:
    if request.param == "gateway":
        return Program(
            BIN / "authara-gateway",
            routes.GATEWAY_HEALTH,
            lambda port, workers: _gateway_env(port, GATEWAY_WORKERS=workers),
        )
    database: DatabaseSettings = request.getfixturevalue("db_settings")
    return Program(
        BIN / "authara-core",
        routes.HEALTH,
        lambda port, workers: _core_env(database, port, workers),
    )


def _gateway_env(port: int, **extra: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if key not in BY_NAME}
    unused = free_port()  # nothing is proxied: the upstreams need not exist
    environ.update(
        {
            "GATEWAY_BIND": f"127.0.0.1:{port}",
            "AUTHARA_UPSTREAM": f"127.0.0.1:{unused}",
            "APP_UPSTREAM": f"127.0.0.1:{unused}",
            "LOG_LEVEL": "warn",
            **extra,
        }
    )
    return environ


def _core_env(database: DatabaseSettings, port: int, workers: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        **core_env(database, AUTHARA_BIND=f"127.0.0.1:{port}", AUTHARA_WORKERS=workers),
    }


async def _spawn(script: Path, environ: Mapping[str, str]) -> asyncio.subprocess.Process:
    # The child inherits the mask: a signal sent before its first line stays pending.
    with stop_signals_blocked():
        return await asyncio.create_subprocess_exec(
            str(script),
            env=dict(environ),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )


async def _wait_healthy(process: asyncio.subprocess.Process, url: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    async with aiohttp.ClientSession() as http:
        while asyncio.get_running_loop().time() < deadline:
            assert process.returncode is None, "the server exited during start-up"
            with contextlib.suppress(aiohttp.ClientConnectionError):
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.05)
    pytest.fail("the server did not become healthy")


async def _exit_status(process: asyncio.subprocess.Process) -> tuple[int, str]:
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), WAIT)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"the process did not stop within {WAIT:.0f} s of SIGTERM")
    assert process.returncode is not None
    return process.returncode, stderr.decode()


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_sigterm_at_any_moment_of_start_up_exits_0(program: Program, workers: str) -> None:
    outcomes = {}
    for delay in DELAYS:
        process = await _spawn(program.script, program.environ(free_port(), workers))
        await asyncio.sleep(delay)
        process.send_signal(signal.SIGTERM)
        code, log = await _exit_status(process)
        outcomes[delay] = code
        assert "Traceback" not in log, log
    assert outcomes == dict.fromkeys(DELAYS, 0)


@pytest.mark.parametrize("workers", ["1", "2"])
async def test_signals_repeated_through_the_drain_and_exit_are_harmless(
    program: Program, workers: str
) -> None:
    port = free_port()
    process = await _spawn(program.script, program.environ(port, workers))
    await _wait_healthy(process, f"http://127.0.0.1:{port}{program.health}")
    process.send_signal(signal.SIGTERM)
    # Keep signalling until it is gone: through the drain, the loop's close and the exit.
    signals = itertools.cycle((signal.SIGTERM, signal.SIGINT))
    while process.returncode is None:
        with contextlib.suppress(ProcessLookupError):  # gone, not yet noticed
            os.kill(process.pid, next(signals))
        await asyncio.sleep(0.001)
    code, log = await _exit_status(process)
    assert code == 0
    assert "Traceback" not in log, log
