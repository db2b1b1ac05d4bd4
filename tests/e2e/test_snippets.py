"""The integration snippets (examples/snippets/) behind a real gateway, core and database.

One core (migrated by the real `authara-migrate up`) serves the module; each snippet runs as
its own process behind a gateway of its own (APP_UPSTREAM = the snippet's PORT). A client
signs up and logs in through the gateway, as a browser without JavaScript would, and reads
the snippet's /me: user id and email from the gateway's headers and core's /auth/api/v1/user,
roles after `authara-core admin grant`, the logout form's csrf_token that really logs out.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from authara_devstack.embedded_pg import free_port
from tests.coresupport import BIN, ISSUER, TEST_KEY, TEST_KID, core_env
from tests.dbutil import fresh_database

from .devstack_process import hermetic_environ
from .snippet_support import (
    Client,
    Process,
    snippet_command,
    start,
    start_go_build,
    start_npm_ci,
    toolchain_environ,
)

pytestmark = pytest.mark.e2e

SNIPPETS = ("python_aiohttp", "express", "go")
PASSWORD = "correct horse battery staple"
LOGIN_FOR_ME = "/auth/login?return_to=/me"


@dataclass
class Core:
    """The module's core: its URL and the environment that reaches its database."""

    url: str
    env: dict[str, str]


@dataclass
class Builds:
    """The toolchain steps started before core, so they run while it starts."""

    npm_ci: Process | None
    go_build: Process
    go_binary: Path

    def wait_for(self, snippet: str) -> None:
        """Wait for the step the snippet needs (the Go build goes on while others run)."""
        if snippet == "express" and self.npm_ci is not None:
            self.npm_ci.wait_ok()
        if snippet == "go":
            self.go_build.wait_ok()


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("snippets")


@pytest.fixture(scope="module")
def builds(log_dir: Path) -> Iterator[Builds]:
    env = toolchain_environ(hermetic_environ())
    npm_ci = start_npm_ci(env, log_dir)
    go_binary = log_dir / "snippet-go"
    go_build = start_go_build(env, go_binary, log_dir)
    yield Builds(npm_ci, go_build, go_binary)
    for process in (npm_ci, go_build):
        if process is not None:
            process.stop()


@pytest.fixture(scope="module")
def core(builds: Builds, pg_server_url: str, log_dir: Path) -> Iterator[Core]:
    port = free_port()
    with fresh_database(pg_server_url) as db:
        env = hermetic_environ(
            **core_env(db, AUTHARA_BIND=f"127.0.0.1:{port}", AUTHARA_CHALLENGE_ENABLED="false")
        )
        migrate = subprocess.run(
            [str(BIN / "authara-migrate"), "up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        process = start("core", [str(BIN / "authara-core")], env, log_dir)
        try:
            process.wait_listening(port)
            yield Core(f"127.0.0.1:{port}", env)
        finally:
            process.stop()


@pytest.fixture(scope="module", params=SNIPPETS)
def gateway(
    request: pytest.FixtureRequest, builds: Builds, core: Core, log_dir: Path
) -> Iterator[str]:
    """Run one snippet behind a gateway of its own; yield the gateway's base URL."""
    name: str = request.param
    builds.wait_for(name)
    app_port, gateway_port = free_port(), free_port()
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    argv, extra = snippet_command(name, builds.go_binary)
    app_env = {
        **toolchain_environ(hermetic_environ()),
        **extra,
        "PORT": str(app_port),
        "AUTHARA_URL": gateway_url,
    }
    app = start(name, argv, app_env, log_dir)
    gateway = start(
        f"gateway-{name}",
        [str(BIN / "authara-gateway")],
        hermetic_environ(
            APP_ENV="dev",
            LOG_LEVEL="warn",
            GATEWAY_BIND=f"127.0.0.1:{gateway_port}",
            AUTHARA_UPSTREAM=core.url,
            APP_UPSTREAM=f"127.0.0.1:{app_port}",
            AUTHARA_JWT_KEYS=f"{TEST_KID}:{TEST_KEY}",
            AUTHARA_JWT_ISSUER=ISSUER,
        ),
        log_dir,
    )
    try:
        app.wait_listening(app_port)
        gateway.wait_listening(gateway_port)
        yield gateway_url
    finally:
        gateway.stop()
        app.stop()


def _sign_up(client: Client, email: str) -> None:
    client.get("/auth/signup")  # sets authara_csrf, as the page a browser opens does
    reply = client.post_form(
        "/auth/signup?return_to=/me",
        {"csrf_token": client.cookies["authara_csrf"], "email": email, "password": PASSWORD},
    )
    # A new account is offered a passkey first (/auth/passkeys/setup), then goes on to /me.
    assert (reply.status, reply.headers["Location"]) == (
        303,
        "/auth/passkeys/setup?return_to=%2Fme",
    ), reply.body


def _log_in(client: Client, email: str) -> None:
    client.get(LOGIN_FOR_ME)
    reply = client.post_form(
        LOGIN_FOR_ME,
        {"csrf_token": client.cookies["authara_csrf"], "email": email, "password": PASSWORD},
    )
    assert (reply.status, reply.headers["Location"]) == (303, "/me"), reply.body


def _whoami(client: Client) -> tuple[str, str]:
    """Return the user id and active organization id core reports for the client's session."""
    reply = client.get("/auth/api/v1/user", headers={"Accept": "application/json"})
    assert reply.status == 200, reply.body
    user = json.loads(reply.body)
    return str(user["id"]), str(user["organization"]["id"])


def _page_text(body: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def _logout_form(body: str) -> tuple[str, dict[str, str]]:
    action = re.search(r'<form method="post" action="([^"]+)"', body)
    token = re.search(r'name="csrf_token" value="([^"]*)"', body)
    assert action and token, body
    return action.group(1), {"csrf_token": html.unescape(token.group(1))}


def test_public_page_is_open_to_anyone(gateway: str) -> None:
    reply = Client(gateway).get("/")
    assert reply.status == 200
    assert "Public page" in reply.body


def test_anonymous_me_is_sent_to_log_in_even_with_forged_headers(gateway: str) -> None:
    client = Client(gateway)
    assert client.get("/me").headers["Location"] == LOGIN_FOR_ME
    forged = client.get("/me", headers={"X-Authara-User-Id": str(uuid.uuid4())})
    assert (forged.status, forged.headers["Location"]) == (303, LOGIN_FOR_ME)


def test_me_shows_the_user_and_its_logout_form_logs_out(gateway: str, core: Core) -> None:
    client = Client(gateway)
    email = f"snippet-{uuid.uuid4().hex[:10]}@example.com"
    _sign_up(client, email)
    user_id, organization_id = _whoami(client)

    me = client.get("/me")
    assert me.status == 200, me.body
    shown = _page_text(me.body)
    assert f"User {user_id} <{email}>" in shown
    assert "roles []" in shown
    # Every account has a personal organization it owns (AUTHARA_ORGANIZATION_MODE default).
    assert f"organization {organization_id} (owner)" in shown

    action, fields = _logout_form(me.body)
    assert fields["csrf_token"] == client.cookies["authara_csrf"]
    logout = client.post_form(action, fields)
    assert logout.status == 303, logout.body
    assert "authara_access" not in client.cookies
    assert client.get("/me").headers["Location"] == LOGIN_FOR_ME

    granted = subprocess.run(
        [str(BIN / "authara-core"), "admin", "grant", email],
        env=core.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert granted.returncode == 0, granted.stderr
    _log_in(client, email)
    shown = _page_text(client.get("/me").body)
    assert f"User {user_id} <{email}>" in shown
    # Each language prints its list its own way: ['authara:admin'] or [authara:admin].
    assert re.search(r"roles \[\W*authara:admin\W*\]", shown), shown
