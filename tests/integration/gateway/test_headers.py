"""The gateway against real upstreams: hop-by-hop, forwarded, request-id and cookie headers."""

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from multidict import CIMultiDict

from authara_gateway.settings import Upstream
from tests.integration.gateway.support import (
    Control,
    MakeGateway,
)


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


async def test_a_trusted_proxy_forwarded_headers_name_its_client_last(
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
    # Core rate-limits by the last entry: it is the proxy's client, not the proxy (127.0.0.1).
    assert sent["X-Forwarded-For"] == "203.0.113.9"
    assert sent["X-Forwarded-Proto"] == "https"
    assert sent["X-Forwarded-Host"] == "public.example.test"


@pytest.mark.parametrize(
    ("chain", "sent_chain"),
    [
        # A client's own X-Forwarded-For stays left of the address the proxy saw.
        (["6.6.6.6, 203.0.113.9"], "6.6.6.6, 203.0.113.9"),
        # Several trusted proxies in a row: all are dropped from the end, recursively.
        (["203.0.113.9, 127.0.0.9", "127.0.0.7"], "203.0.113.9"),
        # A client cannot pass as a trusted hop by naming one left of its address.
        (["127.0.0.5, 203.0.113.9"], "127.0.0.5, 203.0.113.9"),
        # Only trusted hops: the first one is all there is to name.
        (["127.0.0.9"], "127.0.0.9"),
        # No chain at all: the proxy itself is the client.
        ([], "127.0.0.1"),
    ],
)
async def test_the_last_forwarded_entry_is_the_right_most_untrusted_hop(
    make_gateway: MakeGateway, control: Control, chain: list[str], sent_chain: str
) -> None:
    import ipaddress

    gateway = await make_gateway(trusted_proxies=(ipaddress.ip_network("127.0.0.0/8"),))
    headers = [("Host", "app.example.test"), *(("X-Forwarded-For", value) for value in chain)]

    await gateway.get("/page", headers=CIMultiDict(headers))

    assert control.only().headers["X-Forwarded-For"] == sent_chain


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
