"""The direct dispatch of fixed-path routes: what it serves itself, what it leaves to aiohttp.

Every other core HTTP test runs through both paths (the conftest's `aiohttp_client`); these
check the split itself, with a spy on the application's own dispatch.
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
from authara_core.platform.dispatch import fixed_routes, serve_fixed_routes_directly
from authara_core.settings import Settings


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
        serve_fixed_routes_directly(server.runner, app)
        yield served


def test_the_table_holds_every_fixed_path_route_and_nothing_else(settings: Settings) -> None:
    table = fixed_routes(create_app(settings))
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


async def test_an_app_with_prepare_signals_is_refused(
    aiohttp_server: AiohttpServer, settings: Settings
) -> None:
    app = create_app(settings)

    async def mark(_request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Marked"] = "1"

    app.on_response_prepare.append(mark)
    server = await aiohttp_server(app)
    assert server.runner is not None
    with pytest.raises(RuntimeError, match="on_response_prepare"):
        serve_fixed_routes_directly(server.runner, app)
