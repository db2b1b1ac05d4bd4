"""A core replica that dies: the gateway sends idempotent requests to the other and skips it.

One test kills a real `authara-core` process (SIGKILL) while the gateway holds kept-alive
connections to it; the others use an upstream that accepts a request and then drops the
connection without answering, which is what a replica killed mid-request looks like.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from authara_contract.database import DatabaseSettings
from authara_contract.routes import GATEWAY_READY
from authara_gateway.app import create_app
from authara_gateway.settings import GatewaySettings, TimeoutSettings, Upstream
from tests.coresupport import core_env, core_process
from tests.integration.gateway.support import free_port

NAME_KEY: Final = web.AppKey("name", str)


class Dropper:
    """An upstream that reads each request's head and closes the connection unanswered.

    With `reset`, it closes with a TCP reset (SO_LINGER 0), as a crashed process's kernel may.
    """

    def __init__(self, *, reset: bool = False) -> None:
        self.connections = 0
        self._reset = reset
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _drop(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.readuntil(b"\r\n\r\n")
        if self._reset:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await _closed(writer)
        self._writers.discard(writer)

    async def start(self) -> Upstream:
        self._server = await asyncio.start_server(self._drop, "127.0.0.1", 0)
        return Upstream("127.0.0.1", self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        # Python 3.11's wait_closed does not wait for the connections: close them here, or a
        # connection still open when the loop ends leaks its socket into a later test.
        for writer in list(self._writers):
            await _closed(writer)


async def _closed(writer: asyncio.StreamWriter) -> None:
    """Close a connection and wait until its transport is gone."""
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


async def _name(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"upstream": request.app[NAME_KEY]})


def _named_app(name: str) -> web.Application:
    app = web.Application()
    app[NAME_KEY] = name
    app.router.add_route("*", "/{tail:.*}", _name)
    return app


def _settings(**overrides: Any) -> GatewaySettings:
    down = (Upstream("127.0.0.1", free_port()),)
    values: dict[str, Any] = {
        "bind_host": "127.0.0.1",
        "bind_port": 0,
        "auth_upstreams": down,
        "app_upstreams": down,
        "timeouts": TimeoutSettings(connect=2.0, read=5.0),
        **overrides,
    }
    return GatewaySettings(**values)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


@pytest.fixture(params=["close", "reset"])
async def dropper(request: pytest.FixtureRequest) -> AsyncIterator[Dropper]:
    upstream = Dropper(reset=request.param == "reset")
    yield upstream
    await upstream.close()


async def _gateway(aiohttp_server: AiohttpServer, dropper: Dropper, live: TestServer) -> TestServer:
    assert live.port is not None
    upstreams = (await dropper.start(), Upstream("127.0.0.1", live.port))
    return await aiohttp_server(create_app(_settings(app_upstreams=upstreams)))


@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_a_dropped_idempotent_request_goes_to_the_other_upstream(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession, dropper: Dropper, method: str
) -> None:
    gateway = await _gateway(aiohttp_server, dropper, await aiohttp_server(_named_app("live")))

    for _ in range(4):
        async with http.request(method, gateway.make_url("/page")) as response:
            assert response.status == 200
            if method == "GET":
                assert (await response.json())["upstream"] == "live"
    assert dropper.connections == 1  # tried once, then skipped for the fail duration


async def test_a_dropped_request_with_a_body_is_not_sent_twice(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession, dropper: Dropper
) -> None:
    gateway = await _gateway(aiohttp_server, dropper, await aiohttp_server(_named_app("live")))

    # The first request goes to the first upstream: the one that drops it.
    async with http.post(gateway.make_url("/page"), data=b"payload") as response:
        assert response.status == 502
    # It was marked all the same: what follows goes to the live one.
    async with http.post(gateway.make_url("/page"), data=b"payload") as response:
        assert response.status == 200
        assert (await response.json())["upstream"] == "live"
    assert dropper.connections == 1


async def test_a_killed_core_replica_is_skipped_without_failed_requests(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession, db: DatabaseSettings
) -> None:
    ports = (free_port(), free_port())
    async with (
        core_process(core_env(db), port=ports[0]) as doomed,
        core_process(core_env(db), port=ports[1]),
    ):
        upstreams = tuple(Upstream("127.0.0.1", port) for port in ports)
        gateway = await aiohttp_server(create_app(_settings(auth_upstreams=upstreams)))
        url = gateway.make_url("/auth/api/v1/csrf")
        for _ in range(4):  # both replicas answer, and the gateway keeps connections to both
            async with http.get(url) as response:
                assert response.status == 200

        doomed.kill()
        await doomed.wait()

        statuses = []
        for _ in range(6):
            async with http.get(url) as response:
                statuses.append(response.status)
        assert statuses == [200] * 6
        async with http.get(gateway.make_url(GATEWAY_READY)) as response:
            assert response.status == 200


def _answer_then_reset(
    writers: set[asyncio.StreamWriter],
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A handler that answers one request keep-alive, then resets at the next one."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
            )
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await _closed(writer)
        writers.discard(writer)

    return handle


async def test_a_kept_alive_connection_reset_by_a_healthy_upstream_is_retried_fresh(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession
) -> None:
    open_writers: set[asyncio.StreamWriter] = set()
    server = await asyncio.start_server(_answer_then_reset(open_writers), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gateway = await aiohttp_server(
        create_app(_settings(app_upstreams=(Upstream("127.0.0.1", port),)))
    )
    try:
        for _ in range(3):  # the second and third meet a reset on the reused connection
            async with http.get(gateway.make_url("/page")) as response:
                assert response.status == 200
                assert await response.text() == "ok"
    finally:
        server.close()
        await server.wait_closed()
        for writer in list(open_writers):
            await _closed(writer)
