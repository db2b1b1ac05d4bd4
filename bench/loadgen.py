"""A closed-loop load generator: N workers call one coroutine back to back for a while."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Stats:
    """Throughput and latency of one measurement."""

    name: str
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        """Successful calls per second."""
        return self.requests / self.seconds

    def line(self) -> str:
        """One aligned report line."""
        return (
            f"{self.name:<44} {self.rate:>9.1f}/s  p50 {self.p50_ms:>7.2f} ms"
            f"  p99 {self.p99_ms:>7.2f} ms  errors {self.errors}"
        )


async def closed_loop(
    name: str,
    make_worker: Callable[[int], Callable[[], Awaitable[bool]]],
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float = 1.0,
) -> Stats:
    """Run `concurrency` workers for `duration_s` after a warm-up; count and time each call."""
    samples = await closed_loop_samples(
        make_worker, concurrency=concurrency, duration_s=duration_s, warmup_s=warmup_s
    )
    return samples.stats(name)


@dataclass(frozen=True)
class Samples:
    """What one closed loop measured: every successful call's latency, errors, elapsed time."""

    latencies: list[float]
    errors: int
    seconds: float

    def stats(self, name: str) -> Stats:
        """Summarise these samples."""
        return merge(name, [self])


def merge(name: str, parts: list[Samples]) -> Stats:
    """Summarise loops that ran side by side (in several processes) as one measurement."""
    latencies = sorted(latency for part in parts for latency in part.latencies)
    seconds = statistics.fmean(part.seconds for part in parts)
    errors = sum(part.errors for part in parts)
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")
    return Stats(name, len(latencies), errors, seconds, p50, p99)


async def closed_loop_samples(
    make_worker: Callable[[int], Callable[[], Awaitable[bool]]],
    *,
    concurrency: int,
    duration_s: float,
    warmup_s: float = 1.0,
) -> Samples:
    """Run `concurrency` workers for `duration_s` after a warm-up; keep every latency."""
    latencies: list[float] = []
    errors = 0
    recording = False
    stop_at = time.perf_counter() + warmup_s + duration_s

    async def worker(index: int) -> None:
        nonlocal errors
        call = make_worker(index)
        while (now := time.perf_counter()) < stop_at:
            ok = await call()
            if recording:
                if ok:
                    latencies.append(time.perf_counter() - now)
                else:
                    errors += 1

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    await asyncio.sleep(warmup_s)
    recording = True
    started = time.perf_counter()
    await asyncio.gather(*tasks)
    return Samples(latencies, errors, time.perf_counter() - started)
