"""Upstream servers that record what reached them, and helpers for the gateway's tests."""

import asyncio
import gzip
import hashlib
import socket
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from aiohttp import web
from aiohttp.test_utils import TestClient
from multidict import CIMultiDict

from authara_contract.claims import Audience, OrganizationRole
from authara_contract.tokens import KeySet, encode_access_token
from authara_gateway.settings import (
    GatewaySettings,
    IdentitySettings,
    TimeoutSettings,
    Upstream,
)
from tests.tokensupport import sign_claims

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
    "x-authara-organization-id",
    "x-authara-organization-role",
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


MakeGateway = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def gateway_settings(core_port: int, app_port: int, **overrides: Any) -> GatewaySettings:
    values: dict[str, Any] = {
        "bind_host": "127.0.0.1",
        "bind_port": 0,
        "auth_upstreams": (Upstream("127.0.0.1", core_port),),
        "app_upstreams": (Upstream("127.0.0.1", app_port),),
        "timeouts": TimeoutSettings(connect=2.0, read=5.0),
        **overrides,
    }
    return GatewaySettings(**values)


def access_token(**overrides: Any) -> str:
    values: dict[str, Any] = {
        "keys": KEYS,
        "issuer": ISSUER,
        "user_id": uuid.uuid4(),
        "session_id": uuid.uuid4(),
        "organization_id": uuid.uuid4(),
        "organization_role": OrganizationRole.MEMBER,
        "audience": Audience.APP,
        "roles": (),
        "now": datetime.now(UTC),
        "ttl": timedelta(minutes=10),
        **overrides,
    }
    return encode_access_token(**values)


def identity_like(headers: CIMultiDict[str]) -> list[str]:
    return [name for name in headers if name.lower().replace("_", "-").startswith("x-authara-")]


def signed_claims(**claims: object) -> str:
    """Sign a valid token's claims with some replaced: a good signature over hostile content."""
    return sign_claims(KEYS, ISSUER, int(datetime.now(UTC).timestamp()), **claims)
