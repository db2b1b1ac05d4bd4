"""Several server processes on one port (SO_REUSEPORT), supervised by the first one.

Core and the gateway share this: one Python process uses one core, so `AUTHARA_WORKERS=N`
(core) or `GATEWAY_WORKERS=N` (gateway) starts N workers, each with its own listening socket
on the same address; the kernel spreads new connections over them. The supervisor forwards
SIGTERM/SIGINT to every worker exactly once (workers have their own process group, so a
terminal's Ctrl-C reaches them only through it), waits for them to finish their in-flight
requests, and exits 0. A worker that dies on its own takes the others down and the supervisor
exits 1, so the orchestrator restarts a whole, healthy service. No worker ever meets a
stop signal with its default action (see `authara_runtime.stopping`).
"""

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Final

from .stopping import StopRequest, stop_signals_blocked

_LOGGER = logging.getLogger(__name__)

# Time a worker gets beyond the shutdown deadline before it is killed.
_GRACE: Final = 5.0
# More workers than this on one host is a typo, not a plan (each holds its own pools).
MAX_WORKERS: Final = 64

# Called in each worker process with the worker's index (0 .. count-1) and its stop request.
Worker = Callable[[int, StopRequest], None]


def supervise(
    count: int, worker: Worker, *, name: str, shutdown_s: float, stop: StopRequest
) -> int:
    """Run `count` worker processes until a stop request or a failure; return the exit code."""
    if stop.requested():  # asked to stop before there was anything to stop
        return 0
    # fork: workers start at once and inherit the parsed settings (nothing to re-import).
    context = (
        multiprocessing.get_context("fork")
        if "fork" in multiprocessing.get_all_start_methods()
        else multiprocessing.get_context("spawn")
    )
    processes = [
        context.Process(target=_worker_main, args=(worker, index), name=f"{name}-worker-{index}")
        for index in range(count)
    ]
    stopping = False

    def on_stop(signum: int) -> None:
        nonlocal stopping
        stopping = True
        _LOGGER.info(
            "received %s: stopping %d %s workers",
            signal.Signals(signum).name,
            len(processes),
            name,
        )
        _terminate(processes)

    # Blocked across the forks: a worker is born with the signals pending, not with the
    # supervisor's handler or the default action, and takes them once its own handler exists.
    with stop_signals_blocked():
        for process in processes:
            process.start()
        stop.listen(on_stop)
    try:
        _LOGGER.info("started %d %s workers", len(processes), name)
        multiprocessing.connection.wait([process.sentinel for process in processes])
        crashed = not stopping
        if crashed:
            stopping = True
            _LOGGER.error("a %s worker exited unexpectedly: stopping the others", name)
            _terminate(processes)
        clean = _reap(processes, shutdown_s + _GRACE, name)
        return 0 if clean and not crashed else 1
    finally:
        stop.listen(None)


def _worker_main(worker: Worker, index: int) -> None:
    """Run a worker with a stop request of its own, then ignore the stop signals."""
    detach_from_terminal()
    stop = StopRequest.install()
    try:
        worker(index, stop)
    finally:
        stop.ignore()


async def watch_supervisor(_app: object) -> AsyncIterator[None]:
    """Stop this worker (gracefully) if its supervisor disappears, e.g. killed with -9.

    Shaped as an aiohttp cleanup context: `app.cleanup_ctx.append(watch_supervisor)`.
    """
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
    _LOGGER.error("the supervisor is gone: stopping this worker")
    os.kill(os.getpid(), signal.SIGTERM)


def detach_from_terminal() -> None:
    """Put a worker in its own process group: only the supervisor forwards signals to it."""
    os.setpgid(0, 0)


def _terminate(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    for process in processes:
        if process.pid is not None and process.exitcode is None:
            with contextlib.suppress(ProcessLookupError):  # it has just ended on its own
                os.kill(process.pid, signal.SIGTERM)


def _reap(
    processes: Sequence[multiprocessing.process.BaseProcess], deadline: float, name: str
) -> bool:
    """Wait for every worker; kill those still running at the deadline; True if all exited 0."""
    end = time.monotonic() + deadline
    clean = True
    for process in processes:
        process.join(max(0.0, end - time.monotonic()))
        if process.exitcode is None:
            _LOGGER.error("%s worker %s did not stop in time: killing it", name, process.pid)
            process.kill()
            process.join()
        clean = clean and process.exitcode == 0
    return clean
