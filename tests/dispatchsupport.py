"""Serve an app under test both ways its real process can: aiohttp's router or the direct one.

Core's and the gateway's HTTP tests run every test through both (`DISPATCH_PATHS` as fixture
params): the direct dispatch (authara_runtime.dispatch) must answer as the router would.
"""

from typing import Final

from aiohttp import web
from aiohttp.test_utils import TestClient
from pytest_aiohttp import AiohttpClient

from authara_runtime.dispatch import serve_directly

DISPATCH_PATHS: Final = ("router", "direct")


async def client_for(
    aiohttp_client: AiohttpClient, app: web.Application, dispatch: str
) -> TestClient[web.Request, web.Application]:
    """Return a test client for `app`, served through `dispatch` ("router" or "direct")."""
    client = await aiohttp_client(app)
    if dispatch == "direct":
        assert client.server.runner is not None
        serve_directly(client.server.runner, app)
    return client
