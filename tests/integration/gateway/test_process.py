"""The gateway as a real process: shutdown, workers, hostile clients, memory under 1 GiB bodies."""

import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import aiohttp
import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pytest_aiohttp import AiohttpServer

from authara_contract.env import BY_NAME
from authara_contract.routes import GATEWAY_HEALTH

GATEWAY_SCRIPT: Final = Path(sys.executable).parent / "authara-gateway"
WAIT: Final = 20.0
CHUNK: Final = b"x" * (1024 * 1024)
GIB: Final = 1024 * 1024 * 1024
# Far below what buffering a 1 GiB body would cost, far above allocator noise.
MEMORY_GROWTH_LIMIT: Final = 64 * 1024 * 1024


@dataclass
class Control:
    """Shared between a test and the upstream it runs."""

    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    uploaded: int = 0


CONTROL_KEY: Final = web.AppKey("control", Control)


async def _held(request: web.Request) -> web.StreamResponse:
    control = request.app[CONTROL_KEY]
    control.arrived.set()
    await asyncio.wait_for(control.release.wait(), WAIT)
    return web.Response(text="finished after the signal")


async def _never(request: web.Request) -> web.StreamResponse:
    request.app[CONTROL_KEY].arrived.set()
    await asyncio.sleep(3600)
    return web.Response()


async def _download(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={"Content-Type": "application/octet-stream", "Content-Length": str(GIB)}
    )
    await response.prepare(request)
    for _ in range(GIB // len(CHUNK)):
        await response.write(CHUNK)
    await response.write_eof()
    return response


async def _upload(request: web.Request) -> web.StreamResponse:
    control = request.app[CONTROL_KEY]
    while chunk := await request.content.readany():
        control.uploaded += len(chunk)
    return web.json_response({"received": control.uploaded})


async def _socket(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        await ws.send_str(message.data)
    return ws


async def _hello(request: web.Request) -> web.StreamResponse:
    return web.json_response({"pid": os.getpid(), "path": request.path})


def upstream_app(control: Control) -> web.Application:
    app = web.Application(client_max_size=0)
    app[CONTROL_KEY] = control
    app.router.add_get("/held", _held)
    app.router.add_get("/never", _never)
    app.router.add_get("/download", _download)
    app.router.add_post("/upload", _upload)
    app.router.add_get("/socket", _socket)
    app.router.add_route("*", "/{tail:.*}", _hello)
    return app


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class Gateway:
    """A running `authara-gateway` process."""

    process: asyncio.subprocess.Process
    port: int

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def stop(self, *, signal_it: bool = True) -> tuple[int, str]:
        if signal_it and self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(self.process.communicate(), WAIT)
        assert self.process.returncode is not None
        return self.process.returncode, stderr.decode()


StartGateway = Callable[..., Awaitable[Gateway]]


@pytest.fixture
def control() -> Control:
    return Control()


@pytest.fixture
async def upstream(aiohttp_server: AiohttpServer, control: Control) -> TestServer:
    return await aiohttp_server(upstream_app(control))


@pytest.fixture
async def start_gateway(upstream: TestServer) -> AsyncIterator[StartGateway]:
    started: list[Gateway] = []

    async def start(**env: str) -> Gateway:
        port = _free_port()
        environ = {key: value for key, value in os.environ.items() if key not in BY_NAME}
        environ.update(
            {
                "GATEWAY_BIND": f"127.0.0.1:{port}",
                "AUTHARA_UPSTREAM": f"127.0.0.1:{upstream.port}",
                "APP_UPSTREAM": f"127.0.0.1:{upstream.port}",
                "LOG_LEVEL": "warn",
                **env,
            }
        )
        process = await asyncio.create_subprocess_exec(
            str(GATEWAY_SCRIPT), env=environ, stderr=asyncio.subprocess.PIPE
        )
        gateway = Gateway(process, port)
        started.append(gateway)
        await _wait_healthy(gateway)
        return gateway

    yield start
    for gateway in started:
        if gateway.process.returncode is None:
            gateway.process.kill()
            await gateway.process.wait()


async def _wait_healthy(gateway: Gateway) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            assert gateway.process.returncode is None, "the gateway exited during start-up"
            try:
                async with http.get(gateway.url(GATEWAY_HEALTH)) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)
    pytest.fail("the gateway did not become healthy")


# --- graceful shutdown -----------------------------------------------------------------------


async def test_sigterm_finishes_in_flight_requests_then_exits_0(
    start_gateway: StartGateway, control: Control
) -> None:
    gateway = await start_gateway(GATEWAY_SHUTDOWN_TIMEOUT="15s")
    async with aiohttp.ClientSession() as http:
        in_flight = asyncio.create_task(_text(http, gateway.url("/held")))
        await asyncio.wait_for(control.arrived.wait(), WAIT)

        gateway.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.2)  # the gateway is now draining
        control.release.set()

        assert await asyncio.wait_for(in_flight, WAIT) == (200, "finished after the signal")
    code, log = await gateway.stop()
    assert code == 0
    assert "Traceback" not in log


async def test_the_shutdown_deadline_ends_requests_that_never_finish(
    start_gateway: StartGateway, control: Control
) -> None:
    gateway = await start_gateway(GATEWAY_SHUTDOWN_TIMEOUT="500ms")
    async with aiohttp.ClientSession() as http:
        stuck = asyncio.create_task(_text(http, gateway.url("/never")))
        await asyncio.wait_for(control.arrived.wait(), WAIT)

        code, log = await gateway.stop()

        with pytest.raises(aiohttp.ClientError):
            await asyncio.wait_for(stuck, WAIT)
    assert code == 0
    assert "Traceback" not in log


async def test_sigterm_closes_websockets_with_going_away(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(GATEWAY_SHUTDOWN_TIMEOUT="15s")
    async with aiohttp.ClientSession() as http, http.ws_connect(gateway.url("/socket")) as ws:
        await ws.send_str("ping")
        assert (await ws.receive(WAIT)).data == "ping"

        gateway.process.send_signal(signal.SIGTERM)
        message = await ws.receive(WAIT)

        assert message.type == aiohttp.WSMsgType.CLOSE
        assert message.data == aiohttp.WSCloseCode.GOING_AWAY
    code, log = await gateway.stop()
    assert code == 0
    assert "Traceback" not in log


async def _text(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url) as response:
        return response.status, await response.text()


# --- workers -------------------------------------------------------------------------------------


async def test_workers_share_the_port_and_stop_together(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(GATEWAY_WORKERS="2")
    supervisor = psutil.Process(gateway.process.pid)
    workers = supervisor.children()
    assert len(workers) == 2

    # Every worker accepts connections: fresh connections land on both listening sockets.
    serving: set[int] = set()
    for _ in range(40):
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,
            http.get(gateway.url("/whoami")) as response,
        ):
            assert response.status == 200
        serving |= {
            worker.pid
            for worker in workers
            if any(conn.status == psutil.CONN_LISTEN for conn in worker.net_connections())
        }
    assert serving == {worker.pid for worker in workers}

    code, log = await gateway.stop()

    assert code == 0
    assert "Traceback" not in log
    assert not any(worker.is_running() and worker.status() != "zombie" for worker in workers)


async def test_a_dead_worker_takes_the_gateway_down_with_exit_1(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway(GATEWAY_WORKERS="2")
    first, second = psutil.Process(gateway.process.pid).children()

    first.kill()
    code, log = await gateway.stop(signal_it=False)

    assert code == 1
    assert "exited unexpectedly" in log
    second.wait(WAIT)


async def test_healthcheck_command_with_workers(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(GATEWAY_WORKERS="2")
    environ = {key: value for key, value in os.environ.items() if key not in BY_NAME}
    environ["GATEWAY_BIND"] = f"127.0.0.1:{gateway.port}"

    check = await asyncio.create_subprocess_exec(
        str(GATEWAY_SCRIPT), "healthcheck", env=environ, stdout=asyncio.subprocess.PIPE
    )
    await asyncio.wait_for(check.wait(), WAIT)

    assert check.returncode == 0


# --- bad input -----------------------------------------------------------------------------------

HOSTILE: Final = {
    "oversized-header": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
    "oversized-cookie": b"GET / HTTP/1.1\r\nHost: x\r\nCookie: authara_access="
    + b"e" * 70_000
    + b"\r\n\r\n",
    "oversized-request-line": b"GET /" + b"p" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "too-many-headers": b"GET / HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-H%d: v\r\n" % i for i in range(1000))
    + b"\r\n",
    "malformed-header": b"GET / HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n",
    "control-characters": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "garbage-request-line": b"HELLO THERE\r\n\r\n",
    "tls-client-hello": bytes.fromhex("160301020001") + os.urandom(512),
    "binary-noise": os.urandom(4096),
    "bad-chunked-body": b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nnot hex\r\n",
    "conflicting-lengths": b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
}


async def _send_raw(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), WAIT)
    except ConnectionError:
        return b""  # the gateway hung up: also an acceptable answer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_hostile_clients_get_4xx_or_a_closed_connection_and_others_are_served(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway()

    for name, payload in HOSTILE.items():
        answer = await _send_raw(gateway.port, payload)
        if answer:
            status = int(answer.split(b" ", 2)[1])
            assert 400 <= status < 500, (name, answer[:200])
        async with (
            aiohttp.ClientSession() as http,
            http.get(gateway.url("/after")) as response,
        ):
            assert response.status == 200, name

    assert gateway.process.returncode is None
    code, log = await gateway.stop()
    assert code == 0
    assert "Traceback" not in log
    assert "malformed" not in log  # one INFO line each, and this gateway logs from WARNING


async def test_a_malformed_request_is_logged_as_one_line(start_gateway: StartGateway) -> None:
    gateway = await start_gateway(LOG_LEVEL="info")

    answer = await _send_raw(gateway.port, HOSTILE["malformed-header"])

    assert answer.startswith(b"HTTP/1.")
    code, log = await gateway.stop()
    assert code == 0
    (line,) = [line for line in log.splitlines() if "malformed" in line]
    assert "INFO" in line
    assert "Traceback" not in log


async def test_a_half_sent_request_does_not_block_other_clients(
    start_gateway: StartGateway,
) -> None:
    gateway = await start_gateway()
    _, idle = await asyncio.open_connection("127.0.0.1", gateway.port)
    idle.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Partial: ")
    await idle.drain()
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(gateway.url("/other")) as response,
        ):
            assert response.status == 200
    finally:
        idle.close()


# --- memory under large bodies ---------------------------------------------------------------


async def test_one_gib_each_way_keeps_the_gateway_memory_flat(
    start_gateway: StartGateway, control: Control
) -> None:
    gateway = await start_gateway(ENABLE_COMPRESSION="false")
    process = psutil.Process(gateway.process.pid)
    baseline = process.memory_info().rss
    peak = baseline
    sampling = True

    async def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, process.memory_info().rss)
            await asyncio.sleep(0.05)

    async def upload_body() -> AsyncIterator[bytes]:
        for _ in range(GIB // len(CHUNK)):
            yield CHUNK

    sampler = asyncio.create_task(sample())
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(gateway.url("/download")) as response:
                downloaded = 0
                while chunk := await response.content.readany():
                    downloaded += len(chunk)
            async with http.post(gateway.url("/upload"), data=upload_body()) as response:
                uploaded = (await response.json())["received"]
    finally:
        sampling = False
        await sampler

    assert downloaded == GIB
    assert uploaded == GIB
    assert peak - baseline < MEMORY_GROWTH_LIMIT, f"grew by {(peak - baseline) >> 20} MiB"
