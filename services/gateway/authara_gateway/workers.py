"""The gateway's worker processes: the shared supervisor (authara_contract.workers)."""

import functools
from collections.abc import Callable

from authara_contract import workers
from authara_contract.workers import detach_from_terminal, watch_supervisor

from .settings import GatewaySettings

__all__ = ["detach_from_terminal", "supervise", "watch_supervisor"]

Worker = Callable[[GatewaySettings, bool], None]


def supervise(settings: GatewaySettings, worker: Worker) -> int:
    """Run `settings.workers` gateway processes until a signal or a failure; return the code."""
    return workers.supervise(
        settings.workers,
        functools.partial(_run, worker, settings),
        name="gateway",
        shutdown_s=settings.timeouts.shutdown,
    )


def _run(worker: Worker, settings: GatewaySettings, _index: int) -> None:
    worker(settings, True)
