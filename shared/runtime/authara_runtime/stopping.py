"""Catch SIGTERM/SIGINT from the program's first line to its exit: a stop is never fatal.

A signal whose action is still the default kills the process (exit status -15) and drops
whatever it was serving. Every moment counts: imports and settings parsing before the event
loop exists, a worker between fork and its own server, the drain, closing the loop and the
interpreter's own finalisation (which restores the default action for Python handlers). So
the entry point installs a plain `signal.signal` handler before it imports anything heavy;
the handler only records the request and wakes the loop waiting for it, and never changes
the disposition back. Once the work is done the signals are ignored (`ignore`), which
survives finalisation.

Only the interpreter's own start-up, before the entry point's first line, is left; a parent
that must not lose a stop there starts the program with the signals blocked (they stay
pending; `StopRequest.install` unblocks them once the handler exists).
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Final

STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)

Listener = Callable[[int], None]


class StopRequest:
    """Whether (and by which signal) this process was asked to stop.

    Build it with `install` at the program's entry; pass it to whatever serves.
    """

    __slots__ = ("_listener", "signal")

    def __init__(self) -> None:
        self.signal: int | None = None
        self._listener: Listener | None = None

    @classmethod
    def install(cls) -> StopRequest:
        """Record SIGTERM/SIGINT from now on, then let through any that arrived blocked."""
        stop = cls()
        for sig in STOP_SIGNALS:
            signal.signal(sig, stop._record)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        return stop

    def requested(self) -> bool:
        """Tell whether a stop signal has arrived."""
        return self.signal is not None

    def listen(self, listener: Listener | None) -> None:
        """Call `listener` (in the main thread, as a signal handler) on the first request.

        A request that came before is delivered at once. `None` stops listening.
        """
        self._listener = listener
        if listener is not None and self.signal is not None:
            listener(self.signal)

    async def wait(self) -> None:
        """Return once a stop is requested (at once if it already was)."""
        # Imported here: the entry point imports this module before anything heavy.
        import asyncio

        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()

        def wake(_signum: int) -> None:
            # A signal handler may interrupt the loop anywhere: hand the wake-up to the loop.
            loop.call_soon_threadsafe(stopped.set)

        self.listen(wake)
        try:
            await stopped.wait()
        finally:
            self.listen(None)

    def release(self) -> None:
        """Give the signals their default action back: this command does not serve.

        A request that already came is acted on now, as it would have been without us.
        """
        for sig in STOP_SIGNALS:
            default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
            signal.signal(sig, default)
        if self.signal is not None:
            signal.raise_signal(self.signal)

    def ignore(self) -> None:
        """Ignore the stop signals from now on: the work is done, a late repeat is harmless."""
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)

    def _record(self, signum: int, _frame: FrameType | None) -> None:
        # Repeats are ignored: the first request already started the drain.
        if self.signal is not None:
            return
        self.signal = signum
        if self._listener is not None:
            self._listener(signum)


@contextlib.contextmanager
def stop_requests() -> Iterator[StopRequest]:
    """Catch stop signals for the program's whole life (its entry point's first line).

    On the way out, however it ends, the signals are ignored: the interpreter's
    finalisation would otherwise give them their default action back.
    """
    stop = StopRequest.install()
    try:
        yield stop
    finally:
        stop.ignore()


@contextlib.contextmanager
def stop_signals_blocked() -> Iterator[None]:
    """Hold SIGTERM/SIGINT pending (e.g. across a fork) and deliver them afterwards."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
