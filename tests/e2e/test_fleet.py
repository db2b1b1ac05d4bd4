"""Authara as a fleet: 2 core replicas + 2 gateway replicas + Redis + PostgreSQL, real processes.

Every process is started here on free ports: two `authara-core` on one migrated database, two
`authara-gateway` in front of both cores (round-robin, as AUTHARA_UPSTREAM lists them), one
redis-server (AUTHARA_CACHE_PROVIDER=redis everywhere) and a small app that echoes the identity
headers it receives. Synchronous (threads for concurrency), as every e2e test here: the
package's browser owns this thread's event loop.

Checks (issue 17, §3): a login limit of 5 holds across both cores; a logout through gateway A
makes the access token anonymous at gateway B within a second; 20 concurrent refreshes of one
token, spread over both gateways, agree on exactly one successor. The first two need core's
side of Redis (shared rate limits; revocations written and published after every logout).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from authara_contract import cookies, routes
from authara_contract import headers as contract_headers
from authara_contract.database import DatabaseSettings
from authara_contract.env import BY_NAME
from authara_devstack.embedded_pg import free_port
from tests.coresupport import BIN, ISSUER, TEST_KEY, TEST_KID, core_env
from tests.redissupport import RedisProcess

pytestmark = pytest.mark.e2e

START_WAIT: Final = 60.0  # seconds a process may take to answer its health check
WAIT: Final = 10.0  # seconds a poll may take before the test fails instead of hanging
PROPAGATION: Final = 1.0  # the issue's bound for a revocation to reach every gateway
LOGIN_LIMIT: Final = 5
PASSWORD: Final = "correct horse battery"
TIMEOUT: Final = 20.0  # per HTTP request


@dataclass
class Answer:
    """One HTTP answer: status, the cookies it set, the body."""

    status: int
    set_cookies: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    method: str, url: str, *, headers: dict[str, str] | None = None, body: object = None
) -> Answer:
    """Send one request on a fresh connection (blocking, bounded)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT)
    sent = {"Accept": "application/json", **(headers or {})}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    try:
        conn.request(method, parts.path or "/", body=payload, headers=sent)
        response = conn.getresponse()
        set_cookies = {}
        for value in response.headers.get_all("Set-Cookie") or ():
            name, _, rest = value.partition("=")
            set_cookies[name.strip()] = rest.split(";", 1)[0]
        return Answer(response.status, set_cookies, response.read())
    finally:
        conn.close()


def _answers(url: str) -> bool:
    try:
        return call("GET", url).status == 200
    except OSError:
        return False


@dataclass
class Browser:
    """A client's cookies for one site, as a browser would keep them."""

    jar: dict[str, str] = field(default_factory=dict)

    def call(self, method: str, url: str, *, csrf: bool = False, body: object = None) -> Answer:
        headers = {}
        if self.jar:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.jar.items())
        if csrf:
            headers[contract_headers.CSRF_TOKEN] = self.jar[cookies.CSRF.name]
        answer = call(method, url, headers=headers, body=body)
        for name, value in answer.set_cookies.items():
            if value:
                self.jar[name] = value
            else:
                self.jar.pop(name, None)
        return answer


@dataclass(frozen=True)
class Fleet:
    """Where the replicas listen."""

    cores: tuple[str, str]
    gateways: tuple[str, str]
    db: DatabaseSettings


class _IdentityEcho(BaseHTTPRequestHandler):
    """The app: answers every GET with the identity headers the gateway forwarded."""

    def do_GET(self) -> None:
        body = json.dumps({"user_id": self.headers.get(contract_headers.USER_ID)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def _app_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _IdentityEcho)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(WAIT)


@contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path, health: str) -> Iterator[None]:
    with log.open("ab") as output:
        process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=output)
    try:
        deadline = time.monotonic() + START_WAIT
        while True:
            assert process.poll() is None, f"{argv[0]} exited: see {log}"
            if _answers(health):
                break
            assert time.monotonic() < deadline, f"{health} did not answer: see {log}"
            time.sleep(0.1)
        yield
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _hermetic() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key not in BY_NAME}


@pytest.fixture(scope="module")
def fleet(
    db_settings: DatabaseSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fleet]:
    logs = tmp_path_factory.mktemp("fleet")
    with ExitStack() as stack:
        redis = stack.enter_context(RedisProcess.started(logs / "redis"))
        app_port = stack.enter_context(_app_server())
        core_ports = (free_port(), free_port())
        for index, port in enumerate(core_ports):
            env = {
                **_hermetic(),
                **core_env(
                    db_settings,
                    AUTHARA_RATE_LIMIT_LOGIN_EMAIL_LIMIT=str(LOGIN_LIMIT),
                    AUTHARA_RATE_LIMIT_LOGIN_EMAIL_WINDOW="1h",
                    # Every refresh rotates: concurrent ones must agree on one successor.
                    AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL="always",
                ),
                **redis.environ(),
                "AUTHARA_BIND": f"127.0.0.1:{port}",
            }
            health = f"http://127.0.0.1:{port}{routes.HEALTH}"
            stack.enter_context(
                _process([str(BIN / "authara-core")], env, logs / f"core-{index}.log", health)
            )
        gateway_ports = (free_port(), free_port())
        for index, port in enumerate(gateway_ports):
            env = {
                **_hermetic(),
                **redis.environ(),
                "APP_ENV": "dev",
                "LOG_LEVEL": "warn",
                "GATEWAY_BIND": f"127.0.0.1:{port}",
                "AUTHARA_UPSTREAM": ",".join(f"127.0.0.1:{p}" for p in core_ports),
                "APP_UPSTREAM": f"127.0.0.1:{app_port}",
                "AUTHARA_JWT_KEYS": f"{TEST_KID}:{TEST_KEY}",
                "AUTHARA_JWT_ISSUER": ISSUER,
                # Gateway B runs two workers: each keeps its own revocations in memory.
                "GATEWAY_WORKERS": str(index + 1),
            }
            health = f"http://127.0.0.1:{port}{routes.GATEWAY_HEALTH}"
            stack.enter_context(
                _process([str(BIN / "authara-gateway")], env, logs / f"gateway-{index}.log", health)
            )
        yield Fleet(
            cores=tuple(f"http://127.0.0.1:{p}" for p in core_ports),  # type: ignore[arg-type]
            gateways=tuple(f"http://127.0.0.1:{p}" for p in gateway_ports),  # type: ignore[arg-type]
            db=db_settings,
        )


def _signup(base: str, email: str) -> Browser:
    """Sign a new user up through `base`; return the browser holding its cookies."""
    browser = Browser()
    assert browser.call("GET", base + routes.API_CSRF).status == 200
    answer = browser.call(
        "POST",
        base + routes.API_SIGNUP_DIRECT,
        csrf=True,
        body={"email": email, "password": PASSWORD},
    )
    assert answer.status == 201, answer.body
    return browser


def _user_seen(gateway: str, access_token: str) -> str | None:
    """Ask the app through `gateway` with only the access cookie: who does the app see?"""
    answer = call(
        "GET", gateway + "/whoami", headers={"Cookie": f"{cookies.ACCESS.name}={access_token}"}
    )
    assert answer.status == 200, answer.body
    user_id: str | None = answer.json()["user_id"]
    return user_id


def test_a_login_limit_of_five_holds_across_both_core_replicas(fleet: Fleet) -> None:
    email = "limited@example.com"
    _signup(fleet.gateways[0], email)
    statuses = []
    for attempt in range(4 * LOGIN_LIMIT):
        core = fleet.cores[attempt % 2]  # alternate: each replica sees half the attempts
        browser = Browser()
        browser.call("GET", core + routes.API_CSRF)
        answer = browser.call(
            "POST",
            core + routes.API_LOGIN,
            csrf=True,
            body={"email": email, "password": "wrong password"},
        )
        statuses.append(answer.status)

    assert statuses == [401] * LOGIN_LIMIT + [429] * (3 * LOGIN_LIMIT), statuses


def test_logout_at_one_gateway_makes_the_token_anonymous_at_the_other(fleet: Fleet) -> None:
    gateway_a, gateway_b = fleet.gateways
    browser = _signup(gateway_a, "leaving@example.com")
    access = browser.jar[cookies.ACCESS.name]
    user_id = _user_seen(gateway_b, access)
    assert user_id is not None
    assert _user_seen(gateway_b, access) == user_id  # now answered from gateway B's memory

    answer = browser.call("POST", gateway_a + routes.API_LOGOUT, csrf=True)
    assert answer.status in (200, 204), answer.body
    logged_out = time.monotonic()

    while _user_seen(gateway_b, access) is not None:
        waited = time.monotonic() - logged_out
        assert waited < PROPAGATION, f"gateway B still passes the identity after {waited:.2f}s"
        time.sleep(0.02)


def test_twenty_concurrent_refreshes_over_both_gateways_agree_on_one_successor(
    fleet: Fleet,
) -> None:
    browser = _signup(fleet.gateways[0], "racing@example.com")
    refresh = browser.jar[cookies.REFRESH.name]
    csrf = browser.jar[cookies.CSRF.name]

    def refresh_through(index: int) -> tuple[int, str | None]:
        gateway = fleet.gateways[index % 2]
        answer = call(
            "POST",
            gateway + routes.API_SESSIONS_REFRESH,
            headers={
                "Cookie": f"{cookies.REFRESH.name}={refresh}; {cookies.CSRF.name}={csrf}",
                contract_headers.CSRF_TOKEN: csrf,
            },
        )
        return answer.status, answer.set_cookies.get(cookies.REFRESH.name)

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(refresh_through, range(20)))

    assert [status for status, _ in answers] == [200] * 20, answers
    successors = {token for _, token in answers}
    assert len(successors) == 1, successors
    assert successors != {refresh}
    assert None not in successors
    with psycopg.connect(fleet.db.url()) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(fleet.db.schema)))
        row = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE s.revoked_at IS NULL)"
            " FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id"
            " JOIN users u ON u.id = s.user_id WHERE u.email = %s",
            ("racing@example.com",),
        ).fetchone()
    assert row == (2, 2)  # the original and its one successor, the session still alive
