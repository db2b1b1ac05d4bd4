"""A user's own sessions: list, revoke one, revoke the others (pages with and without HTMX,
JSON), last use at refresh, the client IP at sign-in, hostile User-Agents."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp
import asyncpg
import jsonschema
import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application

from authara_contract import cookies
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.platform.openapi import SCHEMAS
from authara_core.settings import load_settings
from tests.coresupport import FakeClock, core_env
from tests.integration.core.conftest import ClientFactory, csrf_token, signup
from tests.integration.core.oauthsupport import at_provider, oauth_env, provider_env, start
from tests.oauthstubs import Account, OidcStandIn

Client = TestClient[object, Application]
PASSWORD = "correct horse battery"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
HTMX = {"HX-Request": "true"}


def session_list_schema() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": "#/components/schemas/SessionList", "components": {"schemas": SCHEMAS}},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def cookie(client: Client | aiohttp.ClientSession, name: str, base: str = "") -> str | None:
    jar = client.session.cookie_jar if isinstance(client, TestClient) else client.cookie_jar
    url = client.make_url("/") if isinstance(client, TestClient) else aiohttp.client.URL(base)
    found = jar.filter_cookies(url).get(name)
    return None if found is None else found.value


class Browser:
    """A second browser on the same server: its own cookie jar and User-Agent."""

    def __init__(self, client: Client, user_agent: str) -> None:
        self.base = str(client.make_url("/"))
        self.http = aiohttp.ClientSession(
            base_url=self.base,
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            headers={"User-Agent": user_agent},
        )

    def cookie(self, name: str) -> str | None:
        return cookie(self.http, name, self.base)

    async def login(self, email: str = "ada@example.com") -> None:
        await self.http.get("/auth/login")
        response = await self.http.post(
            "/auth/login",
            data={"email": email, "password": PASSWORD, "csrf_token": self.cookie("authara_csrf")},
            allow_redirects=False,
        )
        assert response.status == 303, await response.text()

    async def html_refresh(self) -> aiohttp.ClientResponse:
        return await self.http.post(
            "/auth/sessions/refresh?return_to=/somewhere",
            data={"csrf_token": self.cookie("authara_csrf")},
            allow_redirects=False,
        )

    async def api_refresh(self) -> aiohttp.ClientResponse:
        return await self.http.post(
            "/auth/api/v1/sessions/refresh",
            headers={"X-CSRF-Token": self.cookie("authara_csrf") or ""},
        )


@pytest.fixture
async def phone(client: Client) -> AsyncIterator[Browser]:
    browser = Browser(client, IPHONE)
    yield browser
    await browser.http.close()


async def signed_up(client: Client, email: str = "ada@example.com") -> None:
    response = await signup(client, email=email)
    assert response.status == 303


def csrf_of(client: Client) -> str:
    value = cookie(client, cookies.CSRF.name)
    assert value is not None
    return value


async def api_sessions(client: Client) -> list[dict[str, object]]:
    response = await client.get("/auth/api/v1/sessions")
    assert response.status == 200, await response.text()
    body = await response.json()
    session_list_schema().validate(body)
    return body["sessions"]


async def other_session_id(client: Client) -> str:
    (other,) = [s for s in await api_sessions(client) if not s["current"]]
    return str(other["id"])


async def post_form(
    client: Client, path: str, *, htmx: bool = False, csrf: bool = True
) -> aiohttp.ClientResponse:
    return await client.post(
        path,
        data={"csrf_token": csrf_of(client)} if csrf else {},
        headers=HTMX if htmx else {},
        allow_redirects=False,
    )


async def live_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval(
        "SELECT count(*) FROM sessions WHERE revoked_at IS NULL AND expires_at > now()"
    )


# Listing


async def test_account_page_lists_both_sessions_this_device_first(
    client: Client, phone: Browser
) -> None:
    await signed_up(client)
    await phone.login()
    response = await client.get("/auth/account")
    assert response.status == 200
    html = await response.text()
    assert html.count('data-testid="session"') == 2
    first = html.index('data-testid="session"')
    assert html.index('data-current="true"') < html.index('data-testid="session"', first + 1)
    assert "This device" in html
    assert "iPhone" in html and "Mobile Safari 17 on iOS 17.4" in html
    assert "127.0.0.1" in html
    assert html.count('data-testid="revoke-session"') == 1  # not on this device
    assert 'data-testid="revoke-other"' in html
    assert '<h2 id="sessions-heading">' in html


async def test_api_lists_sessions_current_first_with_device(client: Client, phone: Browser) -> None:
    await signed_up(client)
    await phone.login()
    sessions = await api_sessions(client)
    assert [s["current"] for s in sessions] == [True, False]
    other = sessions[1]
    assert other["device"] == "iPhone"
    assert other["os"] == "iOS 17.4"
    assert other["browser"] == "Mobile Safari 17"
    assert other["user_agent"] == IPHONE
    assert other["ip_address"] == "127.0.0.1"
    assert other["last_used_at"] == other["created_at"]


async def test_listing_leaves_out_revoked_and_expired_sessions(
    client: Client, phone: Browser, conn: asyncpg.Connection
) -> None:
    await signed_up(client)
    await phone.login()
    await phone.login()
    ids = [s["id"] for s in await api_sessions(client) if not s["current"]]
    await conn.execute("UPDATE sessions SET revoked_at = now() WHERE id = $1", uuid.UUID(ids[0]))
    await conn.execute(
        "UPDATE sessions SET expires_at = now() - interval '1 s' WHERE id = $1", uuid.UUID(ids[1])
    )
    assert [s["current"] for s in await api_sessions(client)] == [True]


async def test_anonymous_callers_are_refused(client: Client) -> None:
    token = await csrf_token(client)
    response = await client.get("/auth/api/v1/sessions")
    assert response.status == 401
    response = await client.post(
        "/auth/api/v1/sessions/revoke-others", headers={"X-CSRF-Token": token}
    )
    assert response.status == 401
    response = await client.delete(
        f"/auth/api/v1/sessions/{uuid.uuid4()}", headers={"X-CSRF-Token": token}
    )
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"
    for path in (f"/auth/sessions/{uuid.uuid4()}/revoke", "/auth/sessions/revoke-other"):
        response = await client.post(path, data={"csrf_token": token}, allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"] == "/auth/login?return_to=%2Fauth%2Faccount"


# Revoking one


async def test_html_revoke_signs_the_other_browser_out_at_its_next_refresh(
    client: Client, phone: Browser, conn: asyncpg.Connection
) -> None:
    await signed_up(client)
    await phone.login()
    other = await other_session_id(client)
    response = await post_form(client, f"/auth/sessions/{other}/revoke")
    assert response.status == 303
    assert response.headers["Location"] == "/auth/account"
    page = await (await client.get("/auth/account")).text()
    assert "The session was signed out." in page
    assert page.count('data-testid="session"') == 1
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM refresh_tokens WHERE session_id = $1", uuid.UUID(other)
        )
        == 0
    )
    refreshed = await phone.html_refresh()
    assert refreshed.status == 303
    assert refreshed.headers["Location"].startswith("/auth/login")
    assert phone.cookie(cookies.REFRESH.name) in (None, "")
    # This browser is still signed in, and still refreshes.
    assert (await client.get("/auth/api/v1/user")).status == 200
    response = await client.post(
        "/auth/api/v1/sessions/refresh", headers={"X-CSRF-Token": csrf_of(client)}
    )
    assert response.status == 200


async def test_htmx_revoke_answers_the_section_and_a_toast(client: Client, phone: Browser) -> None:
    await signed_up(client)
    await phone.login()
    other = await other_session_id(client)
    response = await post_form(client, f"/auth/sessions/{other}/revoke", htmx=True)
    assert response.status == 200
    html = await response.text()
    assert '<section id="sessions"' in html
    assert "<html" not in html
    assert html.count('data-testid="session"') == 1
    assert "The session was signed out." in html
    assert (
        '<div id="toasts" hx-swap-oob="innerHTML"><div class="toast ok" role="status" '
        'data-testid="toast"><p>The session was signed out.</p>'
    ) in html
    api = await phone.api_refresh()
    assert api.status == 401
    assert (await api.json())["error"]["message"] == "Invalid refresh token"


async def test_json_revoke_returns_204_and_the_other_refresh_gets_401(
    client: Client, phone: Browser
) -> None:
    await signed_up(client)
    await phone.login()
    other = await other_session_id(client)
    response = await client.delete(
        f"/auth/api/v1/sessions/{other}", headers={"X-CSRF-Token": csrf_of(client)}
    )
    assert response.status == 204
    assert (await phone.api_refresh()).status == 401
    assert [s["current"] for s in await api_sessions(client)] == [True]


@pytest.mark.parametrize("htmx", [False, True])
async def test_revoking_another_users_session_changes_nothing(
    client: Client, phone: Browser, conn: asyncpg.Connection, htmx: bool
) -> None:
    await signed_up(client, "grace@example.com")
    grace_session = (await api_sessions(client))[0]["id"]
    client.session.cookie_jar.clear()
    await signed_up(client)
    await phone.login()
    before = await live_count(conn)
    response = await post_form(client, f"/auth/sessions/{grace_session}/revoke", htmx=htmx)
    if htmx:
        assert response.status == 422
        html = await response.text()
        assert response.headers["HX-Reswap"] == "none"
        assert "<html" not in html
    else:  # back to the account page, the message in a flash
        assert response.status == 303 and response.headers["Location"] == "/auth/account"
        html = await (await client.get("/auth/account", allow_redirects=False)).text()
        assert '<h2 id="sessions-heading">' in html
        assert 'role="alert" data-testid="flash"' in html
    assert "That session was not found or has already ended." in html
    response = await client.delete(
        f"/auth/api/v1/sessions/{grace_session}", headers={"X-CSRF-Token": csrf_of(client)}
    )
    assert response.status == 422
    assert await response.json() == {
        "error": {
            "code": "invalid_request",
            "message": "That session was not found or has already ended.",
        }
    }
    assert await live_count(conn) == before == 3


@pytest.mark.parametrize("htmx", [False, True])
async def test_unknown_and_malformed_ids(client: Client, htmx: bool) -> None:
    await signed_up(client)
    unknown = await post_form(client, f"/auth/sessions/{uuid.uuid4()}/revoke", htmx=htmx)
    assert unknown.status == (422 if htmx else 303)
    for bad in ("not-a-uuid", f"urn:uuid:{uuid.uuid4()}", uuid.uuid4().hex, "%00", "1" * 500):
        response = await post_form(client, f"/auth/sessions/{bad}/revoke", htmx=htmx)
        if htmx:
            assert response.status == 400, bad
            assert response.headers["HX-Reswap"] == "none"
            assert "The session id must be a UUID." in await response.text()
        else:
            assert response.status == 303, bad
            page = await client.get("/auth/account", allow_redirects=False)
            assert "The session id must be a UUID." in await page.text()
    token = {"X-CSRF-Token": csrf_of(client)}
    response = await client.delete(f"/auth/api/v1/sessions/{uuid.uuid4()}", headers=token)
    assert response.status == 422
    response = await client.delete("/auth/api/v1/sessions/nope", headers=token)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_request"
    assert [s["current"] for s in await api_sessions(client)] == [True]


async def test_missing_csrf_is_403_everywhere(client: Client, phone: Browser) -> None:
    await signed_up(client)
    await phone.login()
    other = await other_session_id(client)
    for path in (f"/auth/sessions/{other}/revoke", "/auth/sessions/revoke-other"):
        response = await post_form(client, path, csrf=False)
        assert response.status == 403
    assert (await client.delete(f"/auth/api/v1/sessions/{other}")).status == 403
    assert (await client.post("/auth/api/v1/sessions/revoke-others")).status == 403
    assert len(await api_sessions(client)) == 2


async def test_revoking_this_session_signs_this_browser_out(client: Client) -> None:
    await signed_up(client)
    (mine,) = await api_sessions(client)
    response = await post_form(client, f"/auth/sessions/{mine['id']}/revoke")
    assert response.status == 303
    assert response.headers["Location"].startswith("/auth/login")
    assert cookie(client, cookies.REFRESH.name) in (None, "")


async def test_json_revoke_of_this_session_clears_its_cookies(client: Client) -> None:
    await signed_up(client)
    (mine,) = await api_sessions(client)
    response = await client.delete(
        f"/auth/api/v1/sessions/{mine['id']}", headers={"X-CSRF-Token": csrf_of(client)}
    )
    assert response.status == 204
    assert cookie(client, cookies.ACCESS.name) in (None, "")
    assert cookie(client, cookies.REFRESH.name) in (None, "")


# Revoking the others


@pytest.mark.parametrize("variant", ["html", "htmx", "json"])
async def test_revoke_other_keeps_this_session(
    client: Client, phone: Browser, conn: asyncpg.Connection, variant: str
) -> None:
    await signed_up(client)
    await phone.login()
    await phone.login()
    if variant == "json":
        response = await client.post(
            "/auth/api/v1/sessions/revoke-others", headers={"X-CSRF-Token": csrf_of(client)}
        )
        assert response.status == 200
        assert await response.json() == {"revoked": 2}
    else:
        response = await post_form(client, "/auth/sessions/revoke-other", htmx=variant == "htmx")
        if variant == "htmx":
            assert response.status == 200
            html = await response.text()
            assert "Signed out 2 other sessions." in html
            assert html.count('data-testid="session"') == 1
            assert "You're not signed in anywhere else." in html
        else:
            assert response.status == 303
            page = await (await client.get("/auth/account")).text()
            assert "Signed out 2 other sessions." in page
    assert await live_count(conn) == 1
    assert (await phone.api_refresh()).status == 401
    response = await client.post(
        "/auth/api/v1/sessions/refresh", headers={"X-CSRF-Token": csrf_of(client)}
    )
    assert response.status == 200
    assert (await client.get("/auth/api/v1/user")).status == 200


async def test_revoke_other_with_nobody_else(client: Client) -> None:
    await signed_up(client)
    response = await post_form(client, "/auth/sessions/revoke-other")
    assert response.status == 303
    page = await (await client.get("/auth/account")).text()
    assert "There were no other sessions to sign out." in page


# Last use, IP, User-Agent


async def fake_clock_client(
    aiohttp_client: ClientFactory, db: DatabaseSettings, clock: FakeClock, **env: str
) -> Client:
    return await aiohttp_client(create_app(load_settings(core_env(db, **env)), clock=clock))


async def test_last_used_moves_at_refresh_not_at_get_user(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    clock = FakeClock()
    client = await fake_clock_client(aiohttp_client, db, clock)
    await signed_up(client)
    started = clock.now()

    async def last_used() -> object:
        return await conn.fetchval("SELECT last_used_at FROM sessions")

    assert await last_used() == started
    clock.advance(minutes=2)
    assert (await client.get("/auth/api/v1/user")).status == 200
    assert await last_used() == started
    refresh = await client.post(
        "/auth/api/v1/sessions/refresh", headers={"X-CSRF-Token": csrf_of(client)}
    )
    assert refresh.status == 200
    assert await last_used() == clock.now()
    (listed,) = await api_sessions(client)
    assert listed["last_used_at"] != listed["created_at"]
    moved = clock.now()
    clock.advance(seconds=30)  # within a minute: not written again
    refresh = await client.post(
        "/auth/api/v1/sessions/refresh", headers={"X-CSRF-Token": csrf_of(client)}
    )
    assert refresh.status == 200
    assert await last_used() == moved


async def test_sessions_from_before_last_used_show_their_start(
    client: Client, conn: asyncpg.Connection
) -> None:
    await signed_up(client)
    await conn.execute("UPDATE sessions SET last_used_at = NULL, ip_address = NULL")
    (listed,) = await api_sessions(client)
    assert listed["last_used_at"] == listed["created_at"]
    assert listed["ip_address"] is None
    page = await (await client.get("/auth/account")).text()
    assert "Unknown" in page


async def test_ip_behind_a_trusted_proxy_is_the_last_hop(
    aiohttp_client: ClientFactory, db: DatabaseSettings
) -> None:
    client = await fake_clock_client(
        aiohttp_client, db, FakeClock(), AUTHARA_TRUST_PROXY_HEADERS="true"
    )
    token = await csrf_token(client, "/auth/signup")
    response = await client.post(
        "/auth/signup",
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": token},
        headers={"X-Forwarded-For": "203.0.113.7, 2001:db8::1"},
        allow_redirects=False,
    )
    assert response.status == 303
    (listed,) = await api_sessions(client)
    assert listed["ip_address"] == "2001:db8::1"


async def test_forwarded_header_is_ignored_without_trust(client: Client) -> None:
    token = await csrf_token(client, "/auth/signup")
    response = await client.post(
        "/auth/signup",
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": token},
        headers={"X-Forwarded-For": "203.0.113.7"},
        allow_redirects=False,
    )
    assert response.status == 303
    (listed,) = await api_sessions(client)
    assert listed["ip_address"] == "127.0.0.1"


HOSTILE_AGENTS = {
    "2 KB": b"Mozilla/5.0 " + b"x" * 2048,
    "invalid bytes": b"Mozilla/5.0 \xff\xfe\xc3 (not UTF-8)",
}


async def raw_post(client: Client, path: str, headers: dict[str, bytes], body: bytes) -> bytes:
    """POST with header bytes exactly as given (a client library would re-encode them)."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    head = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers.items())
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {client.host}:{client.port}\r\n".encode()
        + head
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


@pytest.mark.parametrize("name", sorted(HOSTILE_AGENTS))
async def test_long_or_broken_user_agents_sign_in_on_html_and_json(
    client: Client, conn: asyncpg.Connection, name: str
) -> None:
    await signed_up(client)
    token = csrf_of(client).encode()
    agent = HOSTILE_AGENTS[name]
    form = urlencode({"email": "ada@example.com", "password": PASSWORD, "csrf_token": token})
    page = await raw_post(
        client,
        "/auth/login",
        {
            "User-Agent": agent,
            "Cookie": b"authara_csrf=" + token,
            "Content-Type": b"application/x-www-form-urlencoded",
        },
        form.encode(),
    )
    assert page.startswith(b"HTTP/1.1 303 "), page[:300]
    api = await raw_post(
        client,
        "/auth/api/v1/login",
        {
            "User-Agent": agent,
            "Cookie": b"authara_csrf=" + token,
            "X-CSRF-Token": token,
            "Content-Type": b"application/json",
        },
        json.dumps({"email": "ada@example.com", "password": PASSWORD}).encode(),
    )
    assert api.startswith(b"HTTP/1.1 200 "), api[:300]
    stored = await conn.fetch("SELECT user_agent FROM sessions ORDER BY created_at")
    assert len(stored) == 3
    assert all(len(row["user_agent"]) <= 255 for row in stored)
    assert stored[-1]["user_agent"].startswith("Mozilla/5.0 ")
    # The account page lists them all.
    assert (await client.get("/auth/account")).status == 200
    assert len(await api_sessions(client)) == 3


async def test_every_kind_of_sign_in_records_the_ip(
    aiohttp_client: ClientFactory, db: DatabaseSettings, corp: OidcStandIn, conn: asyncpg.Connection
) -> None:
    env = oauth_env(
        db, {"corp": provider_env("corp", corp.url)}, AUTHARA_TRUST_PROXY_HEADERS="true"
    )
    client = await aiohttp_client(create_app(load_settings(env), clock=FakeClock()))
    # JSON signup, then JSON login
    token = await csrf_token(client, "/auth/signup")
    signup_api = await client.post(
        "/auth/api/v1/signup/direct",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers={"X-CSRF-Token": token, "X-Forwarded-For": "198.51.100.1"},
    )
    assert signup_api.status == 201
    login_api = await client.post(
        "/auth/api/v1/login",
        json={"email": "ada@example.com", "password": PASSWORD},
        headers={"X-CSRF-Token": csrf_of(client), "X-Forwarded-For": "198.51.100.2"},
    )
    assert login_api.status == 200
    # An OpenID Connect redirect flow (its callback is the sign-in)
    corp.account = Account("corp-grace", "grace@example.com")
    callback = await at_provider(await start(client, "corp"))
    signed_in = await client.get(
        callback, headers={"X-Forwarded-For": "198.51.100.3"}, allow_redirects=False
    )
    assert signed_in.status == 303
    rows = await conn.fetch("SELECT ip_address FROM sessions ORDER BY created_at, ip_address")
    assert sorted(row["ip_address"] for row in rows) == [
        "198.51.100.1",
        "198.51.100.2",
        "198.51.100.3",
    ]


async def test_a_signed_out_browser_cannot_sign_out_the_others_with_its_access_token(
    client: Client, phone: Browser, conn: asyncpg.Connection
) -> None:
    await signed_up(client)
    await phone.login()
    other = await other_session_id(client)
    mine = next(s["id"] for s in await api_sessions(client) if s["current"])
    revoked = await client.delete(
        f"/auth/api/v1/sessions/{other}", headers={"X-CSRF-Token": csrf_of(client)}
    )
    assert revoked.status == 204
    # The phone's access token is still valid for minutes, its session is not.
    token = {"X-CSRF-Token": phone.cookie("authara_csrf") or ""}
    answer = await phone.http.delete(f"/auth/api/v1/sessions/{mine}", headers=token)
    assert answer.status == 401
    answer = await phone.http.post("/auth/api/v1/sessions/revoke-others", headers=token)
    assert answer.status == 401
    for path in (f"/auth/sessions/{mine}/revoke", "/auth/sessions/revoke-other"):
        page = await phone.http.post(
            path, data={"csrf_token": phone.cookie("authara_csrf")}, allow_redirects=False
        )
        assert page.status == 303
        assert page.headers["Location"].startswith("/auth/login")
    assert await live_count(conn) == 1
    assert (await client.get("/auth/api/v1/user")).status == 200
