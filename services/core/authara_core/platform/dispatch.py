"""Serve core's fixed-path routes without aiohttp's router: the hot API paths.

aiohttp's application dispatch (resolve, match info, the middleware chain, the current-app
wrapper) costs several coroutine frames per request, about as much as a whole GET /user
spends in Authara's own code. Every route but the OAuth ones and static files has a fixed
path, so the server can look the handler up in a dict and run it through the one middleware
core has. Whatever the table does not hold (paths with parameters, static files, unknown
paths and methods, `Expect: 100-continue`) goes to the application as usual, so 404, 405
and the Expect handling stay aiohttp's.

Requests served here have no match info: a handler on a fixed path must not read
`request.match_info` or `request.app` (none does; the core test suite runs every request
through both paths), and `on_response_prepare` signals would not fire (core registers none, and
`serve_fixed_routes_directly` refuses an app that does).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from authara_core.platform.envelope import ENVELOPE_KEY

Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
ServerHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


def fixed_routes(app: web.Application) -> dict[tuple[str, str], Handler]:
    """Map (method, path) to the handler of every fixed-path route the app serves."""
    table: dict[tuple[str, str], Handler] = {}
    for route in app.router.routes():
        resource = route.resource
        if isinstance(resource, web.PlainResource) and route.method != hdrs.METH_ANY:
            table.setdefault((route.method, resource.canonical), route.handler)
    return table


def direct_handler(
    app: web.Application, envelope: Middleware, fallback: ServerHandler
) -> ServerHandler:
    """Return a server-level handler that serves fixed-path routes through `envelope` only.

    `fallback` is the server's own handler (the application's dispatch). Requests are
    matched on `path_safe`, as aiohttp's router matches them.
    """
    table = fixed_routes(app)

    # Not a coroutine itself: it hands the server the envelope's (or the fallback's)
    # coroutine, one frame fewer for every await on the way down to the database.
    def handle(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        handler = table.get((request.method, request.rel_url.path_safe))
        if handler is None or request.headers.get(hdrs.EXPECT):
            return fallback(request)
        if TYPE_CHECKING:  # the server's request factory is the application's
            assert isinstance(request, web.Request)
        return envelope(request, handler)

    return handle


def serve_fixed_routes_directly(runner: web.BaseRunner, app: web.Application) -> None:
    """Have a set-up runner serve the app's fixed-path routes without the router."""
    server = runner.server
    if server is None:
        raise RuntimeError("set the runner up first: the route table is read from the frozen app")
    if app.on_response_prepare:
        raise RuntimeError("on_response_prepare does not fire on the direct path: use the envelope")
    server.request_handler = direct_handler(
        app, app[ENVELOPE_KEY].middleware, server.request_handler
    )
