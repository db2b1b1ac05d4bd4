"""`authara dev`: PostgreSQL, migrations, a mail sink, core, gateway and the demo app.

Order: database (embedded unless POSTGRESQL_HOST is set) → `authara-migrate up` → the SMTP
sink, core, demo app (with the caught-mail pages at /_dev/mail) and gateway as separate
processes → wait until /auth/health answers through the gateway →
announce the URL → run until a signal (exit 0) or until a child dies (exit 1). Shutdown stops
every child, then the embedded database with a fast shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Final, NoReturn, TextIO, TypeVar

import aiohttp

from authara_contract import routes

from .dev_database import (
    DevDatabaseError,
    embedded_env,
    embedded_server,
    ensure_database,
    port_is_free,
    uses_external_database,
)
from .dev_env import LOOPBACK, DevPorts, build_env, gateway_url, reachable_address, ready_lines
from .dev_secrets import DevSecrets, DevSecretsError, load_or_create_secrets
from .embedded_pg import EmbeddedPostgres, EmbeddedPostgresError, free_port
from .supervisor import Child, Supervisor

PROGRAM: Final = "authara dev"
HEALTH_TIMEOUT_S: Final = 60.0
_HEALTH_POLL_S: Final = 0.2
_HEALTH_REQUEST_TIMEOUT: Final = aiohttp.ClientTimeout(total=2)
# Start order; shutdown signals go out in reverse, the gateway first.
SERVICES: Final = (
    ("mail", "authara-dev-mail"),
    ("core", "authara-core"),
    ("demo", "authara-dev-demo"),
    ("gateway", "authara-gateway"),
)
MAIL_FOLDER: Final = "mail"  # in the data dir: one .eml file per caught mail
MIGRATE: Final = ("migrate", "authara-migrate")
# Set by `make dev`: the port is chosen there with PORT=..., not with --port.
VIA_MAKE_VARIABLE: Final = "AUTHARA_DEV_VIA_MAKE"

_T = TypeVar("_T")


class DevStackError(RuntimeError):
    """A problem that ends `authara dev` with a one-line message."""


class _StopRequested(Exception):
    """SIGINT or SIGTERM arrived."""


@dataclass(frozen=True, slots=True)
class DevOptions:
    """Command-line options of `authara dev`."""

    port: int
    data_dir: Path


def run_dev(options: DevOptions, environ: Mapping[str, str]) -> int:
    """Run the stack until SIGINT/SIGTERM (0) or a failure (1)."""
    server: EmbeddedPostgres | None = None
    try:
        with _sigterm_interrupts():
            ports, secrets = _prepare(options, environ)
            database: dict[str, str] = {}
            if not uses_external_database(environ):
                server = embedded_server(options.data_dir)
                server.start()
                ensure_database(server.url())
                database = embedded_env(server)
            env = _compose_env(environ, ports, secrets, database, options.data_dir / MAIL_FOLDER)
            return asyncio.run(_supervise(env, sys.stdout))
    except (DevStackError, DevSecretsError, DevDatabaseError, EmbeddedPostgresError) as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if server is not None:
            with _signals_ignored():
                server.stop()


def port_in_use_message(port: int, environ: Mapping[str, str]) -> str:
    """Say that `port` is taken and how to choose another: `make dev` or `authara dev`."""
    if environ.get(VIA_MAKE_VARIABLE) == "1":
        how = f"PORT={_another_port(port)} make dev"
    else:
        how = "--port"
    return (
        f"port {port} on {LOOPBACK} is already in use; "
        f"stop what listens there or choose another port with {how}"
    )


def _another_port(port: int) -> int:
    return port + 1 if port < 65535 else port - 1


def _prepare(options: DevOptions, environ: Mapping[str, str]) -> tuple[DevPorts, DevSecrets]:
    if not port_is_free(options.port):
        raise DevStackError(port_in_use_message(options.port, environ))
    for _, script in (*SERVICES, MIGRATE):
        _script_path(script)
    options.data_dir.mkdir(parents=True, exist_ok=True)
    secrets = load_or_create_secrets(options.data_dir)
    ports = DevPorts(gateway=options.port, core=free_port(), demo=free_port(), mail=free_port())
    return ports, secrets


def _compose_env(
    environ: Mapping[str, str],
    ports: DevPorts,
    secrets: DevSecrets,
    database: Mapping[str, str],
    mail_dir: Path,
) -> dict[str, str]:
    try:
        return build_env(
            environ, ports=ports, secrets=secrets, database=database, mail_dir=mail_dir
        )
    except ValueError as exc:
        raise DevStackError(f"a bind address in the environment is unusable: {exc}") from exc


async def _supervise(env: Mapping[str, str], out: TextIO) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    supervisor = Supervisor(out)
    try:
        return await _run_stack(supervisor, env, stop, out)
    except _StopRequested:
        _error("stopping")
        return 0
    finally:
        await supervisor.stop_all()


async def _run_stack(
    supervisor: Supervisor, env: Mapping[str, str], stop: asyncio.Event, out: TextIO
) -> int:
    name, script = MIGRATE
    status = await _until_stopped(supervisor.run(name, [_script_path(script), "up"], env), stop)
    if status != 0:
        _error(f"migrations failed (exit status {status}); see the {name} output above")
        return 1
    for name, script in SERVICES:
        await supervisor.start(name, [_script_path(script)], env)
    # Core first, directly: probing through the gateway while core boots would make the
    # gateway log a failed upstream at WARNING on every start.
    core_url = f"http://{reachable_address(env['AUTHARA_BIND'])}"
    for url in (core_url + routes.HEALTH, gateway_url(env) + routes.HEALTH):
        early_exit = await _until_stopped(_wait_healthy(url, supervisor), stop)
        if early_exit is not None:
            return _child_failed(early_exit, "during startup")
    out.write("".join(f"{line}\n" for line in ready_lines(env)))
    out.flush()
    return _child_failed(await _until_stopped(supervisor.wait_any_exit(), stop), "unexpectedly")


async def _until_stopped(work: Coroutine[Any, Any, _T], stop: asyncio.Event) -> _T:
    """Await `work`, or cancel it and raise _StopRequested when `stop` is set first."""
    task = asyncio.create_task(work)
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if stop.is_set():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise _StopRequested
    return task.result()


async def _wait_healthy(url: str, supervisor: Supervisor) -> Child | None:
    """Poll `url` until it answers 200 (None), or return the first child that exits."""
    exited = asyncio.create_task(supervisor.wait_any_exit())
    try:
        async with (
            asyncio.timeout(HEALTH_TIMEOUT_S),
            aiohttp.ClientSession(timeout=_HEALTH_REQUEST_TIMEOUT) as http,
        ):
            while not exited.done():
                if await _answers_ok(http, url):
                    return None
                await asyncio.wait({exited}, timeout=_HEALTH_POLL_S)
    except TimeoutError:
        raise DevStackError(
            f"{url} did not answer 200 within {HEALTH_TIMEOUT_S:.0f}s; see the output above"
        ) from None
    finally:
        exited.cancel()
    return exited.result()


async def _answers_ok(http: aiohttp.ClientSession, url: str) -> bool:
    try:
        async with http.get(url, allow_redirects=False) as response:
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


def _child_failed(child: Child, when: str) -> int:
    _error(f"{child.name} exited {when} with status {child.process.returncode}; stopping")
    return 1


def _script_path(name: str) -> str:
    """Find a console script of this environment (next to the running interpreter)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        # `make clean install` too: a package upgrade that moves a script can remove it.
        raise DevStackError(
            f"{name} is not installed next to {sys.executable}; "
            "run `make install` (or `make clean install` if that changes nothing)"
        )
    return str(path)


def _error(message: str) -> None:
    print(f"{PROGRAM}: {message}", file=sys.stderr, flush=True)


def _raise_interrupt(signum: int, frame: FrameType | None) -> NoReturn:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while no event loop handles signals, so cleanup runs."""
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Let the final database shutdown finish even if more signals arrive."""
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
