"""Several server processes on one port (SO_REUSEPORT), supervised by the first one.

Core and the gateway share this: one Python process uses one core, so `AUTHARA_WORKERS=N`
(core) or `GATEWAY_WORKERS=N` (gateway) starts N workers, each with its own listening socket
on the same address; the kernel spreads new connections over them. The supervisor forwards
SIGTERM/SIGINT to every worker exactly once (workers have their own process group, so a
terminal's Ctrl-C reaches them only through it), waits for them to finish their in-flight
requests, and exits 0. A worker that dies on its own takes the others down and the supervisor
exits 1, so the orchestrator restarts a whole, healthy service.
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
from types import FrameType
from typing import Final

_LOGGER = logging.getLogger(__name__)

# Time a worker gets beyond the shutdown deadline before it is killed.
_GRACE: Final = 5.0

# Called in each worker process with the worker's index (0 .. count-1).
Worker = Callable[[int], None]


def supervise(count: int, worker: Worker, *, name: str, shutdown_s: float) -> int:
    """Run `count` worker processes until a signal or a failure; return the exit code."""
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

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        _LOGGER.info(
            "received %s: stopping %d %s workers",
            signal.Signals(signum).name,
            len(processes),
            name,
        )
        _terminate(processes)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for process in processes:
            process.start()
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
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _worker_main(worker: Worker, index: int) -> None:
    """Start a worker with the default signal actions, not the supervisor's inherited handler.

    Until the worker's server installs its own handlers, SIGTERM simply ends it.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    worker(index)


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
