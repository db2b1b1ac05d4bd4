"""Fixtures for the gateway's tests: recording upstreams on real sockets, the gateway app."""

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pytest_aiohttp import AiohttpClient, AiohttpServer

from authara_gateway.app import create_app
from tests.dispatchsupport import DISPATCH_PATHS, client_for
from tests.integration.gateway.support import (
    IDENTITY,
    Control,
    MakeGateway,
    gateway_settings,
    upstream_app,
)


@pytest.fixture
def control() -> Control:
    return Control()


@pytest.fixture
async def core(aiohttp_server: AiohttpServer, control: Control) -> TestServer:
    return await aiohttp_server(upstream_app("core", control))


@pytest.fixture
async def app_upstream(aiohttp_server: AiohttpServer, control: Control) -> TestServer:
    return await aiohttp_server(upstream_app("app", control))


# Every test runs twice: through the app's router (as aiohttp's test server serves it) and
# through the router-free handler the real process serves with.
@pytest.fixture(params=DISPATCH_PATHS)
def make_gateway(
    request: pytest.FixtureRequest,
    aiohttp_client: AiohttpClient,
    core: TestServer,
    app_upstream: TestServer,
) -> MakeGateway:
    async def make(**overrides: Any) -> TestClient[web.Request, web.Application]:
        assert core.port is not None
        assert app_upstream.port is not None
        settings = gateway_settings(core.port, app_upstream.port, **overrides)
        return await client_for(aiohttp_client, create_app(settings), request.param)

    return make


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> TestClient[web.Request, web.Application]:
    return await make_gateway(identity=IDENTITY)


@pytest.fixture
async def raw_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
    ) as session:
        yield session
