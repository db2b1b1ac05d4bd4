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

from .app import create_app
from .settings import GatewaySettings, load_bind, load_settings, local_host, startup_warnings

PROGRAM: Final = "authara-gateway"
SHUTDOWN_TIMEOUT: Final = 10.0
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
        "gateway on %s:%s: /auth/* -> %s:%s, /* -> %s:%s, identity forwarding %s",
        settings.bind_host,
        settings.bind_port,
        settings.auth_upstream.host,
        settings.auth_upstream.port,
        settings.app_upstream.host,
        settings.app_upstream.port,
        "on" if settings.identity is not None else "off",
    )
    web.run_app(
        create_app(settings),
        host=settings.bind_host,
        port=settings.bind_port,
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        print=None,
        # A client that hangs up must also end the upstream request it started (SSE, slow pages).
        handler_cancellation=True,
    )


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


def configure_logging(level: str) -> None:
    """Log to stderr at the configured level."""
    logging.basicConfig(
        level=_LEVELS[level],
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


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
