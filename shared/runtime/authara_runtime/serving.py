"""Serve an aiohttp app until a stop request, then drain it: core's and the gateway's loop.

aiohttp's `run_app` is not used: a second signal during its drain aborts the drain (and the
exit status), and it installs its signal handlers only once the loop runs. Here the stop
request exists from the program's first line (`StopRequest.install`), every signal after the
first is ignored, so in-flight requests get the whole shutdown timeout however often an
orchestrator repeats itself, and the signals stay ignored after the loop has closed.
"""

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .loops import new_event_loop
from .stopping import StopRequest

_LOGGER = logging.getLogger(__name__)

# Called with the set-up runner before the site listens (e.g. to swap in the direct dispatch).
Prepare = Callable[[web.AppRunner], None]


@dataclass(frozen=True, slots=True)
class Listen:
    """Where to listen; `reuse_port` when several workers share the address."""

    host: str
    port: int
    reuse_port: bool = False


def run(main: Coroutine[Any, Any, None], stop: StopRequest) -> None:
    """Run `main` on a new event loop (uvloop where installed); then ignore stop signals."""
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(main)
    finally:
        stop.ignore()


async def serve(
    app: web.Application,
    stop: StopRequest,
    *,
    listen: Listen,
    shutdown_timeout: float,
    prepare: Prepare | None = None,
    handler_cancellation: bool = False,
) -> None:
    """Start `app`, listen, serve until `stop` is requested, then drain and clean up.

    A stop requested before the site listens is honoured: the app is cleaned up without
    ever accepting a connection. Raises OSError when the address cannot be bound.
    """
    if stop.requested():
        return
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=shutdown_timeout,
        handler_cancellation=handler_cancellation,
        # aiohttp's access log goes through logging.Logger per request (17.7% of the gateway's
        # throughput): the apps write their own lines with authara_runtime.access_log.
        access_log=None,
    )
    try:
        await runner.setup()
        if prepare is not None:
            prepare(runner)
        if stop.requested():
            return
        site = web.TCPSite(runner, listen.host, listen.port, reuse_port=listen.reuse_port or None)
        await site.start()
        _LOGGER.info("listening on %s:%s", listen.host, listen.port)
        await stop.wait()
        _LOGGER.info("stopping: finishing in-flight requests for up to %.1f s", shutdown_timeout)
    finally:
        await runner.cleanup()
