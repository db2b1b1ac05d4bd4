"""The gateway against real upstreams: what it compresses and what it passes through."""

import gzip

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.integration.gateway.support import (
    TEXT,
    MakeGateway,
)


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
