"""The gateway's composition root."""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp import hdrs, web

from authara_contract import headers as contract_headers
from authara_contract.env import AppEnv
from authara_contract.routes import GATEWAY_HEALTH, GATEWAY_READY
from authara_runtime.access_log import access_log_for
from authara_runtime.cache import RedisSettings
from authara_runtime.metrics import MetricsListener, metrics_address
from authara_runtime.observe import RequestObserver, observed

from .identity import IdentityVerifier
from .keys import METRICS_KEY, REVOCATION_COUNTERS_KEY, SETTINGS_KEY, WEBSOCKETS_KEY
from .metrics import GatewayMetrics
from .proxy import SKIP_AUTO_HEADERS, Proxy
from .readiness import core_unready_reason
from .refresh import SessionRefresher
from .revocation import RevocationCounters, Revocations
from .settings import GatewaySettings
from .upstream_client import UpstreamClient
from .upstreams import UpstreamPool
from .websocket import WebSocketRelay

_PROBE_METHODS: Final = (hdrs.METH_GET, hdrs.METH_HEAD)
_NO_STORE: Final = {hdrs.CACHE_CONTROL: contract_headers.NO_STORE}


def create_app(settings: GatewaySettings, *, worker_index: int | None = None) -> web.Application:
    """Build the gateway application: its own health and readiness, everything else proxied.

    With GATEWAY_METRICS_BIND set, metrics are served on their own listener (worker i of
    several on port+i); with LOG_LEVEL info or debug, every request gets an access line.
    """
    app = web.Application()
    app[SETTINGS_KEY] = settings
    metrics = GatewayMetrics.create() if settings.metrics_bind is not None else None
    if metrics is not None:
        app[METRICS_KEY] = metrics
    observe = RequestObserver(
        access_log=access_log_for(settings.log_level, settings.log_format, "gateway.access"),
        metrics=metrics.http if metrics is not None else None,
    )
    handlers = _Handlers(observe, metrics)
    if settings.cache is not None and settings.identity is not None:
        counters = RevocationCounters()
        app[REVOCATION_COUNTERS_KEY] = counters
        app.cleanup_ctx.append(_revocations(settings.cache, counters, handlers))
        if metrics is not None:
            metrics.revocation.read = lambda: (
                ("hit", counters.hits),
                ("miss", counters.misses),
                ("revoked", counters.revoked),
                ("fail_open", counters.fail_open),
            )
    app.cleanup_ctx.append(_upstream_client(settings, handlers))
    if metrics is not None and settings.metrics_bind is not None:
        address = metrics_address(settings.metrics_bind, worker_index)
        app.cleanup_ctx.append(MetricsListener(metrics.registry, address).running)
    app.on_shutdown.append(_close_websockets)
    app.on_cleanup.append(lambda _app: _flush(observe))
    app.router.add_route("*", GATEWAY_HEALTH, observed(health, observe, "health"))
    app.router.add_route("*", GATEWAY_READY, observed(handlers.ready, observe, "ready"))
    app.router.add_route("*", "/{tail:.*}", handlers.forward)
    return app


async def _flush(observe: RequestObserver) -> None:
    observe.flush()


async def health(request: web.BaseRequest) -> web.Response:
    """Report that the gateway process is serving (upstreams are not probed)."""
    _only_probe_methods(request)
    return web.json_response({"status": "ok"}, headers=_NO_STORE)


@dataclass(frozen=True, slots=True)
class _Started:
    session: aiohttp.ClientSession
    core: UpstreamPool
    proxy: Proxy


class _Handlers:
    """Readiness and the proxy, bound at start-up to what they serve with.

    They never read `request.app`: the direct dispatch (authara_runtime.dispatch) serves
    them without match info.
    """

    def __init__(self, observe: RequestObserver, metrics: GatewayMetrics | None) -> None:
        self.started: _Started | None = None
        self.revocations: Revocations | None = None
        self.observe = observe
        self.metrics = metrics

    async def ready(self, request: web.BaseRequest) -> web.Response:
        """Answer 200 when core reports ready (any of its upstreams), else 503."""
        started = self._started()
        return await _readiness(request, started.session, started.core)

    async def forward(self, request: web.BaseRequest) -> web.StreamResponse:
        """Hand the request to the proxy built at start-up."""
        return await self._started().proxy.handle(request)

    def _started(self) -> _Started:
        if self.started is None:
            raise RuntimeError("the gateway serves requests only once it has started")
        return self.started


async def _readiness(
    request: web.BaseRequest, session: aiohttp.ClientSession, core: UpstreamPool
) -> web.Response:
    _only_probe_methods(request)
    reason = await core_unready_reason(session, core.upstreams)
    if reason is None:
        return web.json_response({"status": "ready"}, headers=_NO_STORE)
    return web.json_response(
        {"status": "unavailable", "reason": reason},
        status=web.HTTPServiceUnavailable.status_code,
        headers=_NO_STORE,
    )


def _only_probe_methods(request: web.BaseRequest) -> None:
    if request.method not in _PROBE_METHODS:
        raise web.HTTPMethodNotAllowed(request.method, _PROBE_METHODS)


async def _close_websockets(app: web.Application) -> None:
    await app[WEBSOCKETS_KEY].close_all()


def _upstream_client(
    settings: GatewaySettings, handlers: _Handlers
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def upstream_client(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=settings.timeouts.connect, sock_read=settings.timeouts.read
        )
        async with aiohttp.ClientSession(
            timeout=timeout,
            # No pool limit: long-lived streams (SSE, downloads) must not starve other requests.
            connector=aiohttp.TCPConnector(limit=0),
            auto_decompress=False,
            # A shared jar would replay one user's Set-Cookie on another user's request.
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=SKIP_AUTO_HEADERS,
        ) as session:
            core = UpstreamPool(settings.auth_upstreams, fail_duration=settings.fail_duration)
            app_pool = UpstreamPool(settings.app_upstreams, fail_duration=settings.fail_duration)
            verifier = IdentityVerifier(settings.identity) if settings.identity else None
            refresher = None
            if verifier is not None:
                refresher = SessionRefresher(
                    session=session,
                    core=core,
                    verifier=verifier,
                    prod=settings.app_env is AppEnv.PROD,
                )
            websockets = WebSocketRelay(session)
            upstreams = UpstreamClient(connect_timeout=settings.timeouts.connect)
            app[WEBSOCKETS_KEY] = websockets
            proxy = Proxy(
                upstreams=upstreams,
                settings=settings,
                core=core,
                app=app_pool,
                verifier=verifier,
                refresher=refresher,
                websockets=websockets,
                revocations=handlers.revocations,
                observe=handlers.observe,
                metrics=handlers.metrics,
            )
            handlers.started = _Started(session=session, core=core, proxy=proxy)
            try:
                yield
            finally:
                handlers.started = None
                upstreams.close()

    return upstream_client


def _revocations(
    cache: RedisSettings, counters: RevocationCounters, handlers: _Handlers
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def revocations(app: web.Application) -> AsyncIterator[None]:
        # Start-up does not wait for Redis: until the subscription is up, tokens are read
        # from Redis per request (or pass, counted, while it is unreachable).
        checker = Revocations(cache.client(), counters=counters)
        checker.start()
        handlers.revocations = checker
        try:
            yield
        finally:
            handlers.revocations = None
            await checker.close()

    return revocations
