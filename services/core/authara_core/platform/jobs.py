"""The outbox worker framework: one queue table per job kind, N workers, backoff, reaping, cleanup.

A job kind (email, webhook) is a table with the columns `id`, `status`, `attempt_count`,
`next_attempt_at`, `processing_started_at`, `updated_at`, `last_error`, and a worker that
knows how to do one job. This module holds what every kind shares:

- `JobTable`: the SQL of the queue. A claim takes the oldest due `pending` row with
  `FOR UPDATE SKIP LOCKED` (replicas and workers never take the same row), sets it
  `processing` and bumps `attempt_count`; the count is the claim's compare-and-set token:
  every later update names it, so a worker whose claim was taken back (it was too slow and
  the row went stale) cannot overwrite what the new claimant does. Stale claims (a worker
  died mid-job) are taken again by the next claim or put back by `reap_stale`; finished rows
  are deleted after their retention, a bounded batch per statement.
- `Backoff`: the delay before the next attempt (`Doubling`, `Schedule`).
- `WorkerPool`: N loops calling a kind's `run_once` (poll when idle, drain when busy; a bug or
  a database outage is logged and does not end delivery), periodic maintenance tasks, and
  stopping: each worker may finish the job in hand for a grace period, then is cancelled (its
  row stays `processing` and is claimed again once stale).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Protocol

import asyncpg

from authara_core.platform.db import Connection
from authara_core.platform.errors import DatabaseUnavailable

_LOGGER = logging.getLogger(__name__)
_DATABASE_ERRORS: Final = (OSError, asyncpg.PostgresError, DatabaseUnavailable)
_IDENTIFIER: Final = re.compile(r"^[a-z_][a-z0-9_]*$")


class Backoff(Protocol):
    """How long to wait before the next attempt after a failed one."""

    def after(self, attempts: int) -> timedelta:
        """Return the wait after the `attempts`-th failed attempt (1-based)."""
        ...


@dataclass(frozen=True, slots=True)
class Doubling:
    """`first`, doubled after each failure, at most `cap` (the email jobs' backoff)."""

    first: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)

    def after(self, attempts: int) -> timedelta:
        """Return the wait after the `attempts`-th failed attempt (1-based)."""
        doublings = min(max(attempts - 1, 0), 32)
        delay: timedelta = self.first * 2**doublings
        return min(delay, self.cap)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Fixed delays, the last one repeated (webhooks: 30 s after attempt 1, 2 min afterwards)."""

    delays: tuple[timedelta, ...]

    def after(self, attempts: int) -> timedelta:
        """Return the wait after the `attempts`-th failed attempt (1-based)."""
        return self.delays[min(max(attempts, 1), len(self.delays)) - 1]


class JobTable:
    """The queue SQL of one job table; every function takes the caller's connection."""

    def __init__(self, table: str, *, columns: str, done: str) -> None:
        """`columns` is what a claim returns; `done` the status of a finished job."""
        if not _IDENTIFIER.match(table) or not _IDENTIFIER.match(done):
            raise ValueError(f"not a plain identifier: {table!r}, {done!r}")
        self.table = table
        self.done = done
        self._columns = columns

    async def claim(
        self, conn: Connection, *, now: datetime, stale_before: datetime | None = None
    ) -> asyncpg.Record | None:
        """Lock and claim one job: a stale claim first (when asked), else the oldest due one.

        Returns the row (`columns`, with the new `attempt_count`); rows others hold are skipped.
        """
        job_id: object = None
        if stale_before is not None:
            job_id = await conn.fetchval(
                f"""
                SELECT id FROM {self.table}
                WHERE status = 'processing' AND processing_started_at < $1
                ORDER BY processing_started_at LIMIT 1 FOR UPDATE SKIP LOCKED
                """,  # noqa: S608 (a checked identifier)
                stale_before,
            )
        if job_id is None:
            job_id = await conn.fetchval(
                f"""
                SELECT id FROM {self.table}
                WHERE status = 'pending' AND next_attempt_at <= $1
                ORDER BY next_attempt_at, created_at LIMIT 1 FOR UPDATE SKIP LOCKED
                """,  # noqa: S608 (a checked identifier)
                now,
            )
        if job_id is None:
            return None
        return await conn.fetchrow(
            f"""
            UPDATE {self.table} SET status = 'processing', processing_started_at = $2,
                attempt_count = attempt_count + 1, updated_at = $2
            WHERE id = $1 RETURNING {self._columns}
            """,  # noqa: S608 (constants)
            job_id,
            now,
        )

    async def finish(
        self,
        conn: Connection,
        job_id: object,
        attempt: int,
        *,
        status: str,
        now: datetime,
        error: str | None = None,
        also: str = "",
    ) -> bool:
        """End a claim as `done` or `failed`; `also` sets more columns (constant SQL).

        False when the claim was lost (the job was claimed again meanwhile).
        """
        if status not in (self.done, "failed"):
            raise ValueError(f"not a final status: {status!r}")
        extra = f", {also}" if also else ""
        result = await conn.execute(
            f"""
            UPDATE {self.table} SET status = $3, updated_at = $4, last_error = $5{extra}
            WHERE id = $1 AND status = 'processing' AND attempt_count = $2
            """,  # noqa: S608 (constants)
            job_id,
            attempt,
            status,
            now,
            error,
        )
        return bool(result == "UPDATE 1")

    async def retry(
        self,
        conn: Connection,
        job_id: object,
        attempt: int,
        *,
        now: datetime,
        next_attempt_at: datetime,
        error: str,
    ) -> bool:
        """Put a claimed job back in the queue; False when the claim was lost."""
        result = await conn.execute(
            f"""
            UPDATE {self.table} SET status = 'pending', next_attempt_at = $3, updated_at = $4,
                last_error = $5
            WHERE id = $1 AND status = 'processing' AND attempt_count = $2
            """,  # noqa: S608 (a checked identifier)
            job_id,
            attempt,
            next_attempt_at,
            now,
            error,
        )
        return bool(result == "UPDATE 1")

    async def reap_stale(
        self,
        conn: Connection,
        *,
        stale_before: datetime,
        max_attempts: int,
        now: datetime,
        batch: int,
    ) -> int:
        """Put up to `batch` stale claims back in the queue (failed when out of attempts)."""
        result = await conn.execute(
            f"""
            UPDATE {self.table} AS job SET
                status = CASE WHEN job.attempt_count >= $2 THEN 'failed' ELSE 'pending' END,
                next_attempt_at = $3, updated_at = $3,
                last_error = 'the worker stopped during the attempt'
            FROM (
                SELECT id FROM {self.table}
                WHERE status = 'processing' AND processing_started_at < $1
                ORDER BY processing_started_at LIMIT $4 FOR UPDATE SKIP LOCKED
            ) AS stale
            WHERE job.id = stale.id
            """,  # noqa: S608 (a checked identifier)
            stale_before,
            max_attempts,
            now,
            batch,
        )
        return int(result.split()[-1])

    async def delete_finished(
        self, conn: Connection, *, before: Mapping[str, datetime], batch: int | None = None
    ) -> int:
        """Delete finished jobs last updated before their status's cutoff (a batch, if given)."""
        deleted = 0
        for status, cutoff in before.items():
            limit = "" if batch is None else f"LIMIT {int(batch)}"
            result = await conn.execute(
                f"""
                DELETE FROM {self.table} WHERE id IN (
                    SELECT id FROM {self.table} WHERE status = $1 AND updated_at < $2
                    {limit} FOR UPDATE SKIP LOCKED
                )
                """,  # noqa: S608 (a checked identifier and an integer)
                status,
                cutoff,
            )
            deleted += int(result.split()[-1])
        return deleted


@dataclass(frozen=True, slots=True)
class Periodic:
    """A maintenance task a worker pool runs every `interval` (reaping, cleanup)."""

    name: str
    run: Callable[[], Awaitable[int]]
    interval: timedelta


class WorkerPool:
    """Run `count` loops of a job kind's `run_once`, plus its periodic maintenance."""

    def __init__(
        self,
        kind: str,
        run_once: Callable[[], Awaitable[bool]],
        *,
        count: int,
        poll_interval: timedelta,
        stop_grace: timedelta,
        maintenance: Sequence[Periodic] = (),
        first_run_within: timedelta = timedelta(seconds=10),
    ) -> None:
        self._kind = kind
        self._first_run_s = first_run_within.total_seconds()
        self._run_once = run_once
        self._count = count
        self._poll_s = poll_interval.total_seconds()
        self._grace_s = stop_grace.total_seconds()
        self._maintenance = tuple(maintenance)

    async def work(self, stop: asyncio.Event) -> None:
        """Process jobs until `stop` is set; sleep a poll interval whenever none is due."""
        while not stop.is_set():
            try:
                busy = await self._run_once()
            except _DATABASE_ERRORS as exc:
                _LOGGER.warning(
                    "%s worker cannot reach the database (%r); retrying", self._kind, exc
                )
                busy = False
            except Exception:
                # A bug must not end delivery for the life of the process.
                _LOGGER.exception("%s worker failed; carrying on", self._kind)
                busy = False
            if not busy:
                await _sleep_unless(stop, self._poll_s)

    async def _maintain(self, task: Periodic, stop: asyncio.Event) -> None:
        """Run `task` soon after the start (jittered: replicas start together), then every interval.

        Not a whole interval after the start: a process restarted more often than that
        (deploys, autoscaling) would otherwise never clean up.
        """
        interval_s = task.interval.total_seconds()
        wait_s = random.uniform(0, min(interval_s, self._first_run_s))  # noqa: S311 (jitter)
        while not await _sleep_unless(stop, wait_s):
            wait_s = interval_s
            try:
                done = await task.run()
            except _DATABASE_ERRORS:
                _LOGGER.exception(
                    "%s %s failed; retrying in %.0fs", self._kind, task.name, interval_s
                )
            except Exception:
                _LOGGER.exception("%s %s failed; carrying on", self._kind, task.name)
            else:
                _LOGGER.debug("%s %s: %d rows", self._kind, task.name, done)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the workers for the block; then let each finish its job (within the grace)."""
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(self.work(stop), name=f"{self._kind}-worker-{index}")
            for index in range(self._count)
        ]
        tasks += [
            asyncio.create_task(self._maintain(task, stop), name=f"{self._kind}-{task.name}")
            for task in self._maintenance
        ]
        try:
            yield
        finally:
            stop.set()
            _, late = await asyncio.wait(tasks, timeout=self._grace_s)
            for task in late:
                task.cancel()  # its job stays `processing` and is claimed again once stale
            await asyncio.gather(*tasks, return_exceptions=True)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` or until `stop` is set; return whether it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
    return stop.is_set()
