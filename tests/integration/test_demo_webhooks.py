"""The demo app receives Authara's webhooks: a real core delivers to it and its page lists them.

The demo is served on a real socket; core (with its webhook workers) delivers to its
receiver; the receiver refuses bad signatures, stale timestamps (replays) and non-events.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any, Final

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from authara_contract import routes
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app as create_core
from authara_core.settings import load_settings
from authara_core.webhooks.signing import delivery_headers
from authara_demo.app import DemoSettings, create_app
from authara_demo.webhooks import INBOX_KEY, KEEP, RECEIVER_PATH
from authara_devstack.embedded_pg import free_port
from tests.coresupport import WEBHOOK_SECRET, core_env
from tests.webhooksupport import until

WAIT: Final = 20.0


@pytest.fixture
async def demo() -> AsyncIterator[TestServer]:
    settings = DemoSettings(
        host="127.0.0.1",
        port=0,
        authara_base_url=URL(f"http://127.0.0.1:{free_port()}"),
        webhook_secret=WEBHOOK_SECRET,
    )
    server = TestServer(create_app(settings))
    await server.start_server()
    yield server
    await server.close()


def _signed(body: bytes, *, event_id: str = "e-1", timestamp: int | None = None) -> dict[str, str]:
    return dict(
        delivery_headers(
            WEBHOOK_SECRET,
            event_id=event_id,
            event_type="user.created",
            timestamp=int(time.time()) if timestamp is None else timestamp,
            body=body,
        )
    )


def _envelope(event_id: str = "e-1") -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "user.created",
            "created_at": "2026-12-03T20:00:00Z",
            "data": {"user_id": "u-1"},
        }
    ).encode()


async def _post(demo: TestServer, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(demo.make_url(RECEIVER_PATH), data=body, headers=headers) as response,
    ):
        return response.status, await response.text()


async def test_core_delivers_to_the_demo_and_its_page_lists_the_events(
    demo: TestServer, db: DatabaseSettings, aiohttp_client: Any
) -> None:
    # `demo` first: fixtures end in reverse, so core (and its webhook workers' connections to
    # the demo) is closed before the demo's server is.
    env = core_env(
        db,
        AUTHARA_WEBHOOK_URL=str(demo.make_url(RECEIVER_PATH)),
        AUTHARA_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    core: TestClient[Any, Any] = await aiohttp_client(create_core(load_settings(env)))
    csrf = await (await core.get(routes.API_CSRF)).json()
    signed_up = await core.post(
        routes.API_SIGNUP_DIRECT,
        json={"email": "ada@example.com", "password": "correct horse battery"},
        headers={"X-CSRF-Token": csrf["csrf_token"]},
    )
    assert signed_up.status == 201
    user_id = (await signed_up.json())["user"]["id"]
    inbox = demo.app[INBOX_KEY]

    async def all_three() -> bool:  # user, organization, membership
        return len(inbox.events) == 3

    await until(all_three, WAIT)

    async with aiohttp.ClientSession() as http, http.get(demo.make_url("/webhooks")) as page:
        html = await page.text()
    assert page.status == 200
    assert html.count('data-testid="event-type"') == 3
    for event_type in ("user.created", "organization.created", "organization.membership.created"):
        assert f">{event_type}<" in html
    assert user_id in html
    async with aiohttp.ClientSession() as http, http.get(demo.make_url("/")) as home:
        assert 'href="/webhooks"' in await home.text()


async def test_a_bad_signature_is_refused(demo: TestServer) -> None:
    body = _envelope()
    headers = _signed(body)
    headers["X-Authara-Signature"] = "sha256=" + "0" * 64
    assert (await _post(demo, body, headers))[0] == 401
    tampered = body.replace(b"u-1", b"u-2")
    assert (await _post(demo, tampered, _signed(body)))[0] == 401
    assert not demo.app[INBOX_KEY].events


async def test_a_replay_with_an_old_timestamp_is_refused(demo: TestServer) -> None:
    body = _envelope()
    stale = _signed(body, timestamp=int(time.time()) - 600)
    assert (await _post(demo, body, stale))[0] == 401


async def test_a_signed_body_that_is_no_event_is_a_400(demo: TestServer) -> None:
    for body in (b"not json", b"[1, 2]", b'{"id": 1}'):
        assert (await _post(demo, body, _signed(body)))[0] == 400


async def test_a_redelivery_is_stored_once_and_only_the_last_events_are_kept(
    demo: TestServer,
) -> None:
    body = _envelope()
    for _ in range(2):
        assert await _post(demo, body, _signed(body)) == (200, "ok\n")
    assert len(demo.app[INBOX_KEY].events) == 1
    for index in range(KEEP + 5):
        more = _envelope(f"e-{index + 2}")
        await _post(demo, more, _signed(more, event_id=f"e-{index + 2}"))
    events = demo.app[INBOX_KEY].events
    assert len(events) == KEEP and events[0].id == f"e-{KEEP + 6}"


async def test_without_a_secret_the_receiver_says_so(aiohttp_client: Any) -> None:
    settings = DemoSettings(host="127.0.0.1", port=0, authara_base_url=URL("http://127.0.0.1:1"))
    client = await aiohttp_client(create_app(settings))
    response = await client.post(RECEIVER_PATH, data=_envelope())
    assert response.status == 503
    page = await client.get("/webhooks")
    assert "AUTHARA_WEBHOOK_SECRET" in await page.text()


async def _raw(demo: TestServer, *pieces: bytes) -> bytes:
    """Send a request in pieces over one connection (a pause between them); return the answer."""
    reader, writer = await asyncio.open_connection(demo.host, demo.port)
    try:
        for index, piece in enumerate(pieces):
            if index:
                await asyncio.sleep(0.2)  # the receiver has read what came so far
            writer.write(piece)
            await writer.drain()
        return await reader.read()
    finally:
        writer.close()


def _head(length: int, headers: dict[str, str]) -> bytes:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return (
        f"POST {RECEIVER_PATH} HTTP/1.1\r\nHost: demo\r\nContent-Length: {length}\r\n{lines}"
        "Connection: close\r\n\r\n"
    ).encode()


async def test_a_body_that_arrives_in_pieces_is_read_whole(demo: TestServer) -> None:
    body = _envelope()
    half = len(body) // 2
    answer = await _raw(demo, _head(len(body), _signed(body)) + body[:half], body[half:])
    assert answer.startswith(b"HTTP/1.1 200"), answer
    assert [event.id for event in demo.app[INBOX_KEY].events] == ["e-1"]


async def test_undecodable_signature_bytes_are_a_401(demo: TestServer) -> None:
    head = _head(2, {}).replace(
        b"Connection:", b"X-Authara-Signature: sha256=\xff\xfe\r\nConnection:"
    )
    answer = await _raw(demo, head + b"{}")
    assert answer.startswith(b"HTTP/1.1 401"), answer
    body = _envelope()
    headers = _signed(body)
    headers["webhook-timestamp"] = "\u00b2"  # a digit to str.isdigit, not to int()
    assert (await _post(demo, body, headers))[0] == 401
