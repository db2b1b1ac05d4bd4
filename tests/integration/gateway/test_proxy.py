"""The gateway against real upstream servers on real sockets: routing, streaming, headers."""

import asyncio
import gzip
import hashlib
import io
import os
import signal
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict
from pytest_aiohttp import AiohttpClient, AiohttpServer
from yarl import URL

from authara_contract.claims import Audience, PlatformRole
from authara_contract.env import BY_NAME
from authara_contract.errors import JSON_CONTENT_TYPE, ErrorCode, error_body
from authara_contract.tokens import KeySet, encode_access_token
from authara_gateway.app import create_app, skip_router
from authara_gateway.settings import (
    GatewaySettings,
    IdentitySettings,
    TimeoutSettings,
    Upstream,
)

GATEWAY_SCRIPT: Final = Path(sys.executable).parent / "authara-gateway"
ISSUER: Final = "https://auth.example.test"
KEYS: Final = KeySet(keys={"k1": b"s" * 32, "k2": b"t" * 32}, active_kid="k1")
IDENTITY: Final = IdentitySettings(keys=KEYS, issuer=ISSUER)
TEXT: Final = b"".join(b"line %d of a plain text page\n" % i for i in range(200))
WAIT: Final = 10.0  # seconds a test waits for an event before failing instead of hanging
IDENTITY_NAMES: Final = (
    "x-authara-user-id",
    "x-authara-session-id",
    "x-authara-roles",
    "x-authara-audience",
)


# --- upstream servers --------------------------------------------------------------------


@dataclass
class Seen:
    """One request as an upstream received it."""

    upstream: str
    method: str
    raw_path: str
    raw_query: str
    headers: CIMultiDict[str]
    body_length: int
    body_sha256: str


@dataclass
class Control:
    """Shared between a test and its upstream servers."""

    seen: list[Seen] = field(default_factory=list)
    first_body_chunk: asyncio.Event = field(default_factory=asyncio.Event)
    client_got_first_chunk: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def only(self) -> Seen:
        assert len(self.seen) == 1, self.seen
        return self.seen[0]


CONTROL_KEY: Final = web.AppKey("control", Control)
NAME_KEY: Final = web.AppKey("name", str)


async def _echo(request: web.Request) -> web.StreamResponse:
    control = request.app[CONTROL_KEY]
    digest, length = hashlib.sha256(), 0
    while chunk := await request.content.readany():
        if length == 0:
            control.first_body_chunk.set()
        digest.update(chunk)
        length += len(chunk)
    control.seen.append(
        Seen(
            upstream=request.app[NAME_KEY],
            method=request.method,
            raw_path=request.rel_url.raw_path,
            raw_query=request.rel_url.raw_query_string,
            headers=CIMultiDict(request.headers),
            body_length=length,
            body_sha256=digest.hexdigest(),
        )
    )
    return web.json_response(
        {"upstream": request.app[NAME_KEY], "length": length},
        headers={"X-Request-Id": "upstream-own-id"},
    )


async def _stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    await response.write(b"first " + TEXT)
    await asyncio.wait_for(request.app[CONTROL_KEY].client_got_first_chunk.wait(), WAIT)
    await response.write(b"last\n")
    await response.write_eof()
    return response


async def _stall(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    await response.prepare(request)
    await response.write(b"partial")
    await asyncio.wait_for(request.app[CONTROL_KEY].release.wait(), WAIT)
    return response


async def _slow(request: web.Request) -> web.StreamResponse:
    await asyncio.wait_for(request.app[CONTROL_KEY].release.wait(), WAIT)
    return web.Response(text="too late")


async def _cookies(request: web.Request) -> web.StreamResponse:
    headers = CIMultiDict[str]()
    for cookie in ("a=1; Path=/", "b=2; Path=/; HttpOnly", "c=3; Path=/; Max-Age=60"):
        headers.add("Set-Cookie", cookie)
    return web.Response(text="cookies", headers=headers)


async def _hop(request: web.Request) -> web.StreamResponse:
    await _echo(request)
    headers = {
        "Connection": "X-Resp-Hop",
        "X-Resp-Hop": "1",
        "Keep-Alive": "timeout=5",
        "Proxy-Authenticate": "Basic",
        "Proxy-Extra": "1",
        "Trailer": "X-Checksum",
        "Upgrade": "h2c",
        "X-Kept": "yes",
    }
    return web.Response(text="hop", headers=headers)


def _text_response(content_type: str, body: bytes = TEXT, **headers: str) -> web.Response:
    return web.Response(body=body, headers={"Content-Type": content_type, **headers})


_SPECIAL: Final[dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = {
    "stream": _stream,
    "stall": _stall,
    "slow": _slow,
    "cookies": _cookies,
    "hop": _hop,
}
_FIXED: Final[dict[str, Callable[[], web.Response]]] = {
    "text": lambda: _text_response("text/html; charset=utf-8", ETag='"v1"'),
    "json": lambda: _text_response("application/json", b'{"items": "' + b"x" * 2048 + b'"}'),
    "small": lambda: _text_response("text/plain", b"tiny"),
    "binary": lambda: _text_response("application/octet-stream"),
    "events": lambda: _text_response("text/event-stream"),
    "app.css": lambda: _text_response("text/css"),
    "gzipped": lambda: _text_response(
        "text/plain", gzip.compress(TEXT), **{"Content-Encoding": "gzip"}
    ),
    "redirect": lambda: web.Response(status=303, headers={"Location": "/auth/login"}),
}


async def _dispatch(request: web.Request) -> web.StreamResponse:
    name = request.path.rsplit("/", 1)[-1]
    if name in _SPECIAL:
        return await _SPECIAL[name](request)
    if name in _FIXED:
        await _echo(request)
        return _FIXED[name]()
    return await _echo(request)


def upstream_app(name: str, control: Control) -> web.Application:
    app = web.Application()
    app[CONTROL_KEY] = control
    app[NAME_KEY] = name
    app.router.add_route("*", "/{tail:.*}", _dispatch)
    return app


# --- fixtures ------------------------------------------------------------------------------

MakeGateway = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def control() -> Control:
    return Control()


@pytest.fixture
async def core(aiohttp_server: AiohttpServer, control: Control) -> TestServer:
    return await aiohttp_server(upstream_app("core", control))


@pytest.fixture
async def app_upstream(aiohttp_server: AiohttpServer, control: Control) -> TestServer:
    return await aiohttp_server(upstream_app("app", control))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _settings(core_port: int, app_port: int, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "bind_host": "127.0.0.1",
        "bind_port": 0,
        "auth_upstreams": (Upstream("127.0.0.1", core_port),),
        "app_upstreams": (Upstream("127.0.0.1", app_port),),
        "timeouts": TimeoutSettings(connect=2.0, read=5.0),
        **overrides,
    }
    return GatewaySettings(**values)


# Every test runs twice: through the app's router (as aiohttp's test server serves it) and
# through the router-free handler the real process serves with.
@pytest.fixture(params=["router", "direct"])
def make_gateway(
    request: pytest.FixtureRequest,
    aiohttp_client: AiohttpClient,
    core: TestServer,
    app_upstream: TestServer,
) -> MakeGateway:
    async def make(**overrides: Any) -> TestClient[web.Request, web.Application]:
        assert core.port is not None
        assert app_upstream.port is not None
        settings = _settings(core.port, app_upstream.port, **overrides)
        app = create_app(settings)
        client = await aiohttp_client(app)
        if request.param == "direct":
            assert client.server.runner is not None
            skip_router(client.server.runner, app)
        return client

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


def _token(**overrides: Any) -> str:
    values: dict[str, Any] = {
        "keys": KEYS,
        "issuer": ISSUER,
        "user_id": uuid.uuid4(),
        "session_id": uuid.uuid4(),
        "audience": Audience.APP,
        "roles": (),
        "now": datetime.now(UTC),
        "ttl": timedelta(minutes=10),
        **overrides,
    }
    return encode_access_token(**values)


def _identity_like(headers: CIMultiDict[str]) -> list[str]:
    return [name for name in headers if name.lower().replace("_", "-").startswith("x-authara-")]


# --- routing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "upstream"),
    [
        ("/auth", "core"),
        ("/auth/", "core"),
        ("/auth/login", "core"),
        ("/auth/api/v1/user", "core"),
        ("/", "app"),
        ("/private", "app"),
        ("/authx", "app"),
        ("/app/auth/login", "app"),
    ],
)
async def test_routes_auth_paths_to_core_and_the_rest_to_the_app(
    gateway: TestClient[web.Request, web.Application], control: Control, path: str, upstream: str
) -> None:
    response = await gateway.get(path)

    assert response.status == 200
    assert (await response.json())["upstream"] == upstream
    assert control.only().upstream == upstream


async def test_method_raw_path_query_and_body_pass_through(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    target = URL("/files/a%2Fb%20c?q=%2F%20x&q=2&flag", encoded=True)

    response = await gateway.request("PATCH", target, data=b"payload")

    assert response.status == 200
    seen = control.only()
    assert (seen.method, seen.raw_path, seen.raw_query) == (
        "PATCH",
        "/files/a%2Fb%20c",
        "q=%2F%20x&q=2&flag",
    )
    assert seen.body_length == len(b"payload")


async def test_gateway_answers_its_own_health_without_core(
    make_gateway: MakeGateway, control: Control
) -> None:
    gateway = await make_gateway(auth_upstreams=(Upstream("127.0.0.1", _free_port()),))

    response = await gateway.get("/auth/gateway/health")
    head = await gateway.head("/auth/gateway/health")
    post = await gateway.post("/auth/gateway/health")

    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    assert head.status == 200
    assert post.status == 405
    assert control.seen == []


async def _raw_exchange(
    gateway: TestClient[web.Request, web.Application], *parts: bytes
) -> list[bytes]:
    """Send each part and read what the gateway answers to it (the last part: to EOF)."""
    reader, writer = await asyncio.open_connection(gateway.host, gateway.port)
    answers = []
    try:
        for part in parts[:-1]:
            writer.write(part)
            answers.append(await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT))
        writer.write(parts[-1])
        answers.append(await asyncio.wait_for(reader.read(), WAIT))
    finally:
        writer.close()
    return answers


async def test_expect_100_continue_is_answered_before_the_body_is_sent(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    head = (
        b"POST /upload HTTP/1.1\r\nHost: example.test\r\nContent-Length: 7\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
    )

    interim, final = await _raw_exchange(gateway, head, b"payload")

    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert final.startswith(b"HTTP/1.1 200 ")
    assert control.only().body_length == len(b"payload")
    assert "expect" not in {name.lower() for name in control.only().headers}


@pytest.mark.parametrize(
    ("request_line", "status"),
    [
        (b"GET /x HTTP/1.1\r\nExpect: magic", b"417"),
        (b"OPTIONS * HTTP/1.1", b"404"),
        (b"GET /a%0Ab HTTP/1.1", b"404"),
        (b"GET /auth/gateway/health%2F HTTP/1.1", b"200"),
    ],
)
async def test_requests_are_routed_as_aiohttps_router_routes_them(
    gateway: TestClient[web.Request, web.Application],
    control: Control,
    request_line: bytes,
    status: bytes,
) -> None:
    request = request_line + b"\r\nHost: example.test\r\nConnection: close\r\n\r\n"

    (answer,) = await _raw_exchange(gateway, request)

    assert answer.split(b" ", 2)[1] == status
    assert len(control.seen) == (1 if status == b"200" else 0)


async def test_redirects_are_returned_not_followed(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    response = await gateway.get("/go/redirect", allow_redirects=False)

    assert response.status == 303
    assert response.headers["Location"] == "/auth/login"
    assert len(control.seen) == 1


async def test_head_requests_pass_through(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    response = await gateway.head("/page/text")

    assert response.status == 200
    assert await response.read() == b""
    assert control.only().method == "HEAD"


# --- streaming -----------------------------------------------------------------------------


async def test_response_is_streamed_before_the_upstream_finishes(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    for accept_encoding in ("identity", "gzip"):
        control.client_got_first_chunk.clear()
        response = await gateway.get(
            "/feed/stream",
            headers={"Accept-Encoding": accept_encoding},
        )
        received = b""
        while b"first" not in received:
            received += await asyncio.wait_for(response.content.readany(), WAIT)
        control.client_got_first_chunk.set()
        received += await asyncio.wait_for(response.content.read(), WAIT)

        assert received == b"first " + TEXT + b"last\n", accept_encoding


async def test_chunked_upload_is_streamed_and_arrives_intact(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    chunk = os.urandom(64 * 1024)
    chunks = 128  # 8 MiB

    async def body() -> AsyncIterator[bytes]:
        yield chunk
        # The upstream sees the first bytes before the client has produced the rest: a
        # gateway that buffered the upload would deadlock here and fail on the timeout.
        await asyncio.wait_for(control.first_body_chunk.wait(), WAIT)
        for _ in range(chunks - 1):
            yield chunk

    response = await gateway.post("/upload", data=body())

    assert response.status == 200
    seen = control.only()
    assert seen.body_length == chunks * len(chunk)
    assert seen.body_sha256 == hashlib.sha256(chunk * chunks).hexdigest()
    assert seen.headers.get("Transfer-Encoding") == "chunked"


async def test_upload_with_content_length_keeps_it(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 7)

    response = await gateway.put("/auth/upload", data=io.BytesIO(payload))

    assert response.status == 200
    seen = control.only()
    assert seen.upstream == "core"
    assert seen.headers["Content-Length"] == str(len(payload))
    assert "Transfer-Encoding" not in seen.headers
    assert seen.body_sha256 == hashlib.sha256(payload).hexdigest()


# --- headers -------------------------------------------------------------------------------


async def test_hop_by_hop_headers_are_dropped_both_ways(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    response = await gateway.get(
        "/page/hop",
        headers={
            "Connection": "keep-alive, X-Client-Hop",
            "X-Client-Hop": "1",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Trailer": "X-Checksum",
            "Proxy-Authorization": "Basic eDp5",
            "Proxy-Anything": "1",
            "Upgrade": "h2c",
            "X-Other": "kept",
        },
    )

    sent = control.only().headers
    for name in (
        "Connection",
        "X-Client-Hop",
        "Keep-Alive",
        "TE",
        "Trailer",
        "Proxy-Authorization",
        "Proxy-Anything",
        "Upgrade",
    ):
        assert name not in sent, name
    assert sent["X-Other"] == "kept"
    for name in (
        "X-Resp-Hop",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Extra",
        "Trailer",
        "Upgrade",
    ):
        assert name not in response.headers, name
    assert "x-resp-hop" not in response.headers.get("Connection", "").lower()
    assert response.headers["X-Kept"] == "yes"


async def test_client_headers_are_not_invented(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    await gateway.post(
        "/plain",
        data=b"x",
        skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
    )

    sent = control.only().headers
    for name in ("Accept", "Accept-Encoding", "User-Agent", "Content-Type"):
        assert name not in sent, name


async def test_forwarded_headers_are_rebuilt_and_host_kept(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    await gateway.get(
        "/page",
        headers={
            "Host": "app.example.test",
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "evil.test",
            "X-Real-IP": "6.6.6.6",
            "True-Client-IP": "6.6.6.6",
            "Forwarded": "for=6.6.6.6",
        },
    )

    sent = control.only().headers
    assert sent["Host"] == "app.example.test"
    assert sent.getall("X-Forwarded-For") == ["127.0.0.1"]
    assert sent["X-Forwarded-Proto"] == "http"
    assert sent["X-Forwarded-Host"] == "app.example.test"
    for name in ("X-Real-IP", "True-Client-IP", "Forwarded"):
        assert name not in sent, name


async def test_a_trusted_proxy_forwarded_headers_are_extended(
    make_gateway: MakeGateway, control: Control
) -> None:
    import ipaddress

    gateway = await make_gateway(trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))

    await gateway.get(
        "/page",
        headers={
            "Host": "app.example.test",
            "X-Forwarded-For": "203.0.113.9",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "public.example.test",
        },
    )

    sent = control.only().headers
    assert sent["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert sent["X-Forwarded-Proto"] == "https"
    assert sent["X-Forwarded-Host"] == "public.example.test"


async def test_sane_request_id_is_kept_end_to_end(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    response = await gateway.get("/page", headers={"X-Request-Id": "req-1.A_b"})

    assert control.only().headers["X-Request-Id"] == "req-1.A_b"
    assert response.headers.getall("X-Request-Id") == ["req-1.A_b"]


@pytest.mark.parametrize("incoming", [None, "", "has space", "semi;colon", "x" * 129, "ü"])
async def test_missing_or_insane_request_id_is_replaced(
    gateway: TestClient[web.Request, web.Application], control: Control, incoming: str | None
) -> None:
    headers = {} if incoming is None else {"X-Request-Id": incoming}

    response = await gateway.get("/page", headers=headers)

    sent = control.only().headers["X-Request-Id"]
    assert sent != incoming
    assert len(sent) == 32
    assert int(sent, 16) >= 0
    assert response.headers.getall("X-Request-Id") == [sent]


async def test_every_set_cookie_reaches_the_client(
    gateway: TestClient[web.Request, web.Application], raw_session: aiohttp.ClientSession
) -> None:
    async with raw_session.get(gateway.make_url("/auth/cookies")) as response:
        cookies = response.headers.getall("Set-Cookie")

    assert cookies == ["a=1; Path=/", "b=2; Path=/; HttpOnly", "c=3; Path=/; Max-Age=60"]


async def test_one_users_cookies_never_reach_another_users_request(
    make_gateway: MakeGateway,
    app_upstream: TestServer,
    control: Control,
    raw_session: aiohttp.ClientSession,
) -> None:
    assert app_upstream.port is not None
    # A host name, not an IP: aiohttp's default cookie jar ignores cookies from IPs.
    gateway = await make_gateway(app_upstreams=(Upstream("localhost", app_upstream.port),))

    async with raw_session.get(gateway.make_url("/cookies")):
        pass
    async with raw_session.get(gateway.make_url("/page")):
        pass

    assert "Cookie" not in control.only().headers


# --- identity ------------------------------------------------------------------------------

FORGED: Final = {
    "X-Authara-User-Id": "forged",
    "x-authara-session-id": "forged",
    "X-AUTHARA-ROLES": "authara:admin",
    "X-Authara-Audience": "admin",
    "X-Authara-Anything": "forged",
    "X_Authara_User_Id": "forged",
}


@pytest.mark.parametrize("path", ["/dashboard", "/auth/api/v1/user"])
@pytest.mark.parametrize("identity", [IDENTITY, None])
async def test_forged_identity_headers_never_reach_an_upstream(
    make_gateway: MakeGateway, control: Control, path: str, identity: IdentitySettings | None
) -> None:
    gateway = await make_gateway(identity=identity)

    await gateway.get(path, headers=FORGED)

    assert _identity_like(control.only().headers) == []


async def test_valid_token_gives_the_app_verified_identity(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    roles = (PlatformRole.ADMIN.value, PlatformRole.AUDITOR.value)
    token = _token(user_id=user_id, session_id=session_id, roles=roles)

    await gateway.get("/dashboard", headers={**FORGED, "Cookie": f"authara_access={token}"})

    sent = control.only().headers
    assert sorted(name.lower() for name in _identity_like(sent)) == sorted(IDENTITY_NAMES)
    assert sent["X-Authara-User-Id"] == str(user_id)
    assert sent["X-Authara-Session-Id"] == str(session_id)
    assert sent["X-Authara-Roles"] == "authara:admin,authara:auditor"
    assert sent["X-Authara-Audience"] == "app"


async def test_no_roles_is_an_empty_header(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    await gateway.get("/dashboard", headers={"Cookie": f"authara_access={_token()}"})

    assert control.only().headers.getall("X-Authara-Roles") == [""]


async def test_core_never_receives_identity_headers(
    gateway: TestClient[web.Request, web.Application], control: Control
) -> None:
    response = await gateway.get(
        "/auth/api/v1/user", headers={**FORGED, "Cookie": f"authara_access={_token()}"}
    )

    assert response.status == 200
    seen = control.only()
    assert seen.upstream == "core"
    assert _identity_like(seen.headers) == []
    assert "authara_access=" in seen.headers["Cookie"]


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(
            _token(now=datetime.now(UTC) - timedelta(hours=1), ttl=timedelta(minutes=10)),
            id="expired",
        ),
        pytest.param(_token(keys=KeySet(keys={"k1": b"w" * 32}, active_kid="k1")), id="wrong-key"),
        pytest.param(
            _token(keys=KeySet(keys={"k9": b"s" * 32}, active_kid="k9")), id="unknown-kid"
        ),
        pytest.param(_token(issuer="https://other.test"), id="wrong-issuer"),
        pytest.param(_token(audience=Audience.ADMIN), id="admin-audience"),
        pytest.param("not-a-jwt", id="garbage"),
    ],
)
async def test_invalid_token_forwards_anonymously(
    gateway: TestClient[web.Request, web.Application], control: Control, token: str
) -> None:
    response = await gateway.get(
        "/dashboard", headers={**FORGED, "Cookie": f"authara_access={token}"}
    )

    assert response.status == 200
    assert _identity_like(control.only().headers) == []


async def test_without_identity_settings_a_valid_token_is_not_forwarded(
    make_gateway: MakeGateway, control: Control
) -> None:
    gateway = await make_gateway(identity=None)

    await gateway.get("/dashboard", headers={"Cookie": f"authara_access={_token()}"})

    assert _identity_like(control.only().headers) == []


# --- upstream failures ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "accept"),
    [("/auth/api/v1/x", "text/html"), ("/page", "application/json"), ("/auth/api/v1/x", "*/*")],
)
async def test_upstream_down_is_502_json_for_api_clients(
    make_gateway: MakeGateway, path: str, accept: str
) -> None:
    down = Upstream("127.0.0.1", _free_port())
    gateway = await make_gateway(auth_upstreams=(down,), app_upstreams=(down,))

    response = await gateway.get(path, headers={"Accept": accept, "X-Request-Id": "r-502"})

    assert response.status == 502
    assert response.headers["Content-Type"] == JSON_CONTENT_TYPE
    assert response.headers["X-Request-Id"] == "r-502"
    body = await response.read()
    assert body == error_body(ErrorCode.BAD_GATEWAY, (await response.json())["error"]["message"])


async def test_upstream_down_is_an_html_page_for_browsers(make_gateway: MakeGateway) -> None:
    gateway = await make_gateway(app_upstreams=(Upstream("127.0.0.1", _free_port()),))

    response = await gateway.get(
        "/page", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )

    assert response.status == 502
    assert response.headers["Content-Type"].startswith("text/html")
    text = await response.text()
    assert "<html" in text
    assert "Traceback" not in text


async def test_slow_upstream_is_504(make_gateway: MakeGateway, control: Control) -> None:
    gateway = await make_gateway(timeouts=TimeoutSettings(connect=2.0, read=0.3))

    try:
        api = await gateway.get("/auth/api/v1/slow")
        page = await gateway.get("/page/slow", headers={"Accept": "text/html"})
    finally:
        control.release.set()

    assert api.status == 504
    assert await api.read() == error_body(
        ErrorCode.GATEWAY_TIMEOUT, (await api.json())["error"]["message"]
    )
    assert page.status == 504
    assert page.headers["Content-Type"].startswith("text/html")


async def test_upstream_failing_mid_response_cuts_the_connection(
    make_gateway: MakeGateway, control: Control
) -> None:
    gateway = await make_gateway(timeouts=TimeoutSettings(connect=2.0, read=0.3))

    try:
        response = await gateway.get("/download/stall")
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    finally:
        control.release.set()


# --- compression ---------------------------------------------------------------------------


async def _fetch_raw(
    session: aiohttp.ClientSession,
    gateway: TestClient[web.Request, web.Application],
    path: str,
    **headers: str,
) -> tuple[aiohttp.ClientResponse, bytes]:
    async with session.get(
        gateway.make_url(path), headers={"Accept-Encoding": "gzip", **headers}
    ) as response:
        return response, await response.read()


async def test_plain_text_is_gzipped(
    gateway: TestClient[web.Request, web.Application], raw_session: aiohttp.ClientSession
) -> None:
    response, body = await _fetch_raw(raw_session, gateway, "/page/text")

    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    assert response.headers["ETag"] == 'W/"v1"'
    # A small body is compressed whole, so its compressed length is known.
    assert response.headers["Content-Length"] == str(len(body))
    assert gzip.decompress(body) == TEXT


async def test_json_is_gzipped(
    gateway: TestClient[web.Request, web.Application], raw_session: aiohttp.ClientSession
) -> None:
    response, body = await _fetch_raw(raw_session, gateway, "/auth/api/v1/json")

    assert response.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body).startswith(b'{"items": "xxx')


async def test_upstream_compression_is_passed_through_untouched(
    gateway: TestClient[web.Request, web.Application], raw_session: aiohttp.ClientSession
) -> None:
    response, body = await _fetch_raw(raw_session, gateway, "/page/gzipped")

    assert response.headers.getall("Content-Encoding") == ["gzip"]
    assert gzip.decompress(body) == TEXT


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/live/events", {}),
        ("/live/text", {"Accept": "text/event-stream"}),
        ("/auth/static/app.css", {}),
        ("/page/small", {}),
        ("/page/binary", {}),
        ("/page/text", {"Accept-Encoding": "identity"}),
        ("/page/text", {"Accept-Encoding": "gzip;q=0, br"}),
    ],
)
async def test_no_compression_where_it_does_not_belong(
    gateway: TestClient[web.Request, web.Application],
    raw_session: aiohttp.ClientSession,
    path: str,
    headers: dict[str, str],
) -> None:
    response, _ = await _fetch_raw(raw_session, gateway, path, **headers)

    assert response.status == 200
    assert "Content-Encoding" not in response.headers


async def test_compression_can_be_switched_off(
    make_gateway: MakeGateway, raw_session: aiohttp.ClientSession
) -> None:
    gateway = await make_gateway(enable_compression=False)

    response, body = await _fetch_raw(raw_session, gateway, "/page/text")

    assert "Content-Encoding" not in response.headers
    assert body == TEXT


# --- the process ---------------------------------------------------------------------------


def _process_environ(**extra: str) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if key not in BY_NAME}
    return {**environ, **extra}


async def _run(*args: str, environ: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *args,
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), WAIT)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_serves_answers_healthcheck_and_stops_on_sigterm(
    core: TestServer, app_upstream: TestServer, control: Control
) -> None:
    port = _free_port()
    environ = _process_environ(
        GATEWAY_BIND=f"127.0.0.1:{port}",
        AUTHARA_UPSTREAM=f"127.0.0.1:{core.port}",
        APP_UPSTREAM=f"http://127.0.0.1:{app_upstream.port}",
        AUTO_HTTPS="on",
        LOG_LEVEL="info",
    )
    server = await asyncio.create_subprocess_exec(
        str(GATEWAY_SCRIPT), env=environ, stderr=asyncio.subprocess.PIPE
    )
    try:
        code, output = 1, ""
        for _ in range(100):
            code, output = await _run(str(GATEWAY_SCRIPT), "healthcheck", environ=environ)
            if code == 0:
                break
            await asyncio.sleep(0.1)
        assert code == 0, output
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/private") as response,
        ):
            assert (await response.json())["upstream"] == "app"
    finally:
        server.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(server.communicate(), WAIT)

    assert server.returncode == 0
    log = stderr.decode()
    assert "AUTO_HTTPS=on" in log
    assert "Traceback" not in log
