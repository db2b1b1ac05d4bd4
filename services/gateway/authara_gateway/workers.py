"""Several gateway processes on one port (SO_REUSEPORT), supervised by the first one.

One Python process uses one core. With GATEWAY_WORKERS=N the command starts N workers, each
with its own listening socket on the same address; the kernel spreads new connections over
them. The supervisor forwards SIGTERM/SIGINT to every worker exactly once (workers have their
own process group, so a terminal's Ctrl-C reaches them only through it), waits for them to
finish their in-flight requests, and exits 0. A worker that dies on its own takes the others
down and the supervisor exits 1, so the orchestrator restarts a whole, healthy gateway.
"""

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Sequence
from types import FrameType
from typing import Final

from aiohttp import web

from .settings import GatewaySettings

_LOGGER = logging.getLogger(__name__)

# Time a worker gets beyond the shutdown deadline before it is killed.
_GRACE: Final = 5.0

Worker = Callable[[GatewaySettings, bool], None]


def supervise(settings: GatewaySettings, worker: Worker) -> int:
    """Run `settings.workers` worker processes until a signal or a failure; return the code."""
    # fork: workers start at once and inherit the parsed settings (nothing to re-import).
    context = (
        multiprocessing.get_context("fork")
        if "fork" in multiprocessing.get_all_start_methods()
        else multiprocessing.get_context("spawn")
    )
    processes = [
        context.Process(target=worker, args=(settings, True), name=f"gateway-worker-{index}")
        for index in range(settings.workers)
    ]
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        _LOGGER.info(
            "received %s: stopping %d workers", signal.Signals(signum).name, len(processes)
        )
        _terminate(processes)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for process in processes:
            process.start()
        _LOGGER.info("started %d gateway workers", len(processes))
        multiprocessing.connection.wait([process.sentinel for process in processes])
        crashed = not stopping
        if crashed:
            stopping = True
            _LOGGER.error("a gateway worker exited unexpectedly: stopping the others")
            _terminate(processes)
        clean = _reap(processes, settings.timeouts.shutdown + _GRACE)
        return 0 if clean and not crashed else 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def watch_supervisor(_app: web.Application) -> AsyncIterator[None]:
    """Stop this worker (gracefully) if its supervisor disappears, e.g. killed with -9."""
    parent = multiprocessing.parent_process()
    if parent is None:
        yield
        return
    loop = asyncio.get_running_loop()
    # The sentinel becomes readable when the supervisor process ends.
    sentinel = parent.sentinel
    loop.add_reader(sentinel, _supervisor_gone, loop, sentinel)
    try:
        yield
    finally:
        loop.remove_reader(sentinel)


def _supervisor_gone(loop: asyncio.AbstractEventLoop, sentinel: int) -> None:
    loop.remove_reader(sentinel)
    _LOGGER.error("the gateway supervisor is gone: stopping this worker")
    os.kill(os.getpid(), signal.SIGTERM)


def detach_from_terminal() -> None:
    """Put a worker in its own process group: only the supervisor forwards signals to it."""
    os.setpgid(0, 0)


def _terminate(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    for process in processes:
        if process.pid is not None and process.exitcode is None:
            os.kill(process.pid, signal.SIGTERM)


def _reap(processes: Sequence[multiprocessing.process.BaseProcess], deadline: float) -> bool:
    """Wait for every worker; kill those still running at the deadline; True if all exited 0."""
    end = time.monotonic() + deadline
    clean = True
    for process in processes:
        process.join(max(0.0, end - time.monotonic()))
        if process.exitcode is None:
            _LOGGER.error("gateway worker %s did not stop in time: killing it", process.pid)
            process.kill()
            process.join()
        clean = clean and process.exitcode == 0
    return clean
