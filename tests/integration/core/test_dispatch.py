"""Core on the direct dispatch: what it serves itself, what it leaves to aiohttp.

Every other core HTTP test runs through both paths (the conftest's `aiohttp_client`); these
check the split on core's own route table, with a spy on the application's own dispatch.
The generic rules of `authara_runtime.dispatch` are tested in tests/unit/test_runtime_dispatch.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from authara_contract import routes
from authara_contract.errors import ErrorCode
from authara_core.app import create_app
from authara_core.settings import Settings
from authara_runtime.dispatch import direct_routes, serve_directly


@dataclass
class Served:
    """A core server whose fallback (aiohttp's dispatch) records the paths it was given."""

    server: TestServer
    http: aiohttp.ClientSession
    fallback_paths: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


@pytest.fixture
async def served(aiohttp_server: AiohttpServer, settings: Settings) -> AsyncIterator[Served]:
    app = create_app(settings)
    server = await aiohttp_server(app)
    assert server.runner is not None and server.runner.server is not None
    low_level = server.runner.server
    original = low_level.request_handler
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        served = Served(server, http)

        async def spy(request: web.BaseRequest) -> web.StreamResponse:
            served.fallback_paths.append(request.path)
            return await original(request)

        low_level.request_handler = spy
        serve_directly(server.runner, app)
        yield served


def test_the_table_holds_every_fixed_path_route_and_nothing_else(settings: Settings) -> None:
    direct = direct_routes(create_app(settings))
    table = direct.by_method
    # Core has no any-method route, and no catch-all (static files, OAuth paths with a
    # parameter): every path outside the table goes to aiohttp.
    assert direct.any_method == {}
    assert direct.catch_all is None
    assert table[("GET", routes.API_USER)] is not None
    assert ("HEAD", routes.API_USER) in table  # add_get serves HEAD too
    assert ("POST", routes.API_TOKENS_REFRESH) in table
    assert ("POST", routes.LOGIN) in table and ("GET", routes.LOGIN) in table
    assert not any("{" in path for _method, path in table)
    assert not any(path.startswith(routes.STATIC_PREFIX) for _method, path in table)


async def test_fixed_paths_skip_the_router_and_keep_the_envelope(served: Served) -> None:
    async with served.http.get(served.url(routes.API_USER)) as response:
        body = await response.json()
    assert response.status == 401
    assert body["error"]["code"] == ErrorCode.UNAUTHORIZED.value
    # The one middleware still ran: request id and security headers are there.
    assert response.headers["X-Request-ID"]
    assert response.headers["X-Frame-Options"] == "DENY"
    async with served.http.get(served.url(routes.HEALTH)) as response:
        assert response.status == 200
    assert served.fallback_paths == []


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/auth/oauth/corp/start", 404),  # a path with a parameter: unknown provider
        ("GET", "/auth/no-such-page", 404),
        ("OPTIONS", "/auth/api/v1/user", 404),  # an API path answers 405 as 404 (upstream)
        ("OPTIONS", "/auth/login", 405),
        ("DELETE", "/auth/api/v1/user", 403),  # CSRF comes first, on either path
        ("GET", "/auth/static/missing.css", 404),
    ],
)
async def test_everything_else_goes_to_aiohttp(
    served: Served, method: str, path: str, status: int
) -> None:
    async with served.http.request(method, served.url(path)) as response:
        assert response.status == status
        assert response.headers["X-Frame-Options"] == "DENY"
    assert served.fallback_paths == [path]


async def test_expect_continue_goes_to_aiohttp(served: Served) -> None:
    async with served.http.post(
        served.url(routes.API_TOKENS_REFRESH),
        json={"refresh_token": "nope"},
        expect100=True,
    ) as response:
        assert response.status == 401
    assert served.fallback_paths == [routes.API_TOKENS_REFRESH]


async def test_paths_match_as_the_router_matches_them(served: Served) -> None:
    # Percent-encoded unreserved characters name the same route (aiohttp's path_safe).
    async with served.http.get(served.url("/auth/api/v1/%75ser")) as response:
        assert response.status == 401
    async with served.http.get(served.url(routes.API_USER + "/")) as response:
        assert response.status == 404  # no trailing-slash aliasing, as the router
    assert served.fallback_paths == [routes.API_USER + "/"]


async def test_head_has_no_body(served: Served) -> None:
    async with served.http.head(served.url(routes.HEALTH)) as response:
        assert response.status == 200
        assert await response.read() == b""
    assert served.fallback_paths == []
