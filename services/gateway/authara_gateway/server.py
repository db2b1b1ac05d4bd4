"""Run one gateway process: listen, serve until SIGTERM/SIGINT, drain, exit 0.

The serve-until-stopped loop, the event loop and the stop signals are authara_runtime's; the
gateway adds its app, the direct dispatch and handler cancellation (a client that hangs up
must also end the upstream request it started, e.g. an SSE stream).
"""

from aiohttp import web

from authara_runtime import serving
from authara_runtime.dispatch import serve_directly
from authara_runtime.stopping import StopRequest
from authara_runtime.workers import watch_supervisor

from .app import create_app
from .settings import GatewaySettings


def run_worker(
    settings: GatewaySettings, stop: StopRequest, *, supervised: bool, worker_index: int = 0
) -> None:
    """Run one gateway process, alone or as one of several supervised workers.

    Raises OSError when the address cannot be bound.
    """
    app = create_app(settings, worker_index=worker_index)
    if supervised:
        app.cleanup_ctx.append(watch_supervisor)

    def prepare(runner: web.AppRunner) -> None:
        serve_directly(runner, app)

    listen = serving.Listen(settings.bind_host, settings.bind_port, reuse_port=supervised)
    serving.run(
        serving.serve(
            app,
            stop,
            listen=listen,
            shutdown_timeout=settings.timeouts.shutdown,
            prepare=prepare,
            handler_cancellation=True,
        ),
        stop,
    )
