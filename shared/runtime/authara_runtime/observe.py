"""What core and the gateway record when a request finishes: an access line and HTTP metrics."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from authara_contract.headers import REQUEST_ID

from .access_log import AccessLog
from .metrics import LATENCY_BUCKETS
from .request_ids import is_sane_request_id

_STATUS_CLASSES: Final = ("0xx", "1xx", "2xx", "3xx", "4xx", "5xx")
_CANCELLED: Final = 499  # the client went away before the answer
_SERVER_ERROR: Final = 500
# Methods counted under their own name; any other token a client sends counts as OTHER, so a
# client cannot make up label values (aiohttp accepts any token as a method).
_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}
)
_MAX_SERIES: Final = 10_000  # past this, new label sets are folded into one "(other)" route


class LabeledCounter:
    """A counter kept as plain integers per label values, read at scrape time.

    One event loop writes and scrapes it, so there is no lock: an increment is a dict update,
    where prometheus_client's Counter takes a lock per increment.
    """

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[tuple[str, ...], int] = {}

    def inc(self, labels: tuple[str, ...]) -> None:
        """Add one to the series of these label values."""
        counts = self.counts
        counts[labels] = counts.get(labels, 0) + 1

    def family(self, name: str, documentation: str, label_names: list[str]) -> Metric:
        """Return the counter family (`name` without `_total`) with every series."""
        family = CounterMetricFamily(name, documentation, labels=label_names)
        for labels, count in self.counts.items():
            family.add_metric(list(labels), count)
        return family


class LabeledHistogram:
    """A histogram kept as plain bucket counts per label values, read at scrape time."""

    __slots__ = ("_bounds", "_labels", "series")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._labels = [*(repr(float(bound)) for bound in bounds), "+Inf"]
        # Per label values: one count per bucket (not cumulative), +Inf last, then the sum.
        self.series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        """Count one observation of `value` seconds."""
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = [0.0] * (len(self._bounds) + 2)
        series[bisect_left(self._bounds, value)] += 1
        series[-1] += value

    def family(self, name: str, documentation: str, label_names: list[str]) -> Metric:
        """Return the histogram family with cumulative buckets, count and sum per series."""
        family = HistogramMetricFamily(name, documentation, labels=label_names)
        for labels, series in self.series.items():
            cumulative, buckets = 0.0, []
            for le, count in zip(self._labels, series, strict=False):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric(list(labels), buckets, sum_value=series[-1])
        return family


class HttpMetrics(Collector):
    """`<prefix>_requests_total{method,route,status}` and `<prefix>_request_duration_seconds`.

    Recorded by RequestObserver, turned into metric families when the registry is scraped.
    """

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self.requests = LabeledCounter()
        self.latency = LabeledHistogram(LATENCY_BUCKETS)

    @classmethod
    def register(cls, registry: CollectorRegistry, prefix: str) -> HttpMetrics:
        """Create both metrics on `registry` (names start with `prefix`)."""
        metrics = cls(prefix)
        registry.register(metrics)
        return metrics

    def collect(self) -> Iterable[Metric]:
        """Yield the request counter and the duration histogram."""
        yield self.requests.family(
            f"{self._prefix}_requests",
            "HTTP requests by method, route and status",
            ["method", "route", "status"],
        )
        yield self.latency.family(
            f"{self._prefix}_request_duration_seconds",
            "HTTP request duration by route and status class",
            ["route", "status_class"],
        )


class RequestObserver:
    """Record a finished request: one access line (when on) and the HTTP metrics (when on)."""

    __slots__ = ("_access_log", "_keys", "_metrics", "enabled")

    def __init__(self, *, access_log: AccessLog | None, metrics: HttpMetrics | None) -> None:
        self._access_log = access_log
        self._metrics = metrics
        # (method, route, status) -> the label tuples of both metrics, built once each.
        self._keys: dict[tuple[str, str, int], tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self.enabled = access_log is not None or metrics is not None

    def __call__(
        self,
        *,
        request_id: str,
        method: str,
        route: str,
        status: int,
        duration_s: float,
        user_id: str | None,
    ) -> None:
        """Record one request (call only when `enabled`)."""
        if self._access_log is not None:
            self._access_log.append(request_id, method, route, status, duration_s, user_id)
        metrics = self._metrics
        if metrics is None:
            return
        key = (method, route, status)
        labels = self._keys.get(key)
        if labels is None:
            labels = self._labels(method, route, status)
        metrics.requests.inc(labels[0])
        metrics.latency.observe(labels[1], duration_s)

    def _labels(
        self, method: str, route: str, status: int
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        counted = method if method in _METHODS else "OTHER"
        if len(self._keys) >= _MAX_SERIES:
            route = "(other)"
        status_class = _STATUS_CLASSES[status // 100] if 0 <= status < 600 else "other"
        labels = ((counted, route, str(status)), (route, status_class))
        if len(self._keys) < _MAX_SERIES:
            self._keys[method, route, status] = labels
        return labels

    def flush(self) -> None:
        """Write buffered access lines (at shutdown)."""
        if self._access_log is not None:
            self._access_log.flush()


def observed(
    handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]],
    observe: RequestObserver,
    route: str,
) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
    """Wrap a handler that sets no request id of its own (health, readiness) in `observe`."""
    if not observe.enabled:
        return handler

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        started = time.perf_counter()
        status = _CANCELLED
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            status = exc.status
            raise
        except Exception:
            status = _SERVER_ERROR
            raise
        else:
            status = response.status
            return response
        finally:
            observe(
                request_id=request.headers.get(REQUEST_ID, "-")
                if is_sane_request_id(request.headers.get(REQUEST_ID, ""))
                else "-",
                method=request.method,
                route=route,
                status=status,
                duration_s=time.perf_counter() - started,
                user_id=None,
            )

    return handle
