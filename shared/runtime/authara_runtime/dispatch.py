"""Serve an app's fixed-path routes (and a catch-all) without aiohttp's router.

aiohttp's application dispatch (resolve, match info, the middleware chain, the current-app
wrapper) costs several coroutine frames per request, about as much as a whole GET /user
spends in core's own code and several percent of a proxied request in the gateway. This
looks the handler up in a dict and runs it through the app's middlewares. The rule: it
serves only what it can match exactly as aiohttp's router would, and hands everything else
to aiohttp (`fallback`, the server's own handler), so 404, 405, static files, paths with
parameters and `Expect` stay aiohttp's:

- a route on a plain path, for its method (`add_get` adds HEAD too) or any method (`*`);
- a catch-all (`/{tail:.*}`, any method), only when it is the app's last resource and every
  other resource has a plain path: then a path no plain route takes goes to it if the
  catch-all's own pattern matches (as the router tries it last).

Paths are matched on `path_safe`, as the router matches them. Requests served here have no
match info: a handler the table serves must not read `request.match_info` or `request.app`
(close over what it needs instead), and `on_response_prepare` signals would not fire
(`serve_directly` refuses an app that has any).

This reaches into aiohttp's server and router: `check_aiohttp_internals` states what it
relies on and fails loudly when an aiohttp release changes it (the pyprojects pin aiohttp to
the minor version tested).
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp import hdrs, web, web_protocol
from aiohttp.typedefs import Handler, Middleware
from yarl import URL

ServerHandler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]
# The aiohttp minor versions this module was tested with (`check_aiohttp_internals`).
TESTED_AIOHTTP: Final = ((3, 14),)


@dataclass(frozen=True, slots=True)
class DirectRoutes:
    """What the direct dispatch serves itself: every other request goes to aiohttp."""

    by_method: dict[tuple[str, str], Handler]
    any_method: dict[str, Handler]
    catch_all: tuple[re.Pattern[str], Handler] | None

    def lookup(self, method: str, path: str) -> Handler | None:
        """Return the handler the router would pick, or None to leave it to the router."""
        handler = self.by_method.get((method, path)) or self.any_method.get(path)
        if handler is not None or self.catch_all is None:
            return handler
        pattern, catch_all = self.catch_all
        return catch_all if pattern.fullmatch(path) else None

    def wrapped(self, wrap: Callable[[Handler], Handler]) -> DirectRoutes:
        """Return the same routes with every handler wrapped (once, not per request)."""
        catch_all = self.catch_all and (self.catch_all[0], wrap(self.catch_all[1]))
        return DirectRoutes(
            {key: wrap(handler) for key, handler in self.by_method.items()},
            {key: wrap(handler) for key, handler in self.any_method.items()},
            catch_all,
        )


def direct_routes(app: web.Application) -> DirectRoutes:
    """Read the routes the direct dispatch may serve out of the app's router."""
    by_method: dict[tuple[str, str], Handler] = {}
    any_method: dict[str, Handler] = {}
    resources = list(app.router.resources())
    for resource in resources:
        if not isinstance(resource, web.PlainResource):
            continue
        path = resource.canonical
        # As the router: the route for the request's method, else the any-method one.
        for route in resource:
            if route.method == hdrs.METH_ANY:
                any_method[path] = route.handler
            else:
                by_method[route.method, path] = route.handler
    return DirectRoutes(by_method, any_method, _catch_all(resources))


def _catch_all(resources: list[web.AbstractResource]) -> tuple[re.Pattern[str], Handler] | None:
    if not resources or not isinstance(last := resources[-1], web.DynamicResource):
        return None
    if not all(isinstance(resource, web.PlainResource) for resource in resources[:-1]):
        return None
    routes = list(last)
    pattern = last.get_info().get("pattern")
    if len(routes) != 1 or routes[0].method != hdrs.METH_ANY:
        return None
    if not isinstance(pattern, re.Pattern) or not pattern.fullmatch("/any/path"):
        return None
    return pattern, routes[0].handler


def direct_handler(app: web.Application, fallback: ServerHandler) -> ServerHandler:
    """Return a server-level handler: the app's direct routes, else `fallback` (aiohttp's)."""
    middlewares = _middlewares(app)

    def chain(handler: Handler) -> Handler:
        for middleware in reversed(middlewares):
            handler = functools.partial(middleware, handler=handler)
        return handler

    routes = direct_routes(app).wrapped(chain)

    # Not a coroutine itself: it hands the server the chain's (or the fallback's) coroutine,
    # one frame fewer for every await on the way down.
    def handle(request: web.BaseRequest) -> Awaitable[web.StreamResponse]:
        handler = routes.lookup(request.method, request.rel_url.path_safe)
        if handler is None or request.headers.get(hdrs.EXPECT):
            return fallback(request)
        return handler(request)  # type: ignore[arg-type]  # the app's server makes web.Request

    return handle


def serve_directly(runner: web.BaseRunner, app: web.Application) -> None:
    """Have a set-up runner (before its site starts) serve `app` through `direct_handler`."""
    check_aiohttp_internals()
    server = runner.server
    if server is None:
        raise RuntimeError("set the runner up first: the route table is read from the frozen app")
    if app.on_response_prepare:
        raise RuntimeError("on_response_prepare does not fire on the direct path: use middleware")
    server.request_handler = direct_handler(app, server.request_handler)


def _middlewares(app: web.Application) -> tuple[Middleware, ...]:
    middlewares = tuple(app.middlewares)
    for middleware in middlewares:
        if getattr(middleware, "__middleware_version__", None) != 1:
            raise RuntimeError(f"the direct path runs @web.middleware only, not {middleware!r}")
    return middlewares


def check_aiohttp_internals() -> None:
    """Raise RuntimeError, saying what changed, if aiohttp no longer works as this relies on."""
    problems = []
    version = tuple(int(part) for part in aiohttp.__version__.split(".")[:2])
    if version not in TESTED_AIOHTTP:
        problems.append(
            f"aiohttp {aiohttp.__version__} is not a tested minor version "
            f"({', '.join('.'.join(map(str, v)) for v in TESTED_AIOHTTP)})"
        )
    # The server hands each new connection its `request_handler` (swapped before listening).
    if "manager.request_handler" not in inspect.getsource(web_protocol.RequestHandler.__init__):
        problems.append("RequestHandler no longer takes its handler from Server.request_handler")
    for cls, names in (
        (web.BaseRunner, ("server",)),
        (web.PlainResource, ("canonical",)),
        (web.DynamicResource, ("get_info",)),
        (web.ResourceRoute, ("method", "handler")),
        (URL, ("path_safe",)),
        (web.Application, ("middlewares", "on_response_prepare", "router")),
    ):
        problems += [f"{cls.__name__}.{name} is gone" for name in names if not hasattr(cls, name)]
    if problems:
        raise RuntimeError(
            "authara_runtime.dispatch relies on aiohttp internals that changed: "
            + "; ".join(problems)
            + ". Re-run tests/unit/test_runtime_dispatch.py and the core/gateway dispatch tests"
            " against the new aiohttp, then update TESTED_AIOHTTP and the pyproject pins."
        )


def route_template(request: web.BaseRequest, plain_routes: frozenset[str]) -> str | None:
    """Return the template of the route that served `request` (for logs and metrics).

    The router's requests carry match info naming their resource; the direct dispatch's do
    not, and it serves only plain paths, so their path is the template when it is one of
    `plain_routes`. None when no route matched (404, 405): never the raw path, which may
    carry a token.
    """
    match_info = getattr(request, "_match_info", None)
    if match_info is None:
        path = request.rel_url.path_safe
        return path if path in plain_routes else None
    resource = match_info.route.resource
    return resource.canonical if resource is not None else None
