"""Upstream lists (round-robin, a second upstream taking over) and the gateway's readiness."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from authara_contract.database import DatabaseSettings
from authara_contract.routes import GATEWAY_READY, READY
from authara_core.app import create_app as create_core_app
from authara_core.settings import load_settings as load_core_settings
from authara_gateway.app import create_app
from authara_gateway.readiness import REASON_LIMIT, core_unready_reason
from authara_gateway.settings import GatewaySettings, TimeoutSettings, Upstream
from tests.coresupport import core_env
from tests.integration.gateway.support import free_port

NAME_KEY: Final = web.AppKey("name", str)


async def _name(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({"upstream": request.app[NAME_KEY], "body": body.decode()})


def named_app(name: str) -> web.Application:
    app = web.Application()
    app[NAME_KEY] = name
    app.router.add_route("*", "/{tail:.*}", _name)
    return app


def _upstream(server: TestServer) -> Upstream:
    assert server.port is not None
    return Upstream("127.0.0.1", server.port)


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


async def _upstream_of(http: aiohttp.ClientSession, gateway: TestServer, **kwargs: Any) -> str:
    async with http.request(
        kwargs.pop("method", "GET"), gateway.make_url("/page"), **kwargs
    ) as response:
        assert response.status == 200, await response.text()
        answer = await response.json()
    name: str = answer["upstream"]
    return name


# --- round-robin and failover ---------------------------------------------------------------


async def test_requests_take_turns_over_the_app_upstreams(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession
) -> None:
    first = await aiohttp_server(named_app("first"))
    second = await aiohttp_server(named_app("second"))
    gateway = await aiohttp_server(
        create_app(_settings(app_upstreams=(_upstream(first), _upstream(second))))
    )

    seen = [await _upstream_of(http, gateway) for _ in range(6)]

    assert sorted(seen) == ["first"] * 3 + ["second"] * 3
    assert seen[0::2] == [seen[0]] * 3
    assert seen[1::2] == [seen[1]] * 3


async def test_a_second_app_upstream_takes_over_when_the_first_dies(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession
) -> None:
    first = await aiohttp_server(named_app("first"))
    second = await aiohttp_server(named_app("second"))
    gateway = await aiohttp_server(
        create_app(_settings(app_upstreams=(_upstream(first), _upstream(second))))
    )
    assert {await _upstream_of(http, gateway) for _ in range(2)} == {"first", "second"}

    await first.close()

    # No request fails: one that meets the dead upstream is retried on the other (its body
    # was not sent yet), and the dead one is skipped afterwards.
    seen = [await _upstream_of(http, gateway, method="POST", data=b"payload") for _ in range(6)]
    assert seen == ["second"] * 6


async def test_every_core_upstream_down_is_502(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession
) -> None:
    dead = tuple(Upstream("127.0.0.1", free_port()) for _ in range(2))
    gateway = await aiohttp_server(create_app(_settings(auth_upstreams=dead)))

    for _ in range(3):
        async with http.get(gateway.make_url("/auth/api/v1/user")) as response:
            assert response.status == 502
            assert (await response.json())["error"]["code"] == "bad_gateway"


# --- readiness -----------------------------------------------------------------------------------


@pytest.fixture
async def core(aiohttp_server: AiohttpServer, db: DatabaseSettings) -> TestServer:
    return await aiohttp_server(create_core_app(load_core_settings(core_env(db))))


async def _readiness(http: aiohttp.ClientSession, gateway: TestServer) -> tuple[int, Any]:
    async with http.get(gateway.make_url(GATEWAY_READY)) as response:
        assert response.headers["Cache-Control"] == "no-store"
        return response.status, await response.json()


async def test_ready_when_core_is_ready(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession, core: TestServer
) -> None:
    gateway = await aiohttp_server(create_app(_settings(auth_upstreams=(_upstream(core),))))

    assert await _readiness(http, gateway) == (200, {"status": "ready"})
    async with http.head(gateway.make_url(GATEWAY_READY)) as head:
        assert head.status == 200
    async with http.post(gateway.make_url(GATEWAY_READY)) as post:
        assert post.status == 405


async def test_ready_when_any_core_upstream_is_ready(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession, core: TestServer
) -> None:
    dead = Upstream("127.0.0.1", free_port())
    gateway = await aiohttp_server(create_app(_settings(auth_upstreams=(dead, _upstream(core)))))

    assert (await _readiness(http, gateway))[0] == 200


async def test_not_ready_when_core_is_down(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession
) -> None:
    gateway = await aiohttp_server(create_app(_settings()))

    status, body = await _readiness(http, gateway)

    assert status == 503
    assert body == {"status": "unavailable", "reason": "core is unreachable (connection refused)"}


async def test_not_ready_when_core_says_it_is_not(
    aiohttp_server: AiohttpServer,
    http: aiohttp.ClientSession,
    core: TestServer,
    db: DatabaseSettings,
) -> None:
    gateway = await aiohttp_server(create_app(_settings(auth_upstreams=(_upstream(core),))))
    conn = await asyncpg.connect(db.url(), server_settings={"search_path": db.schema})
    try:
        # Two rows in alembic_version: an unmerged branch, which core reports as not ready.
        await conn.execute("INSERT INTO alembic_version (version_num) VALUES ('zz_not_merged')")
        status, body = await _readiness(http, gateway)
    finally:
        await conn.execute("DELETE FROM alembic_version WHERE version_num = 'zz_not_merged'")
        await conn.close()

    assert status == 503
    assert body["reason"].startswith("core is not ready: schema is at revision ")
    assert body["reason"].endswith(" (status 503)")
    assert (await _readiness(http, gateway))[0] == 200


def _stand_in(answer: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.Application:
    """A server in core's place whose /auth/ready answers as the test says."""
    app = web.Application()
    app.router.add_get(READY, answer)
    return app


async def _database_down(_request: web.Request) -> web.Response:
    # What core's /auth/ready answers when its own database check fails.
    return web.json_response(
        {"status": "unavailable", "reason": "database unreachable"}, status=503
    )


async def _plain_500(_request: web.Request) -> web.Response:
    return web.Response(status=500, text="<html>oops</html>")


async def _hostile_reason(_request: web.Request) -> web.Response:
    return web.json_response({"reason": "a\r\nb\x00" + "x" * 1000}, status=503)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (_database_down, "core is not ready: database unreachable (status 503)"),
        (_plain_500, "core is not ready (status 500)"),
        (_hostile_reason, "core is not ready: a  b " + "x" * (REASON_LIMIT - 6) + "… (status 503)"),
    ],
)
async def test_not_ready_reports_what_core_answered(
    aiohttp_server: AiohttpServer,
    http: aiohttp.ClientSession,
    answer: Callable[[web.Request], Awaitable[web.StreamResponse]],
    reason: str,
) -> None:
    stand_in = await aiohttp_server(_stand_in(answer))
    gateway = await aiohttp_server(create_app(_settings(auth_upstreams=(_upstream(stand_in),))))

    assert await _readiness(http, gateway) == (503, {"status": "unavailable", "reason": reason})


async def test_not_ready_names_each_upstreams_reason_in_order(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession
) -> None:
    stand_in = await aiohttp_server(_stand_in(_database_down))
    dead = Upstream("127.0.0.1", free_port())
    gateway = await aiohttp_server(
        create_app(_settings(auth_upstreams=(dead, _upstream(stand_in), dead)))
    )

    _, body = await _readiness(http, gateway)

    assert body["reason"] == (
        "core is unreachable (connection refused); "
        "core is not ready: database unreachable (status 503)"
    )


async def test_a_core_that_does_not_answer_in_time_is_reported_as_such(
    aiohttp_server: AiohttpServer,
) -> None:
    release = asyncio.Event()

    async def hang(_request: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), 10.0)
        return web.Response()

    stand_in = await aiohttp_server(_stand_in(hang))
    try:
        async with aiohttp.ClientSession() as session:
            reason = await core_unready_reason(session, [_upstream(stand_in)], answer_within=0.2)
    finally:
        release.set()

    assert reason == "core did not answer within 0.2 s"


async def test_ready_as_soon_as_one_upstream_is_ready_even_if_another_hangs(
    aiohttp_server: AiohttpServer, core: TestServer
) -> None:
    release = asyncio.Event()

    async def hang(_request: web.Request) -> web.Response:
        await asyncio.wait_for(release.wait(), 30.0)
        return web.Response()

    hanging = await aiohttp_server(_stand_in(hang))
    try:
        async with aiohttp.ClientSession() as session:
            # The hanging upstream is only released afterwards: waiting for every probe
            # would never finish, and fails on the test's own bound instead.
            reason = await asyncio.wait_for(
                core_unready_reason(
                    session, [_upstream(hanging), _upstream(core)], answer_within=60.0
                ),
                10.0,
            )
    finally:
        release.set()

    assert reason is None


# --- upstream connections ------------------------------------------------------------------


PORTS_KEY: Final = web.AppKey("ports", list)


async def _peer_port(request: web.Request) -> web.Response:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    request.app[PORTS_KEY].append(peer[1] if peer else None)
    return web.Response(text="ok")


async def test_upstream_connections_are_kept_alive_and_reused(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession
) -> None:
    app = web.Application()
    app[PORTS_KEY] = []
    app.router.add_route("*", "/{tail:.*}", _peer_port)
    upstream = await aiohttp_server(app)
    gateway = await aiohttp_server(create_app(_settings(app_upstreams=(_upstream(upstream),))))

    # HEAD answers carry a length but no body: the connection must still be reusable.
    for method in ("GET", "HEAD", "GET", "HEAD", "POST", "GET"):
        async with http.request(method, gateway.make_url("/page"), data=b"x") as response:
            assert response.status == 200
            await response.read()

    assert len(app[PORTS_KEY]) == 6
    assert len(set(app[PORTS_KEY])) == 1


async def _one_answer_per_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer the first request on a connection, then drop the second without a word.

    That is what a keep-alive upstream looks like when it closes an idle connection just as
    the gateway sends on it.
    """
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def test_a_kept_alive_connection_closed_by_the_upstream_is_retried_once(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession
) -> None:
    server = await asyncio.start_server(_one_answer_per_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gateway = await aiohttp_server(
        create_app(_settings(app_upstreams=(Upstream("127.0.0.1", port),)))
    )
    try:
        for _ in range(3):
            async with http.get(gateway.make_url("/page")) as response:
                assert response.status == 200
                assert await response.text() == "ok"
    finally:
        server.close()
        await server.wait_closed()


async def _early_hints_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(
        b"HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"
    )
    await writer.drain()
    writer.close()


async def test_interim_1xx_answers_are_not_passed_on(
    aiohttp_server: AiohttpServer, http: aiohttp.ClientSession
) -> None:
    server = await asyncio.start_server(_early_hints_first, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gateway = await aiohttp_server(
        create_app(_settings(app_upstreams=(Upstream("127.0.0.1", port),)))
    )
    try:
        async with http.get(
            gateway.make_url("/page"), timeout=aiohttp.ClientTimeout(total=10)
        ) as response:
            assert response.status == 200
            assert await response.text() == "ok"
    finally:
        server.close()
        await server.wait_closed()
