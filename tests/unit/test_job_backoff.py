"""The outbox framework: retry policies (email's doubling, webhooks' schedule), maintenance."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from authara_core.platform.jobs import Doubling, Periodic, Schedule, WorkerPool


def test_doubling_starts_at_30s_and_stops_at_an_hour() -> None:
    backoff = Doubling()
    waits = [backoff.after(attempts) for attempts in (1, 2, 3, 7, 8, 500)]
    assert waits[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 1920)]
    assert waits[4:] == [timedelta(hours=1), timedelta(hours=1)]


def test_a_schedule_repeats_its_last_delay() -> None:
    schedule = Schedule((timedelta(seconds=30), timedelta(minutes=2)))
    waits = [schedule.after(attempts) for attempts in (0, 1, 2, 3, 99)]
    assert waits == [timedelta(seconds=30), timedelta(seconds=30)] + [timedelta(minutes=2)] * 3


async def test_maintenance_runs_soon_after_the_start_not_an_interval_later() -> None:
    """A process restarted more often than the interval must still clean up."""
    ran = asyncio.Event()

    async def cleanup() -> int:
        ran.set()
        return 0

    async def nothing_due() -> bool:
        return False

    pool = WorkerPool(
        "test",
        nothing_due,
        count=1,
        poll_interval=timedelta(seconds=1),
        stop_grace=timedelta(seconds=1),
        maintenance=[Periodic("cleanup", cleanup, timedelta(hours=1))],
        first_run_within=timedelta(milliseconds=100),
    )
    async with pool.running():
        async with asyncio.timeout(30):  # far below the hour the interval would take
            await ran.wait()
