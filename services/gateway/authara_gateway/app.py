"""The gateway's composition root."""

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import aiohttp
from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11

from authara_contract.routes import GATEWAY_HEALTH, GATEWAY_READY

from .identity import IdentityVerifier
from .keys import CLIENT_SESSION_KEY, CORE_POOL_KEY, PROXY_KEY, SETTINGS_KEY, WEBSOCKETS_KEY
from .proxy import SKIP_AUTO_HEADERS, Proxy
from .readiness import core_unready_reason
from .refresh import SessionRefresher
from .settings import AppEnv, GatewaySettings
from .upstream_client import UpstreamClient
from .upstreams import UpstreamPool
from .websocket import WebSocketRelay

_PROBE_METHODS: Final = (hdrs.METH_GET, hdrs.METH_HEAD)
_NO_STORE: Final = {hdrs.CACHE_CONTROL: "no-store"}
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def create_app(settings: GatewaySettings) -> web.Application:
    """Build the gateway application: its own health and readiness, everything else proxied."""
    app = web.Application()
    app[SETTINGS_KEY] = settings
    app.cleanup_ctx.append(_upstream_client(settings))
    app.on_shutdown.append(_close_websockets)
    app.router.add_route("*", GATEWAY_HEALTH, health)
    app.router.add_route("*", GATEWAY_READY, ready)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def health(request: web.BaseRequest) -> web.Response:
    """Report that the gateway process is serving (upstreams are not probed)."""
    _only_probe_methods(request)
    return web.json_response({"status": "ok"}, headers=_NO_STORE)


async def ready(request: web.Request) -> web.Response:
    """Answer 200 when core reports ready (any of its upstreams), else 503."""
    return await _readiness(request, request.app[CLIENT_SESSION_KEY], request.app[CORE_POOL_KEY])


async def forward(request: web.Request) -> web.StreamResponse:
    """Hand the request to the proxy built at start-up."""
    return await request.app[PROXY_KEY].handle(request)


def skip_router(runner: web.BaseRunner, app: web.Application) -> None:
    """Have a set-up runner serve the started app through `direct_handler`."""
    if runner.server is None:
        raise RuntimeError("set the runner up first: the proxy is built at start-up")
    runner.server.request_handler = direct_handler(app)


def direct_handler(app: web.Application) -> Handler:
    """Serve the app's three routes without its router, for the low-level server.

    Valid once the app has started. The routes are matched the way aiohttp's router matches
    them (on `path_safe`, 404 for a path the catch-all's pattern does not take), and
    `Expect` is answered as the router's default expect handler does; skipping the
    router's dispatch saves several percent of the CPU each proxied request costs.
    """
    proxy = app[PROXY_KEY]
    session = app[CLIENT_SESSION_KEY]
    core = app[CORE_POOL_KEY]

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if request.headers.get(hdrs.EXPECT):
            await _expect(request)
        path = request.rel_url.path_safe
        if not path.startswith("/") or "\n" in path:
            raise web.HTTPNotFound()
        if path == GATEWAY_HEALTH:
            return await health(request)
        if path == GATEWAY_READY:
            return await _readiness(request, session, core)
        return await proxy.handle(request)

    return handle


async def _expect(request: web.BaseRequest) -> None:
    expect = request.headers.get(hdrs.EXPECT, "")
    if request.version == HttpVersion11:
        if expect.lower() != "100-continue":
            raise web.HTTPExpectationFailed(text=f"Unknown Expect: {expect}")
        await request.writer.write(_CONTINUE)
        # The interim answer is not part of the response whose size is logged.
        request.writer.output_size = 0
    await request.writer.drain()


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
    settings: GatewaySettings,
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
            app[CLIENT_SESSION_KEY] = session
            app[CORE_POOL_KEY] = core
            app[WEBSOCKETS_KEY] = websockets
            app[PROXY_KEY] = Proxy(
                upstreams=upstreams,
                settings=settings,
                core=core,
                app=app_pool,
                verifier=verifier,
                refresher=refresher,
                websockets=websockets,
            )
            try:
                yield
            finally:
                upstreams.close()

    return upstream_client
