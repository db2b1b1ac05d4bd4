"""Run one gateway process: listen, serve until SIGTERM/SIGINT, drain, exit 0.

aiohttp's `run_app` is not used because a second signal during its drain aborts the drain
(and the exit status); here every signal after the first is ignored, so in-flight requests
get the whole GATEWAY_SHUTDOWN_TIMEOUT however often an orchestrator repeats itself.
"""

import asyncio
import logging
import signal
from typing import Final

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .app import create_app, skip_router
from .settings import GatewaySettings
from .workers import detach_from_terminal, watch_supervisor

_LOGGER = logging.getLogger(__name__)
_STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)


def run_worker(settings: GatewaySettings, supervised: bool) -> None:
    """Run one gateway process, alone or as one of several supervised workers.

    Raises OSError when the address cannot be bound.
    """
    app = create_app(settings)
    if supervised:
        detach_from_terminal()
        app.cleanup_ctx.append(watch_supervisor)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(_serve(app, settings, reuse_port=supervised))


def new_event_loop() -> asyncio.AbstractEventLoop:
    """Return a uvloop loop where uvloop is installed (a faster loop), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - installed everywhere but Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


async def _serve(app: web.Application, settings: GatewaySettings, *, reuse_port: bool) -> None:
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=settings.timeouts.shutdown,
        # A client that hangs up must also end the upstream request it started (SSE).
        handler_cancellation=True,
    )
    await runner.setup()
    loop = asyncio.get_running_loop()
    try:
        skip_router(runner, app)
        site = web.TCPSite(
            runner, settings.bind_host, settings.bind_port, reuse_port=reuse_port or None
        )
        await site.start()
        stop = asyncio.Event()
        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        _LOGGER.info(
            "stopping: finishing in-flight requests for up to %.1f s", settings.timeouts.shutdown
        )
    finally:
        await runner.cleanup()
        for sig in _STOP_SIGNALS:
            # Closing the loop would restore the default action, and a late repeat of the
            # signal would then kill a process that has already finished its work.
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)


class BadRequestLogFilter(logging.Filter):
    """Log a malformed request as one line: it is the client's doing, not the gateway's.

    aiohttp's server logs every unparsable request with a traceback at ERROR; a client
    sending garbage on purpose would otherwise fill the logs with alarms.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite parser errors into a one-line INFO record."""
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        reason = (exc.message or "").strip().splitlines()
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        record.msg, record.args = (
            "rejected a malformed request (%s): %s",
            (
                exc.code,
                reason[0] if reason else exc.__class__.__name__,
            ),
        )
        record.exc_info, record.exc_text = None, None
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)
