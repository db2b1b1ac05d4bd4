"""`authara-core`: serve (default), `healthcheck` or `admin`.

The serve-until-stopped loop, the workers, the event loop, logging and the health check are
authara_runtime's; core adds its app, the schema gate and one-line start-up errors.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Final

import asyncpg
from aiohttp import web

from authara_contract import routes
from authara_contract.env import SettingsError, exit_on_settings_error, parse_host_port
from authara_core.admin import cli as admin_cli
from authara_core.app import check_database, create_app
from authara_core.platform.errors import (
    DatabaseUnavailable,
    OrganizationModeMismatch,
    SchemaMismatch,
)
from authara_core.settings import Settings, load_settings
from authara_runtime import serving
from authara_runtime.dispatch import serve_directly
from authara_runtime.health import healthcheck as runtime_healthcheck
from authara_runtime.health import local_url
from authara_runtime.logs import configure_logging
from authara_runtime.stopping import StopRequest
from authara_runtime.web_logs import quiet_bad_requests
from authara_runtime.workers import supervise, watch_supervisor

PROGRAM: Final = "authara-core"
_DEFAULT_BIND: Final = "0.0.0.0:8080"


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line: `[serve|healthcheck|admin ...]`, serve by default."""
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Authara's core service. Without a command it serves (like `serve`).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "serve",
        help="serve until SIGINT/SIGTERM (the default)",
        description="Serve the core API until SIGINT/SIGTERM; configured by AUTHARA_* variables.",
    )
    commands.add_parser(
        "healthcheck",
        help="exit 0 if the local server answers its health check, 1 if not",
        description=(
            "Ask the server at AUTHARA_BIND for its health: exit 0 when it answers, 1 when "
            "not, 2 for a bad AUTHARA_BIND."
        ),
    )
    admin = commands.add_parser(
        "admin",
        help="platform roles and password recovery",
        description=admin_cli.DESCRIPTION,
    )
    admin_cli.add_arguments(admin)
    return parser


def run(argv: Sequence[str] | None, stop: StopRequest) -> None:
    """Run the command line; exit with the command's status."""
    # --help and usage errors exit here, before any settings are read.
    args = build_parser().parse_args(argv)
    if args.command in (None, "serve"):
        sys.exit(serve(os.environ, stop))
    # The other commands do not serve: a stop signal acts as it would without us.
    stop.release()
    if args.command == "healthcheck":
        sys.exit(healthcheck(os.environ))
    sys.exit(admin_cli.run_parsed_admin(args, os.environ, prog=f"{PROGRAM} admin"))


def serve(environ: Mapping[str, str], stop: StopRequest) -> int:
    """Load settings and serve until SIGINT/SIGTERM; return the exit status."""
    try:
        settings = load_settings(environ)
    except SettingsError as exc:
        exit_on_settings_error(exc, PROGRAM)
    _configure_logging(settings)
    if settings.workers > 1:
        refused = _refused_start(lambda: asyncio.run(check_database(settings)))
        if refused is not None:
            return refused
        return supervise(
            settings.workers,
            functools.partial(_supervised_worker, settings),
            name="core",
            shutdown_s=settings.shutdown_timeout.total_seconds(),
            stop=stop,
        )
    return _run(settings, stop, worker_index=None)


def _supervised_worker(settings: Settings, index: int, stop: StopRequest) -> None:
    _configure_logging(settings)
    sys.exit(_run(settings, stop, worker_index=index))


def _run(settings: Settings, stop: StopRequest, *, worker_index: int | None) -> int:
    """Serve in this process: alone (None) or as one of several workers on a shared port."""
    app = create_app(
        settings, worker_index=worker_index, periodic_cleanup=worker_index in (None, 0)
    )
    if worker_index is not None:
        app.cleanup_ctx.append(watch_supervisor)

    def prepare(runner: web.AppRunner) -> None:
        serve_directly(runner, app)

    listen = serving.Listen(
        settings.bind_host, settings.bind_port, reuse_port=worker_index is not None
    )
    return (
        _refused_start(
            lambda: serving.run(
                serving.serve(
                    app,
                    stop,
                    listen=listen,
                    shutdown_timeout=settings.shutdown_timeout.total_seconds(),
                    prepare=prepare,
                ),
                stop,
            )
        )
        or 0
    )


def _refused_start(start: Callable[[], object]) -> int | None:
    """Run `start`; if it refuses to start, say why in one line and return the exit code."""
    try:
        start()
    except SchemaMismatch as exc:
        print(f"{PROGRAM}: {exc}", file=sys.stderr)
        return 1
    except OrganizationModeMismatch as exc:
        print(f"{PROGRAM}: {exc}", file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError, DatabaseUnavailable) as exc:
        print(f"{PROGRAM}: cannot start: {exc}", file=sys.stderr)
        return 1
    return None


def _configure_logging(settings: Settings) -> None:
    configure_logging(settings.log_level, fmt=settings.log_format)
    quiet_bad_requests()


def healthcheck(environ: Mapping[str, str]) -> int:
    """Return 0 when the local server answers /auth/health, 1 when not, 2 for a bad bind."""
    try:
        host, port = parse_host_port(environ.get("AUTHARA_BIND", _DEFAULT_BIND))
    except ValueError as exc:
        print(f"{PROGRAM}: AUTHARA_BIND {exc}", file=sys.stderr)
        return 2
    return runtime_healthcheck(local_url(host, port, routes.HEALTH), program=PROGRAM)
