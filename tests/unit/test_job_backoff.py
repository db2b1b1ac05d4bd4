"""The outbox framework's retry policies: the email jobs' doubling, the webhooks' schedule."""

from __future__ import annotations

from datetime import timedelta

from authara_core.platform.jobs import Doubling, Schedule


def test_doubling_starts_at_30s_and_stops_at_an_hour() -> None:
    backoff = Doubling()
    waits = [backoff.after(attempts) for attempts in (1, 2, 3, 7, 8, 500)]
    assert waits[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 1920)]
    assert waits[4:] == [timedelta(hours=1), timedelta(hours=1)]


def test_a_schedule_repeats_its_last_delay() -> None:
    schedule = Schedule((timedelta(seconds=30), timedelta(minutes=2)))
    waits = [schedule.after(attempts) for attempts in (0, 1, 2, 3, 99)]
    assert waits == [timedelta(seconds=30), timedelta(seconds=30)] + [timedelta(minutes=2)] * 3
