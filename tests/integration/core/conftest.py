"""Fixtures for core's HTTP tests: the real app on a real, freshly truncated database."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application
from pytest_aiohttp import AiohttpClient

from authara_contract import cookies
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.settings import Settings, load_settings
from tests.coresupport import FakeClock, core_env
from tests.dispatchsupport import DISPATCH_PATHS, client_for
from tests.oauthstubs import OidcStandIn, serving

ClientFactory = Callable[[Application], Awaitable[TestClient[object, Application]]]
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def corp() -> AsyncIterator[OidcStandIn]:
    """A generic OpenID provider stand-in on a real socket (OAuth tests)."""
    stand_in = OidcStandIn()
    async with serving(stand_in):
        yield stand_in


@pytest.fixture
def settings(db: DatabaseSettings) -> Settings:
    return load_settings(core_env(db))


@pytest.fixture(params=DISPATCH_PATHS)
def aiohttp_client(aiohttp_client: AiohttpClient, request: pytest.FixtureRequest) -> ClientFactory:
    """Serve every core app under test both ways the real process can serve it.

    "router": aiohttp's own dispatch (what a plain `web.run_app` would do); "direct": the
    fixed-path routes served without the router (authara_runtime's `serve_directly`), as
    `authara-core` serves them.
    """

    async def make(app: Application) -> TestClient[object, Application]:
        return await client_for(aiohttp_client, app, request.param)

    return make


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, settings: Settings
) -> TestClient[object, Application]:
    return await aiohttp_client(create_app(settings))


@pytest.fixture
async def conn(db: DatabaseSettings):
    connection = await asyncpg.connect(db.url(), server_settings={"search_path": db.schema})
    yield connection
    await connection.close()


async def csrf_token(client: TestClient[object, Application], path: str = "/auth/login") -> str:
    """Load a form page so the client holds a CSRF cookie; return the token."""
    response = await client.get(path)
    assert response.status == 200
    html = await response.text()
    match = CSRF_INPUT.search(html)
    assert match is not None
    assert client.session.cookie_jar.filter_cookies(client.make_url("/"))[
        cookies.CSRF.name
    ].value == match.group(1)
    return match.group(1)


async def signup(
    client: TestClient[object, Application],
    email: str = "ada@example.com",
    password: str = "correct horse battery",
    return_to: str = "/private",
):
    token = await csrf_token(client, "/auth/signup")
    return await client.post(
        f"/auth/signup?return_to={return_to}",
        data={"email": email, "password": password, "csrf_token": token},
        allow_redirects=False,
    )
