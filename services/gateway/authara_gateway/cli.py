"""`authara-gateway`: serve (the default) or check a running gateway's health."""

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Final

import aiohttp
from aiohttp import web
from yarl import URL

from authara_contract.env import SettingsError, exit_on_settings_error
from authara_contract.routes import GATEWAY_HEALTH

from .server import BadRequestLogFilter, run_worker
from .settings import (
    GatewaySettings,
    Upstream,
    load_bind,
    load_settings,
    local_host,
    startup_warnings,
)
from .workers import supervise

PROGRAM: Final = "authara-gateway"
HEALTHCHECK_TIMEOUT: Final = 5.0
_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
_LOGGER = logging.getLogger(__name__)


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line; configuration errors exit 2 with one line, never a traceback."""
    parser = argparse.ArgumentParser(prog=PROGRAM, description=__doc__)
    parser.add_argument("command", nargs="?", choices=("serve", "healthcheck"), default="serve")
    args = parser.parse_args(argv)
    if args.command == "healthcheck":
        raise SystemExit(healthcheck(os.environ))
    try:
        settings = load_settings(os.environ)
    except SettingsError as exc:
        exit_on_settings_error(exc, PROGRAM)
    serve(settings)


def serve(settings: GatewaySettings) -> None:
    """Serve until SIGTERM or SIGINT, then finish in-flight requests and stop."""
    configure_logging(settings.log_level)
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
        raise SystemExit(supervise(settings, _worker))
    _worker(settings, supervised=False)


def _worker(settings: GatewaySettings, supervised: bool) -> None:
    if supervised:
        configure_logging(settings.log_level)
    try:
        run_worker(settings, supervised)
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
    url = URL.build(scheme="http", host=local_host(host), port=port, path=GATEWAY_HEALTH)
    problem = asyncio.run(_probe(url))
    if problem is not None:
        print(f"{PROGRAM}: unhealthy: {url}: {problem}", file=sys.stderr)
        return 1
    print(f"{PROGRAM}: healthy")
    return 0


def _addresses(upstreams: Sequence[Upstream]) -> str:
    return ",".join(f"{upstream.host}:{upstream.port}" for upstream in upstreams)


def configure_logging(level: str) -> None:
    """Log to stderr at the configured level."""
    logging.basicConfig(
        level=_LEVELS[level],
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    server_logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, BadRequestLogFilter) for f in server_logger.filters):
        server_logger.addFilter(BadRequestLogFilter())


async def _probe(url: URL) -> str | None:
    timeout = aiohttp.ClientTimeout(total=HEALTHCHECK_TIMEOUT)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(url, allow_redirects=False) as response,
        ):
            if response.status == web.HTTPOk.status_code:
                return None
            return f"status {response.status}"
    except (TimeoutError, aiohttp.ClientError) as exc:
        return str(exc) or exc.__class__.__name__
