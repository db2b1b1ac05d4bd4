"""The gateway against real upstreams: routing, raw targets, streaming both ways."""

import asyncio
import hashlib
import io
import os
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from authara_gateway.settings import Upstream
from tests.integration.gateway.support import (
    TEXT,
    WAIT,
    Control,
    MakeGateway,
    free_port,
)


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
    gateway = await make_gateway(auth_upstreams=(Upstream("127.0.0.1", free_port()),))

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
