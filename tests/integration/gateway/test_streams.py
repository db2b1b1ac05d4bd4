"""WebSockets, Server-Sent Events, slow uploads and zstd through the gateway, on real sockets."""

import asyncio
import base64
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict
from pytest_aiohttp import AiohttpServer

from authara_contract.claims import Audience, OrganizationRole
from authara_contract.tokens import KeySet, encode_access_token
from authara_gateway.app import create_app
from authara_gateway.settings import GatewaySettings, IdentitySettings, TimeoutSettings, Upstream
from authara_runtime.dispatch import serve_directly
from tests.integration.gateway.support import free_port

if sys.version_info >= (3, 14):
    from compression.zstd import decompress as zstd_decompress
else:
    from backports.zstd import decompress as zstd_decompress

ISSUER: Final = "https://auth.example.test"
KEYS: Final = KeySet(keys={"k1": b"s" * 32}, active_kid="k1")
WAIT: Final = 10.0
TEXT: Final = b"".join(b"line %d of a plain text page\n" % i for i in range(200))


@dataclass
class Control:
    """Shared between a test and the upstream."""

    handshakes: list[CIMultiDict[str]] = field(default_factory=list)
    acks: asyncio.Queue[None] = field(default_factory=asyncio.Queue)
    chunks: list[tuple[int, bool]] = field(default_factory=list)
    upload_started: asyncio.Event = field(default_factory=asyncio.Event)


CONTROL_KEY: Final = web.AppKey("control", Control)


async def _echo_socket(request: web.Request) -> web.StreamResponse:
    if request.headers.get("X-Refuse"):
        return web.Response(status=403, text="no sockets for you")
    request.app[CONTROL_KEY].handshakes.append(CIMultiDict(request.headers))
    ws = web.WebSocketResponse(protocols=("chat.v2",))
    await ws.prepare(request)
    async for message in ws:
        if message.type == WSMsgType.TEXT:
            if message.data == "close-4001":
                await ws.close(code=4001, message=b"upstream says bye")
                break
            await ws.send_str("echo:" + message.data)
        elif message.type == WSMsgType.BINARY:
            await ws.send_bytes(message.data[::-1])
    return ws


async def _events(request: web.Request) -> web.StreamResponse:
    """Send three events, each only after the client confirmed the previous one arrived."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    for number in range(3):
        await response.write(f"id: {number}\ndata: event {number}\n\n".encode())
        await asyncio.wait_for(request.app[CONTROL_KEY].acks.get(), WAIT)
    await response.write_eof()
    return response


async def _upload(request: web.Request) -> web.StreamResponse:
    control = request.app[CONTROL_KEY]
    total = 0
    while chunk := await request.content.readany():
        control.upload_started.set()
        total += len(chunk)
        control.chunks.append((len(chunk), request.content.at_eof()))
    return web.json_response({"received": total})


async def _page(request: web.Request) -> web.StreamResponse:
    return web.Response(body=TEXT, content_type="text/html")


def upstream_app(control: Control) -> web.Application:
    app = web.Application()
    app[CONTROL_KEY] = control
    app.router.add_get("/socket", _echo_socket)
    app.router.add_get("/events", _events)
    app.router.add_post("/upload", _upload)
    app.router.add_get("/page", _page)
    return app


MakeGateway = Callable[..., Awaitable[TestServer]]


@pytest.fixture
def control() -> Control:
    return Control()


@pytest.fixture
async def app_upstream(aiohttp_server: AiohttpServer, control: Control) -> TestServer:
    return await aiohttp_server(upstream_app(control))


# Every test runs through the app's router and through the router-free handler the real
# process serves with.
@pytest.fixture(params=["router", "direct"])
def make_gateway(
    request: pytest.FixtureRequest, aiohttp_server: AiohttpServer, app_upstream: TestServer
) -> MakeGateway:
    async def make(**overrides: Any) -> TestServer:
        assert app_upstream.port is not None
        values: dict[str, Any] = {
            "bind_host": "127.0.0.1",
            "bind_port": 0,
            "auth_upstreams": (Upstream("127.0.0.1", app_upstream.port),),
            "app_upstreams": (Upstream("127.0.0.1", app_upstream.port),),
            "identity": IdentitySettings(keys=KEYS, issuer=ISSUER),
            "timeouts": TimeoutSettings(connect=2.0, read=5.0),
            **overrides,
        }
        app = create_app(GatewaySettings(**values))
        server = await aiohttp_server(app)
        if request.param == "direct":
            assert server.runner is not None
            serve_directly(server.runner, app)
        return server

    return make


@pytest.fixture
async def gateway(make_gateway: MakeGateway) -> TestServer:
    return await make_gateway()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False
    ) as session:
        yield session


def _token(user_id: uuid.UUID) -> str:
    return encode_access_token(
        keys=KEYS,
        issuer=ISSUER,
        user_id=user_id,
        session_id=uuid.uuid4(),
        organization_id=uuid.uuid4(),
        organization_role=OrganizationRole.MEMBER,
        audience=Audience.APP,
        roles=(),
        now=datetime.now(UTC),
        ttl=timedelta(minutes=10),
    )


# --- WebSockets ------------------------------------------------------------------------------


async def test_websocket_echo_through_the_gateway(
    gateway: TestServer, http: aiohttp.ClientSession, control: Control
) -> None:
    user_id = uuid.uuid4()
    async with http.ws_connect(
        gateway.make_url("/socket"),
        protocols=("chat.v1", "chat.v2"),
        headers={"Cookie": f"authara_access={_token(user_id)}", "X-Authara-Roles": "forged"},
    ) as ws:
        assert ws.protocol == "chat.v2"
        await ws.send_str("hello")
        assert (await ws.receive(WAIT)).data == "echo:hello"
        await ws.send_bytes(b"\x00\x01\x02")
        assert (await ws.receive(WAIT)).data == b"\x02\x01\x00"
        for number in range(50):
            await ws.send_str(f"m{number}")
        assert [(await ws.receive(WAIT)).data for _ in range(50)] == [
            f"echo:m{number}" for number in range(50)
        ]

    (handshake,) = control.handshakes
    assert handshake["X-Authara-User-Id"] == str(user_id)
    assert handshake["X-Authara-Roles"] == ""
    assert handshake["X-Forwarded-For"] == "127.0.0.1"
    assert handshake["Sec-WebSocket-Protocol"] == "chat.v1,chat.v2"


async def test_websocket_close_codes_pass_through(
    gateway: TestServer, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(gateway.make_url("/socket")) as ws:
        await ws.send_str("close-4001")
        message = await ws.receive(WAIT)

    assert message.type == WSMsgType.CLOSE
    assert message.data == 4001
    assert message.extra == "upstream says bye"


async def test_websocket_refused_upstream_status_reaches_the_client(
    gateway: TestServer, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(gateway.make_url("/socket"), headers={"X-Refuse": "1"})

    assert refused.value.status == 403


async def test_websocket_to_a_dead_upstream_is_502(
    make_gateway: MakeGateway, http: aiohttp.ClientSession
) -> None:
    gateway = await make_gateway(app_upstreams=(Upstream("127.0.0.1", free_port()),))

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(gateway.make_url("/socket"))

    assert refused.value.status == 502


# --- Server-Sent Events ----------------------------------------------------------------------


@pytest.mark.parametrize("accept_encoding", ["identity", "gzip, zstd"])
async def test_events_arrive_one_by_one(
    make_gateway: MakeGateway,
    http: aiohttp.ClientSession,
    control: Control,
    accept_encoding: str,
) -> None:
    # A read timeout far shorter than the gaps between events: an event stream is exempt.
    gateway = await make_gateway(timeouts=TimeoutSettings(connect=2.0, read=0.2))

    async with http.get(
        gateway.make_url("/events"),
        headers={"Accept": "text/event-stream", "Accept-Encoding": accept_encoding},
    ) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        assert "Content-Encoding" not in response.headers
        received = []
        for number in range(3):
            # The upstream sends the next event only after this ack: a buffering gateway
            # would deadlock here and fail on the timeout instead.
            event = await asyncio.wait_for(response.content.readuntil(b"\n\n"), WAIT)
            received.append(event)
            await asyncio.sleep(0.5 if number == 0 else 0)
            control.acks.put_nowait(None)
        assert await asyncio.wait_for(response.content.read(), WAIT) == b""

    assert received == [f"id: {n}\ndata: event {n}\n\n".encode() for n in range(3)]


# --- uploads -----------------------------------------------------------------------------------


async def test_a_slow_upload_streams(
    gateway: TestServer, http: aiohttp.ClientSession, control: Control
) -> None:
    async def slow_body() -> AsyncIterator[bytes]:
        yield b"a" * 1000
        # The upstream is already reading before the client has sent the rest.
        await asyncio.wait_for(control.upload_started.wait(), WAIT)
        for _ in range(5):
            await asyncio.sleep(0.05)
            yield b"b" * 1000

    async with http.post(gateway.make_url("/upload"), data=slow_body()) as response:
        assert await response.json() == {"received": 6000}

    assert len(control.chunks) > 1
    assert not control.chunks[0][1]  # the first chunk arrived before the end of the body


# --- compression -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [
        ("gzip, deflate, zstd", "zstd"),
        ("zstd", "zstd"),
        ("gzip;q=1, zstd;q=0.5", "gzip"),
        ("zstd;q=0, gzip", "gzip"),
        ("*", "zstd"),
        ("br", None),
    ],
)
async def test_zstd_is_preferred_when_the_client_accepts_it(
    gateway: TestServer, http: aiohttp.ClientSession, accept_encoding: str, expected: str | None
) -> None:
    async with http.get(
        gateway.make_url("/page"), headers={"Accept-Encoding": accept_encoding}
    ) as response:
        body = await response.read()

    assert response.headers.get("Content-Encoding") == expected
    if expected == "zstd":
        assert zstd_decompress(body) == TEXT
    elif expected is None:
        assert body == TEXT


def test_zstd_module_is_importable() -> None:
    # The gateway's dependency list brings zstd in on every supported Python.
    assert base64.b64encode(zstd_decompress(bytes.fromhex("28b52ffd2000010000"))) == b""
