"""Prometheus metrics on a listener of their own (AUTHARA_METRICS_BIND, GATEWAY_METRICS_BIND).

Each process builds its own `CollectorRegistry` (never prometheus_client's global one) and
serves it at `/metrics` on a separate address, so the metrics are never reachable through
the public port or the gateway. With several worker processes, worker i listens on port+i:
each worker is scraped on its own (Prometheus sums them), no shared files between processes.

Values that are expensive to keep current (queue lengths read from the database) are
refreshed by async callables run before each scrape, each within a deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

_LOGGER = logging.getLogger(__name__)
METRICS_PATH: Final = "/metrics"
REFRESH_DEADLINE_S: Final = 2.0
# Latency buckets in seconds, from a cached GET /user to a slow argon2 login.
LATENCY_BUCKETS: Final = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

Refresher = Callable[[], Awaitable[None]]


def metrics_address(bind: tuple[str, int], worker_index: int | None) -> tuple[str, int]:
    """Return where this process serves metrics: the bind, port+i for worker i."""
    host, port = bind
    return host, port + (worker_index or 0)


RevocationCounts = Callable[[], Iterable[tuple[str, int]]]
"""Return (result, count so far) pairs of the revocation checks, e.g. ("revoked", 2)."""


@dataclass(slots=True)
class RevocationSlot:
    """Where the revocation checks' counts are read from at scrape time.

    The revocation code keeps its own counters; whoever builds it sets `read`, e.g. core:
    `metrics.revocation.read = lambda: stats.checks.items()`. None: nothing to report.
    """

    read: RevocationCounts | None = None


class RevocationCollector(Collector):
    """`<name>_total{result}`: the revocation checks, read from `slot` at scrape time."""

    def __init__(self, name: str, slot: RevocationSlot) -> None:
        self._name = name
        self._slot = slot

    def collect(self) -> Iterable[Metric]:
        """Yield the counter family with one sample per result."""
        family = self._family()
        read = self._slot.read
        if read is not None:
            for result, count in read():
                family.add_metric([result], count)
        yield family

    def describe(self) -> Iterable[Metric]:
        """Describe the family without reading the counts."""
        yield self._family()

    def _family(self) -> CounterMetricFamily:
        return CounterMetricFamily(
            self._name, "Access-token revocation checks by result", labels=["result"]
        )


class MetricsListener:
    """Serve one registry at /metrics on its own address while the app runs."""

    def __init__(
        self,
        registry: CollectorRegistry,
        address: tuple[str, int],
        refreshers: Sequence[Refresher] = (),
    ) -> None:
        self._registry = registry
        self._address = address
        self._refreshers = tuple(refreshers)

    async def scrape(self, _request: web.Request) -> web.Response:
        """Refresh the scrape-time values, then answer the text exposition."""
        for refresh in self._refreshers:
            try:
                async with asyncio.timeout(REFRESH_DEADLINE_S):
                    await refresh()
            except Exception:  # a failing gauge must not take the whole scrape down
                _LOGGER.warning("metrics refresh %r failed", refresh, exc_info=True)
        body = generate_latest(self._registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def running(self, _app: web.Application) -> AsyncIterator[None]:
        """Listen while the app runs (a cleanup context; raises OSError if the bind fails)."""
        metrics_app = web.Application()
        metrics_app.router.add_get(METRICS_PATH, self.scrape)
        runner = web.AppRunner(metrics_app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            host, port = self._address
            await web.TCPSite(runner, host, port).start()
            _LOGGER.info("metrics on http://%s:%s%s", host, port, METRICS_PATH)
            yield
        finally:
            await runner.cleanup()
