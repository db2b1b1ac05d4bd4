"""Moved to `authara_runtime.workers`; this shim is removed once core switches to it."""

import functools
from collections.abc import Callable

from authara_runtime import workers
from authara_runtime.stopping import StopRequest
from authara_runtime.workers import detach_from_terminal, watch_supervisor

__all__ = ["detach_from_terminal", "supervise", "watch_supervisor"]


def supervise(count: int, worker: Callable[[int], None], *, name: str, shutdown_s: float) -> int:
    """Run workers that take only their index (core's, until it switches)."""
    return workers.supervise(
        count,
        functools.partial(_index_only, worker),
        name=name,
        shutdown_s=shutdown_s,
        stop=StopRequest.install(),
    )


def _index_only(worker: Callable[[int], None], index: int, _stop: StopRequest) -> None:
    worker(index)
