"""`authara-gateway`: serve (the default) or check a running gateway's health."""

import argparse
import functools
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Final

from authara_contract.env import SettingsError, exit_on_settings_error
from authara_contract.routes import GATEWAY_HEALTH
from authara_runtime.health import healthcheck as runtime_healthcheck
from authara_runtime.health import local_url
from authara_runtime.logs import configure_logging
from authara_runtime.stopping import StopRequest
from authara_runtime.web_logs import quiet_bad_requests
from authara_runtime.workers import supervise

from .server import run_worker
from .settings import GatewaySettings, Upstream, load_bind, load_settings, startup_warnings

PROGRAM: Final = "authara-gateway"
_LOGGER = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line: `[serve|healthcheck]`, serve by default."""
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Authara's gateway. Without a command it serves (like `serve`).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "serve",
        help="serve until SIGINT/SIGTERM (the default)",
        description="Serve until SIGINT/SIGTERM; configured by AUTHARA_* variables.",
    )
    commands.add_parser(
        "healthcheck",
        help="exit 0 if the local gateway answers its health check, 1 if not",
        description="Ask the gateway at GATEWAY_BIND for its health: exit 0 if it answers, else 1.",
    )
    return parser


def run(argv: Sequence[str] | None, stop: StopRequest) -> None:
    """Run the command line; configuration errors exit 2 with one line, never a traceback."""
    args = build_parser().parse_args(argv)
    if args.command == "healthcheck":
        stop.release()
        raise SystemExit(healthcheck(os.environ))
    try:
        settings = load_settings(os.environ)
    except SettingsError as exc:
        exit_on_settings_error(exc, PROGRAM)
    serve(settings, stop)


def serve(settings: GatewaySettings, stop: StopRequest) -> None:
    """Serve until SIGTERM or SIGINT, then finish in-flight requests and stop."""
    _configure_logging(settings)
    for warning in startup_warnings(settings):
        _LOGGER.warning("%s", warning)
    _LOGGER.info(
        "gateway on %s:%s: /auth/* -> %s, /* -> %s, identity forwarding %s, %d worker(s)",
        settings.bind_host,
        settings.bind_port,
        _addresses(settings.auth_upstreams),
        _addresses(settings.app_upstreams),
        "on" if settings.identity is not None else "off",
        settings.workers,
    )
    if settings.workers > 1:
        raise SystemExit(
            supervise(
                settings.workers,
                functools.partial(_supervised_worker, settings),
                name="gateway",
                shutdown_s=settings.timeouts.shutdown,
                stop=stop,
            )
        )
    _worker(settings, stop, supervised=False)


def _supervised_worker(settings: GatewaySettings, index: int, stop: StopRequest) -> None:
    _configure_logging(settings)
    _worker(settings, stop, supervised=True, worker_index=index)


def _worker(
    settings: GatewaySettings, stop: StopRequest, *, supervised: bool, worker_index: int = 0
) -> None:
    try:
        run_worker(settings, stop, supervised=supervised, worker_index=worker_index)
    except OSError as exc:
        print(
            f"{PROGRAM}: cannot listen on {settings.bind_host}:{settings.bind_port}: {exc}",
            file=sys.stderr,
        )
        raise SystemExit(1) from None


def healthcheck(environ: Mapping[str, str]) -> int:
    """Ask the local gateway for its health; 0 when it answers 200, else 1 (never 2)."""
    try:
        host, port = load_bind(environ)
    except SettingsError as exc:
        print(f"{PROGRAM}: {exc.message}", file=sys.stderr)
        return 1
    return runtime_healthcheck(local_url(host, port, GATEWAY_HEALTH), program=PROGRAM)


def _addresses(upstreams: Sequence[Upstream]) -> str:
    return ",".join(f"{upstream.host}:{upstream.port}" for upstream in upstreams)


def _configure_logging(settings: GatewaySettings) -> None:
    configure_logging(settings.log_level, fmt=settings.log_format)
    quiet_bad_requests()
