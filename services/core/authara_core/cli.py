"""`authara-core`: serve (default) or `healthcheck`."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Final

import aiohttp
import asyncpg
from aiohttp import web

from authara_contract import routes
from authara_contract.env import SettingsError, exit_on_settings_error, parse_host_port
from authara_contract.workers import detach_from_terminal, supervise, watch_supervisor
from authara_core.admin.cli import run_admin
from authara_core.app import create_app
from authara_core.platform.dispatch import serve_fixed_routes_directly
from authara_core.platform.errors import DatabaseUnavailable, SchemaMismatch
from authara_core.settings import Settings, load_settings

PROGRAM = "authara-core"
_STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    command = args[0] if args else "serve"
    if command == "healthcheck":
        sys.exit(asyncio.run(healthcheck(os.environ)))
    if command == "admin":
        sys.exit(run_admin(args[1:], os.environ, prog=f"{PROGRAM} admin"))
    if command != "serve":
        print(f"usage: {PROGRAM} [serve|healthcheck|admin]", file=sys.stderr)
        sys.exit(2)
    sys.exit(serve(os.environ))


def new_event_loop() -> asyncio.AbstractEventLoop:
    """Use uvloop where it is installed (it roughly halves per-request overhead)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve(environ: Mapping[str, str]) -> int:
    """Load settings and serve until SIGINT/SIGTERM; return the exit status."""
    try:
        settings = load_settings(environ)
    except SettingsError as exc:
        exit_on_settings_error(exc, PROGRAM)
    _configure_logging(settings)
    if settings.workers > 1:
        return supervise(
            settings.workers,
            functools.partial(_supervised_worker, settings),
            name="core",
            shutdown_s=settings.shutdown_timeout.total_seconds(),
        )
    return _run(settings, worker_index=None)


def _supervised_worker(settings: Settings, index: int) -> None:
    detach_from_terminal()
    _configure_logging(settings)
    sys.exit(_run(settings, worker_index=index))


def _run(settings: Settings, *, worker_index: int | None) -> int:
    """Serve in this process: alone (None) or as one of several workers on a shared port."""
    app = create_app(settings, periodic_cleanup=worker_index in (None, 0))
    if worker_index is not None:
        app.cleanup_ctx.append(watch_supervisor)
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(_serve(app, settings, worker_index=worker_index))
    except SchemaMismatch as exc:
        print(f"{PROGRAM}: {exc}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError, DatabaseUnavailable) as exc:
        print(f"{PROGRAM}: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(app: web.Application, settings: Settings, *, worker_index: int | None) -> None:
    """Start the app, listen, serve until SIGTERM/SIGINT, then drain and clean up.

    Not `web.run_app`: the server's handler is swapped for the direct dispatch of
    fixed-path routes, and a second signal during the drain is ignored rather than cutting
    it short, so in-flight requests get the whole AUTHARA_SHUTDOWN_TIMEOUT.
    """
    shutdown_s = settings.shutdown_timeout.total_seconds()
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=shutdown_s)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in _STOP_SIGNALS:  # from the start: a signal during start-up stops once started
        loop.add_signal_handler(sig, stop.set)
    try:
        await runner.setup()
        serve_fixed_routes_directly(runner, app)
        site = web.TCPSite(
            runner,
            settings.bind_host,
            settings.bind_port,
            reuse_port=worker_index is not None or None,
        )
        await site.start()
        logging.getLogger(PROGRAM).info(
            "listening on %s:%s%s",
            settings.bind_host,
            settings.bind_port,
            "" if worker_index is None else f" (worker {worker_index})",
        )
        await stop.wait()
        logging.getLogger(PROGRAM).info(
            "stopping: finishing in-flight requests for up to %.1f s", shutdown_s
        )
    finally:
        await runner.cleanup()
        for sig in _STOP_SIGNALS:
            # Once the loop closes a late repeat of the signal would take the default
            # action and kill a process that has already finished its work.
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=_LEVELS[settings.log_level],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


async def healthcheck(environ: Mapping[str, str]) -> int:
    """Exit status 0 when the local server answers /auth/health."""
    try:
        host, port = parse_host_port(environ.get("AUTHARA_BIND", "0.0.0.0:8080"))
    except ValueError as exc:
        print(f"{PROGRAM}: AUTHARA_BIND {exc}", file=sys.stderr)
        return 2
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    url = f"http://{host}:{port}{routes.HEALTH}"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as session,
            session.get(url) as response,
        ):
            healthy = response.status == 200
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(f"{PROGRAM}: {url} unreachable: {exc}", file=sys.stderr)
        return 1
    if not healthy:
        print(f"{PROGRAM}: {url} answered {response.status}", file=sys.stderr)
    return 0 if healthy else 1
