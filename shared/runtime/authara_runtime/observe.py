"""What core and the gateway record when a request finishes: an access line and HTTP metrics."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram

from authara_contract.headers import REQUEST_ID

from .access_log import AccessLog
from .metrics import LATENCY_BUCKETS
from .request_ids import is_sane_request_id

_STATUS_CLASSES: Final = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
_CANCELLED: Final = 499  # the client went away before the answer
_SERVER_ERROR: Final = 500
_MAX_CHILDREN: Final = 4096  # a bound on cached label children, not on the metric itself


@dataclass(frozen=True, slots=True)
class HttpMetrics:
    """`<prefix>_requests_total{method,route,status}` and `..._request_duration_seconds`."""

    requests: Counter
    latency: Histogram

    @classmethod
    def register(cls, registry: CollectorRegistry, prefix: str) -> HttpMetrics:
        """Create both metrics on `registry` (names start with `prefix`)."""
        return cls(
            Counter(
                f"{prefix}_requests",
                "HTTP requests by method, route and status",
                ["method", "route", "status"],
                registry=registry,
            ),
            Histogram(
                f"{prefix}_request_duration_seconds",
                "HTTP request duration by route and status class",
                ["route", "status_class"],
                buckets=LATENCY_BUCKETS,
                registry=registry,
            ),
        )


class RequestObserver:
    """Record a finished request: one access line (when on) and the HTTP metrics (when on).

    The label children are looked up once per (method, route, status) and cached, so a
    request costs two dict lookups, an increment and an observation.
    """

    __slots__ = ("_access_log", "_counters", "_histograms", "_metrics", "enabled")

    def __init__(self, *, access_log: AccessLog | None, metrics: HttpMetrics | None) -> None:
        self._access_log = access_log
        self._metrics = metrics
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._histograms: dict[tuple[str, int], Histogram] = {}
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
        counter = self._counters.get(key)
        if counter is None:
            counter = metrics.requests.labels(method, route, str(status))
            if len(self._counters) < _MAX_CHILDREN:
                self._counters[key] = counter
        counter.inc()
        status_class = status // 100
        hkey = (route, status_class)
        histogram = self._histograms.get(hkey)
        if histogram is None:
            histogram = metrics.latency.labels(route, _STATUS_CLASSES.get(status_class, "other"))
            if len(self._histograms) < _MAX_CHILDREN:
                self._histograms[hkey] = histogram
        histogram.observe(duration_s)

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
