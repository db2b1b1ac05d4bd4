"""The direct dispatch: what it serves itself, what it leaves to aiohttp, and the same answers.

Each app is served twice, through aiohttp's router and through `serve_directly`, and every
request in a corpus must get the same status, body and handler on both; a spy on aiohttp's
own dispatch shows which requests the direct path kept. `check_aiohttp_internals` and the
tests at the end fail loudly when an aiohttp release changes what the dispatch relies on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Final

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.typedefs import Handler
from pytest_aiohttp import AiohttpServer

from authara_runtime import dispatch
from authara_runtime.dispatch import (
    check_aiohttp_internals,
    direct_routes,
    serve_directly,
)

MARK: Final = web.RequestKey("mark", str)


def _answer(name: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text=name, headers={"X-Mark": request.get(MARK, "none")})

    handler.__name__ = name
    return handler


@web.middleware
async def _mark(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[MARK] = "middleware"
    return await handler(request)


def fixed_app() -> web.Application:
    """Plain paths, a parameter, static files and a middleware, as core has."""
    app = web.Application(middlewares=[_mark])
    app.router.add_get("/a", _answer("get-a"))
    app.router.add_post("/a", _answer("post-a"))
    app.router.add_route("*", "/any", _answer("any"))
    app.router.add_get("/items/{id}", _answer("item"))
    app.router.add_static("/static", __file__.rsplit("/", 1)[0])
    return app


def catch_all_app() -> web.Application:
    """Two plain paths and a catch-all, as the gateway has."""
    app = web.Application()
    app.router.add_route("*", "/health", _answer("health"))
    app.router.add_get("/only-get", _answer("only-get"))
    app.router.add_route("*", "/{tail:.*}", _answer("catch-all"))
    return app


REQUESTS = [
    ("GET", "/a"),
    ("HEAD", "/a"),  # add_get serves HEAD too, without a body
    ("POST", "/a"),
    ("PUT", "/a"),  # a known path, an unknown method: 405 (router) or the catch-all
    ("DELETE", "/any"),
    ("GET", "/%61"),  # percent-encoded unreserved characters name the same path
    ("GET", "/a/"),  # no trailing-slash aliasing
    ("GET", "/items/7"),
    ("GET", "/static/test_runtime_dispatch.py"),
    ("GET", "/no/such/path"),
    ("GET", "/health"),
    ("OPTIONS", "/health"),
    ("POST", "/only-get"),
    ("GET", "/x%0Ay"),  # the catch-all's `.*` does not take a newline: 404
    ("GET", "/"),
]


@dataclass
class Served:
    server: TestServer
    fallback: list[str] = field(default_factory=list)


async def _serve(
    aiohttp_server: AiohttpServer, make_app: Callable[[], web.Application], *, direct: bool
) -> Served:
    app = make_app()
    server = await aiohttp_server(app)
    assert server.runner is not None and server.runner.server is not None
    low_level = server.runner.server
    original = low_level.request_handler
    served = Served(server)

    async def spy(request: web.BaseRequest) -> web.StreamResponse:
        served.fallback.append(f"{request.method} {request.raw_path}")
        return await original(request)

    low_level.request_handler = spy
    if direct:
        serve_directly(server.runner, app)
    return served


async def _answers(served: Served) -> list[tuple[int, str, str | None]]:
    answers = []
    async with aiohttp.ClientSession() as http:
        for method, path in REQUESTS:
            url = served.server.make_url("/").with_path(path, encoded=True)
            async with http.request(method, url) as response:
                body = "" if method == "HEAD" else (await response.text())[:40]
                answers.append((response.status, body, response.headers.get("X-Mark")))
    return answers


@pytest.fixture(params=[fixed_app, catch_all_app], ids=["fixed", "catch-all"])
def make_app(request: pytest.FixtureRequest) -> Callable[[], web.Application]:
    maker: Callable[[], web.Application] = request.param
    return maker


async def test_direct_and_routed_answers_are_the_same(
    aiohttp_server: AiohttpServer, make_app: Callable[[], web.Application]
) -> None:
    routed = await _serve(aiohttp_server, make_app, direct=False)
    direct = await _serve(aiohttp_server, make_app, direct=True)
    assert await _answers(direct) == await _answers(routed)
    assert len(routed.fallback) == len(REQUESTS)


async def test_only_what_it_knows_is_served_directly(aiohttp_server: AiohttpServer) -> None:
    fixed = await _serve(aiohttp_server, fixed_app, direct=True)
    await _answers(fixed)
    assert fixed.fallback == [
        "PUT /a",
        "GET /a/",
        "GET /items/7",
        "GET /static/test_runtime_dispatch.py",
        "GET /no/such/path",
        "GET /health",
        "OPTIONS /health",
        "POST /only-get",
        "GET /x%0Ay",
        "GET /",
    ]
    catch_all = await _serve(aiohttp_server, catch_all_app, direct=True)
    await _answers(catch_all)
    assert catch_all.fallback == ["GET /x%0Ay"]


async def test_expect_continue_goes_to_aiohttp(aiohttp_server: AiohttpServer) -> None:
    served = await _serve(aiohttp_server, fixed_app, direct=True)
    async with (
        aiohttp.ClientSession() as http,
        http.post(served.server.make_url("/a"), data=b"x", expect100=True) as response,
    ):
        assert (response.status, await response.text()) == (200, "post-a")
    assert served.fallback == ["POST /a"]


def test_a_catch_all_is_used_only_when_nothing_else_is_dynamic() -> None:
    assert direct_routes(catch_all_app()).catch_all is not None
    app = catch_all_app()
    assert direct_routes(app).lookup("GET", "/anything/else") is not None
    mixed = web.Application()
    mixed.router.add_get("/items/{id}", _answer("item"))
    mixed.router.add_route("*", "/{tail:.*}", _answer("catch-all"))
    assert direct_routes(mixed).catch_all is None
    assert direct_routes(mixed).lookup("GET", "/items/1") is None


def test_a_routes_own_method_beats_its_any_method_route() -> None:
    app = web.Application()
    app.router.add_get("/p", _answer("get"))
    app.router.add_route("*", "/p", _answer("any"))
    routes = direct_routes(app)
    assert [routes.lookup(method, "/p").__name__ for method in ("GET", "HEAD", "PUT")] == [
        "get",
        "get",
        "any",
    ]


async def test_apps_it_cannot_serve_faithfully_are_refused(
    aiohttp_server: AiohttpServer,
) -> None:
    app = fixed_app()

    async def prepare(_request: web.Request, _response: web.StreamResponse) -> None:
        return None

    app.on_response_prepare.append(prepare)
    server = await aiohttp_server(app)
    assert server.runner is not None
    with pytest.raises(RuntimeError, match="on_response_prepare"):
        serve_directly(server.runner, app)
    with pytest.raises(RuntimeError, match="set the runner up first"):
        serve_directly(web.AppRunner(fixed_app()), fixed_app())


# --- aiohttp internals -----------------------------------------------------------------------


def test_aiohttp_still_works_as_the_dispatch_relies_on() -> None:
    check_aiohttp_internals()  # raises, saying what changed


def test_a_changed_aiohttp_is_reported_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dispatch, "TESTED_AIOHTTP", ((3, 13),))
    with pytest.raises(RuntimeError, match=r"aiohttp 3\.14\.\d+ is not a tested minor version"):
        check_aiohttp_internals()


async def _never_called(_request: web.BaseRequest) -> web.StreamResponse:
    raise AssertionError("unreachable")


@pytest.fixture
async def started_runner() -> AsyncIterator[web.AppRunner]:
    runner = web.AppRunner(fixed_app())
    await runner.setup()
    yield runner
    await runner.cleanup()


async def test_each_connection_takes_the_servers_current_handler(
    started_runner: web.AppRunner,
) -> None:
    # The swap works only because a connection reads `Server.request_handler` when it opens.
    server = started_runner.server
    assert server is not None
    server.request_handler = _never_called
    protocol = server()
    assert protocol._request_handler is _never_called
