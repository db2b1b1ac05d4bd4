"""Core's Prometheus metrics (AUTHARA_METRICS_BIND), on a registry built per application.

HTTP requests are recorded by the request envelope (route = the matched route's template,
never the raw path); logins, signups and refreshes are counted from the same observation
(the route says which, the status says how it went), so no domain code knows about metrics.
The password hasher, the pool and the revocation stats are read at scrape time; the outbox
backlog is read from the database before each scrape (`refresh_backlog`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from authara_contract import routes
from authara_core.platform.db import Database
from authara_core.platform.errors import RefreshTokenReused
from authara_core.platform.hasher import PasswordHasher
from authara_core.platform.ratelimit import RateLimitStats
from authara_runtime.metrics import RevocationCollector, RevocationSlot
from authara_runtime.observe import HttpMetrics

PREFIX: Final = "authara"
REVOCATION_CHECKS: Final = f"{PREFIX}_revocation_checks"
# POST routes whose outcome is counted as a login, a signup or a refresh.
LOGIN_ROUTES: Final = frozenset(
    {
        routes.LOGIN,
        routes.API_LOGIN,
        routes.INVITATION_LOGIN,
        routes.API_GOOGLE_LOGIN,
        routes.PASSKEY_AUTHENTICATE_FINISH,
        routes.API_PASSKEY_AUTHENTICATE_FINISH,
    }
)
SIGNUP_ROUTES: Final = frozenset(
    {
        routes.SIGNUP,
        routes.API_SIGNUP_DIRECT,
        routes.API_SIGNUP_CHALLENGE_VERIFY,
        routes.INVITATION_SIGNUP,
    }
)
REFRESH_ROUTES: Final = frozenset(
    {routes.REFRESH, routes.API_SESSIONS_REFRESH, routes.API_TOKENS_REFRESH}
)
_OUTCOMES: Final = {
    400: "invalid_request",
    401: "refused",
    403: "forbidden",
    409: "conflict",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}

BacklogReader = Callable[[], Awaitable[Mapping[tuple[str, str], int]]]


def outcome_of(status: int) -> str:
    """Name how a login, signup or refresh went from its status (a redirect is a success)."""
    if status < 400:
        return "success"
    return _OUTCOMES.get(status, "error")


class _ResourceCollector(Collector):
    """Password-hash queue, database pool and shared rate limiter, read at scrape time."""

    def __init__(
        self, hasher: PasswordHasher, database: Database, rate_limits: RateLimitStats
    ) -> None:
        self._hasher = hasher
        self._database = database
        self._rate_limits = rate_limits

    def collect(self) -> Iterable[Metric]:
        hasher = self._hasher
        yield GaugeMetricFamily(
            f"{PREFIX}_password_hash_in_flight",
            "argon2 hashes running or waiting for a worker thread",
            value=hasher.pending,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_password_hash_capacity",
            "argon2 hashes that may be in flight before logins and signups get 503",
            value=hasher.capacity,
        )
        yield CounterMetricFamily(
            f"{PREFIX}_password_hash_rejections",
            "Password hashes refused because the queue was full (503)",
            value=hasher.rejections,
        )
        pool = self._database.pool_stats()
        connections = GaugeMetricFamily(
            f"{PREFIX}_db_pool_connections", "Pooled connections by state", labels=["state"]
        )
        connections.add_metric(["in_use"], pool.in_use)
        connections.add_metric(["idle"], pool.idle)
        yield connections
        yield GaugeMetricFamily(
            f"{PREFIX}_db_pool_max", "Pool size (AUTHARA_DB_MAX_OPEN_CONNS)", value=pool.max_size
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_db_pool_waiting",
            "Requests waiting for a pooled connection",
            value=pool.waiting,
        )
        limits = self._rate_limits
        hits = CounterMetricFamily(
            f"{PREFIX}_rate_limit_hits",
            "Rate-limit checks by where they were counted (redis: shared; memory: this process,"
            " while Redis is down)",
            labels=["store"],
        )
        hits.add_metric(["redis"], limits.redis_hits)
        hits.add_metric(["memory"], limits.fallback_hits)
        yield hits
        yield CounterMetricFamily(
            f"{PREFIX}_rate_limit_outages",
            "Times the shared rate limiter lost Redis and fell back to per-process counting",
            value=limits.outages,
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_rate_limit_degraded",
            "1 while rate limits are counted per process because Redis does not answer",
            value=1 if limits.degraded else 0,
        )


@dataclass(frozen=True, slots=True)
class CoreMetrics:
    """Every metric core records, registered on `registry`."""

    registry: CollectorRegistry
    http: HttpMetrics
    logins: Counter
    signups: Counter
    refreshes: Counter
    reuse_detected: Counter
    backlog: Gauge
    revocation: RevocationSlot = field(default_factory=RevocationSlot)

    @classmethod
    def create(
        cls,
        *,
        hasher: PasswordHasher,
        database: Database,
        rate_limits: RateLimitStats | None = None,
    ) -> CoreMetrics:
        """Build the registry and the metrics on it."""
        registry = CollectorRegistry(auto_describe=True)
        revocation = RevocationSlot()
        registry.register(RevocationCollector(REVOCATION_CHECKS, revocation))
        registry.register(_ResourceCollector(hasher, database, rate_limits or RateLimitStats()))
        return cls(
            registry=registry,
            http=HttpMetrics.register(registry, PREFIX),
            logins=Counter(
                f"{PREFIX}_logins",
                "Password and sign-in logins by outcome",
                ["outcome"],
                registry=registry,
            ),
            signups=Counter(
                f"{PREFIX}_signups", "Signups by outcome", ["outcome"], registry=registry
            ),
            refreshes=Counter(
                f"{PREFIX}_refreshes",
                "Session refreshes by outcome",
                ["outcome"],
                registry=registry,
            ),
            reuse_detected=Counter(
                f"{PREFIX}_refresh_token_reuse_detected",
                "Refresh tokens replayed after rotation (the session is revoked)",
                registry=registry,
            ),
            backlog=Gauge(
                f"{PREFIX}_outbox_backlog",
                "Queued email jobs and webhook events by status (read at scrape time)",
                ["queue", "status"],
                registry=registry,
            ),
            revocation=revocation,
        )

    def observe_auth(
        self, method: str, route: str, status: int, error: BaseException | None
    ) -> None:
        """Count a login, signup or refresh (by route) and a detected refresh-token reuse."""
        if method != "POST":
            return
        if route in LOGIN_ROUTES:
            self.logins.labels(outcome_of(status)).inc()
        elif route in SIGNUP_ROUTES:
            self.signups.labels(outcome_of(status)).inc()
        elif route in REFRESH_ROUTES:
            self.refreshes.labels(outcome_of(status)).inc()
            if isinstance(error, RefreshTokenReused):
                self.reuse_detected.inc()

    def backlog_refresher(self, read: BacklogReader) -> Callable[[], Awaitable[None]]:
        """Return an async callable that sets the backlog gauge from `read()` (before a scrape)."""

        async def refresh() -> None:
            counts = await read()
            for (queue, status), count in counts.items():
                self.backlog.labels(queue, status).set(count)

        return refresh
