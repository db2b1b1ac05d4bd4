"""The gateway's composition root."""

from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import hdrs, web

from authara_contract.routes import GATEWAY_HEALTH

from .identity import IdentityVerifier
from .keys import CLIENT_SESSION_KEY, PROXY_KEY, SETTINGS_KEY
from .proxy import SKIP_AUTO_HEADERS, Proxy
from .settings import GatewaySettings

_HEALTH_METHODS = (hdrs.METH_GET, hdrs.METH_HEAD)


def create_app(settings: GatewaySettings) -> web.Application:
    """Build the gateway application: its own health route, everything else proxied."""
    app = web.Application()
    app[SETTINGS_KEY] = settings
    app.cleanup_ctx.append(_upstream_client(settings))
    app.router.add_route("*", GATEWAY_HEALTH, health)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


async def health(request: web.Request) -> web.Response:
    """Report that the gateway process is serving (upstreams are not probed)."""
    if request.method not in _HEALTH_METHODS:
        raise web.HTTPMethodNotAllowed(request.method, _HEALTH_METHODS)
    return web.json_response({"status": "ok"}, headers={hdrs.CACHE_CONTROL: "no-store"})


async def forward(request: web.Request) -> web.StreamResponse:
    """Hand the request to the proxy built at start-up."""
    return await request.app[PROXY_KEY].handle(request)


def _upstream_client(
    settings: GatewaySettings,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def upstream_client(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=settings.timeouts.connect,
            sock_read=settings.timeouts.read,
        )
        async with aiohttp.ClientSession(
            # No pool limit: long-lived streams (SSE, downloads) must not starve other requests.
            connector=aiohttp.TCPConnector(limit=0),
            timeout=timeout,
            auto_decompress=False,
            # A shared jar would replay one user's Set-Cookie on another user's request.
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=SKIP_AUTO_HEADERS,
        ) as session:
            verifier = IdentityVerifier(settings.identity) if settings.identity else None
            app[CLIENT_SESSION_KEY] = session
            app[PROXY_KEY] = Proxy(session=session, settings=settings, verifier=verifier)
            yield

    return upstream_client
