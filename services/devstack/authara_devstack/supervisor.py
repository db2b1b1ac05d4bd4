"""Run named child processes, pass their output through with a prefix, and stop them all.

Each child gets its own process group: a Ctrl-C in the terminal reaches only the supervisor,
which then stops the children itself (so it never mistakes their exit for a crash), and a
signal to the group also reaches anything a child started, so nothing is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TextIO

_STREAM_LIMIT: Final = 1 << 20
_PREFIX_WIDTH: Final = 8


@dataclass(eq=False)
class Child:
    """One running child process and the task that copies its output."""

    name: str
    process: asyncio.subprocess.Process
    pump: asyncio.Task[None]

    @property
    def pid(self) -> int:
        """Return the OS process id."""
        return self.process.pid


class Supervisor:
    """Start child processes in their own process groups and stop every one of them."""

    def __init__(self, out: TextIO, *, stop_timeout: float = 10.0) -> None:
        self._out = out
        self._stop_timeout = stop_timeout
        self._children: list[Child] = []

    @property
    def children(self) -> tuple[Child, ...]:
        """Return the children started so far, in start order."""
        return tuple(self._children)

    async def start(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> Child:
        """Start `argv` as a named child with stdout and stderr merged into our output."""
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            limit=_STREAM_LIMIT,
            process_group=0,
        )
        assert process.stdout is not None  # noqa: S101 - PIPE was requested
        pump = asyncio.create_task(self._pump(name, process.stdout), name=f"pump-{name}")
        child = Child(name, process, pump)
        self._children.append(child)
        return child

    async def run(self, name: str, argv: Sequence[str], env: Mapping[str, str]) -> int:
        """Run a one-shot child to completion and return its exit status."""
        child = await self.start(name, argv, env)
        try:
            status = await child.process.wait()
            await child.pump
        finally:
            await self._stop(child)
            self._children.remove(child)
        return status

    async def wait_any_exit(self) -> Child:
        """Return the first running child that exits."""
        waiters = {
            asyncio.create_task(child.process.wait(), name=f"wait-{child.name}"): child
            for child in self._children
        }
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiters:
                task.cancel()
        return waiters[next(iter(done))]

    async def stop_all(self) -> None:
        """Stop every child at once, last started first: SIGTERM, wait, then SIGKILL."""
        children, self._children = self._children, []
        await asyncio.gather(*(self._stop(child) for child in reversed(children)))

    def line(self, name: str, text: str) -> None:
        """Write one line of output under a name prefix."""
        self._out.write(f"{name:<{_PREFIX_WIDTH}}| {text}\n")
        self._out.flush()

    async def _stop(self, child: Child) -> None:
        if child.process.returncode is None:
            _signal_group(child.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(self._stop_timeout):
                    await child.process.wait()
            except TimeoutError:
                self.line(child.name, f"did not stop within {self._stop_timeout:.0f}s; killing it")
        # Whatever the leader left behind in its group goes too.
        _signal_group(child.pid, signal.SIGKILL)
        await child.process.wait()
        with contextlib.suppress(asyncio.CancelledError):
            await child.pump

    async def _pump(self, name: str, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line over _STREAM_LIMIT: asyncio dropped it
                self.line(name, "[an over-long output line was dropped]")
                continue
            if not raw:
                return
            self.line(name, raw.decode("utf-8", errors="replace").rstrip("\r\n"))


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
