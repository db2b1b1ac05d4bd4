"""The gateway with the real core on a real database: transparent refresh and protected paths."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import unquote

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiohttp.typedefs import Handler
from pytest_aiohttp import AiohttpServer
from yarl import URL

from authara_contract import cookies, routes
from authara_contract.claims import Audience
from authara_contract.database import DatabaseSettings
from authara_contract.errors import ErrorCode, error_body
from authara_contract.return_to import with_return_to
from authara_contract.tokens import KeySet, decode_access_token, encode_access_token
from authara_core.app import create_app as create_core_app
from authara_core.settings import load_settings as load_core_settings
from authara_gateway.app import create_app as create_gateway_app
from authara_gateway.settings import GatewaySettings, IdentitySettings, TimeoutSettings, Upstream
from tests.coresupport import ISSUER, TEST_KID, core_env
from tests.integration.gateway.support import free_port
from tests.tokensupport import sign_claims

KEYS: Final = KeySet(keys={TEST_KID: b"k" * 32}, active_kid=TEST_KID)
PASSWORD: Final = "correct horse battery"
BROWSER_ACCEPT: Final = "text/html,application/xhtml+xml,*/*;q=0.8"
SESSION_NAMES: Final = (cookies.ACCESS.name, cookies.REFRESH.name)


# --- the app behind the gateway --------------------------------------------------------------

CORE_URL_KEY: Final = web.AppKey("core_url", URL)
HTTP_KEY: Final = web.AppKey("http", aiohttp.ClientSession)


async def _app_whoami(request: web.Request) -> web.Response:
    """Echo the identity headers and the Cookie header, then ask core who this is."""
    cookie_header = request.headers.get("Cookie", "")
    async with request.app[HTTP_KEY].get(
        request.app[CORE_URL_KEY].with_path(routes.API_USER),
        headers={"Cookie": cookie_header, "Accept": "application/json"},
    ) as core_answer:
        core_user = await core_answer.json() if core_answer.status == 200 else None
    return web.json_response(
        {
            "user_id": request.headers.get("X-Authara-User-Id"),
            "session_id": request.headers.get("X-Authara-Session-Id"),
            "cookie": cookie_header,
            "core_user_id": core_user["id"] if core_user else None,
        }
    )


def demo_app(core_url: URL) -> web.Application:
    """An app that trusts the identity headers and calls core server-side, like the demo."""
    app = web.Application()
    app[CORE_URL_KEY] = core_url

    async def client(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            app[HTTP_KEY] = http
            yield

    app.cleanup_ctx.append(client)
    app.router.add_route("*", "/{tail:.*}", _app_whoami)
    return app


# --- fixtures ----------------------------------------------------------------------------------


@dataclass
class Stack:
    """Core, the app and the gateway on real sockets, and what reached core's refresh route."""

    core: TestServer
    app: TestServer
    gateway: TestServer
    refresh_calls: list[str] = field(default_factory=list)

    def url(self, path: str) -> URL:
        return self.gateway.make_url(path)

    def raw_url(self, target: str) -> URL:
        """Build a URL whose path and query reach the gateway byte for byte."""
        return URL(f"http://127.0.0.1:{self.gateway.port}{target}", encoded=True)


MakeStack = Callable[..., Awaitable[Stack]]


def _count_refreshes(calls: list[str]) -> Any:
    @web.middleware
    async def count(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == routes.API_SESSIONS_REFRESH:
            calls.append(request.cookies.get(cookies.REFRESH.name, ""))
        return await handler(request)

    return count


@pytest.fixture
def make_stack(aiohttp_server: AiohttpServer, db: DatabaseSettings) -> MakeStack:
    async def make(*, core_down: bool = False, **overrides: Any) -> Stack:
        calls: list[str] = []
        # Strict rotation: presenting a rotated refresh token twice revokes the session, so
        # a gateway that refreshed twice would be caught.
        core_app = create_core_app(
            load_core_settings(
                core_env(
                    db,
                    AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL="always",
                    AUTHARA_REFRESH_TOKEN_REUSE_GRACE="0s",
                )
            )
        )
        core_app.middlewares.append(_count_refreshes(calls))
        core = await aiohttp_server(core_app)
        app = await aiohttp_server(demo_app(core.make_url("/")))
        assert core.port is not None
        assert app.port is not None
        core_port = free_port() if core_down else core.port
        values: dict[str, Any] = {
            "bind_host": "127.0.0.1",
            "bind_port": 0,
            "auth_upstreams": (Upstream("127.0.0.1", core_port),),
            "app_upstreams": (Upstream("127.0.0.1", app.port),),
            "identity": IdentitySettings(keys=KEYS, issuer=ISSUER),
            "protected_paths": ("/private",),
            "timeouts": TimeoutSettings(connect=2.0, read=10.0),
            **overrides,
        }
        gateway = await aiohttp_server(create_gateway_app(GatewaySettings(**values)))
        return Stack(core=core, app=app, gateway=gateway, refresh_calls=calls)

    return make


@pytest.fixture
async def stack(make_stack: MakeStack) -> Stack:
    return await make_stack()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # No cookie jar: every test says exactly which cookies each request carries.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


# --- helpers -----------------------------------------------------------------------------------


def _set_cookies(response: aiohttp.ClientResponse) -> dict[str, str]:
    """Map cookie name to the whole Set-Cookie header setting it."""
    return {header.split("=", 1)[0]: header for header in response.headers.getall("Set-Cookie", ())}


def _value(set_cookie: str) -> str:
    return set_cookie.split(";", 1)[0].split("=", 1)[1]


def _cookie_header(values: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in values.items())


async def _signup(stack: Stack, http: aiohttp.ClientSession, email: str) -> dict[str, str]:
    """Create an account through the gateway; return the cookies the browser would hold."""
    async with http.get(stack.url(routes.API_CSRF)) as response:
        csrf = (await response.json())["csrf_token"]
    async with http.post(
        stack.url(routes.API_SIGNUP_DIRECT),
        json={"email": email, "password": PASSWORD},
        headers={"X-CSRF-Token": csrf, "Cookie": f"{cookies.CSRF.name}={csrf}"},
    ) as response:
        assert response.status == 201, await response.text()
        set_cookies = _set_cookies(response)
    return {
        cookies.CSRF.name: csrf,
        **{name: _value(set_cookies[name]) for name in SESSION_NAMES},
    }


def _expired_copy(access_token: str) -> str:
    """Sign a token for the same user and session that expired an hour ago."""
    claims = decode_access_token(access_token, keys=KEYS, issuer=ISSUER, audiences=(Audience.APP,))
    return encode_access_token(
        keys=KEYS,
        issuer=ISSUER,
        user_id=claims.user_id,
        session_id=claims.session_id,
        organization_id=claims.organization_id,
        organization_role=claims.organization_role,
        audience=Audience.APP,
        roles=(),
        now=datetime.now(UTC) - timedelta(hours=1),
        ttl=timedelta(minutes=10),
    )


def _user_id(access_token: str) -> str:
    claims = decode_access_token(access_token, keys=KEYS, issuer=ISSUER, audiences=(Audience.APP,))
    return str(claims.user_id)


async def _whoami(
    stack: Stack, http: aiohttp.ClientSession, held: dict[str, str], path: str = "/whoami"
) -> tuple[aiohttp.ClientResponse, dict[str, Any]]:
    async with http.get(stack.url(path), headers={"Cookie": _cookie_header(held)}) as response:
        assert response.status == 200, await response.text()
        return response, await response.json()


# --- identity and refresh ------------------------------------------------------------------


async def test_a_signed_in_user_reaches_the_app_without_a_refresh(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    held = await _signup(stack, http, "ada@example.com")

    response, seen = await _whoami(stack, http, held)

    assert seen["user_id"] == _user_id(held[cookies.ACCESS.name])
    assert seen["core_user_id"] == seen["user_id"]
    assert "Set-Cookie" not in response.headers
    assert stack.refresh_calls == []


@pytest.mark.parametrize("access", ["expired", "missing", "garbage", "exp-out-of-range"])
async def test_expired_access_and_valid_refresh_give_identity_and_new_cookies(
    stack: Stack, http: aiohttp.ClientSession, access: str
) -> None:
    held = await _signup(stack, http, "ada@example.com")
    user_id = _user_id(held[cookies.ACCESS.name])
    stale = {
        "expired": _expired_copy(held[cookies.ACCESS.name]),
        "garbage": "not-a-jwt",
        # Validly signed, but its exp is beyond any date: invalid like the others.
        "exp-out-of-range": sign_claims(KEYS, ISSUER, int(time.time()), exp=10**30),
    }
    browser = {**held, "theme": "dark"}
    if access == "missing":
        del browser[cookies.ACCESS.name]
    else:
        browser[cookies.ACCESS.name] = stale[access]

    response, seen = await _whoami(stack, http, browser)

    assert seen["user_id"] == user_id
    set_cookies = _set_cookies(response)
    new_access = _value(set_cookies[cookies.ACCESS.name])
    new_refresh = _value(set_cookies[cookies.REFRESH.name])
    assert _user_id(new_access) == user_id
    assert new_refresh != held[cookies.REFRESH.name]  # core rotates on every refresh here
    assert response.headers["Cache-Control"] == "no-store"
    # The app, and its own server-side call to core, see the new session, not the old one.
    forwarded = dict(pair.split("=", 1) for pair in seen["cookie"].split("; "))
    assert forwarded[cookies.ACCESS.name] == new_access
    assert forwarded[cookies.REFRESH.name] == new_refresh
    assert forwarded["theme"] == "dark"
    assert seen["core_user_id"] == user_id
    assert stack.refresh_calls == [held[cookies.REFRESH.name]]


async def test_twenty_concurrent_requests_share_one_refresh(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    held = await _signup(stack, http, "ada@example.com")
    user_id = _user_id(held[cookies.ACCESS.name])
    browser = {**held, cookies.ACCESS.name: _expired_copy(held[cookies.ACCESS.name])}

    results = await asyncio.gather(*(_whoami(stack, http, browser) for _ in range(20)))

    assert stack.refresh_calls == [held[cookies.REFRESH.name]]
    assert [seen["user_id"] for _, seen in results] == [user_id] * 20
    assert [seen["core_user_id"] for _, seen in results] == [user_id] * 20
    new_access = {_value(_set_cookies(response)[cookies.ACCESS.name]) for response, _ in results}
    assert len(new_access) == 1
    # The session survived: core never saw the rotated token a second time.
    _, later = await _whoami(stack, http, {cookies.ACCESS.name: new_access.pop()})
    assert later["core_user_id"] == user_id


async def test_later_requests_still_carrying_the_old_cookies_reuse_the_refresh(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    # A page's other requests left the browser before the new cookies came back.
    held = await _signup(stack, http, "ada@example.com")
    user_id = _user_id(held[cookies.ACCESS.name])
    browser = {**held, cookies.ACCESS.name: _expired_copy(held[cookies.ACCESS.name])}

    first, _ = await _whoami(stack, http, browser)
    second, seen = await _whoami(stack, http, browser)

    assert seen["user_id"] == user_id
    assert seen["core_user_id"] == user_id
    assert _set_cookies(second) == _set_cookies(first)
    assert stack.refresh_calls == [held[cookies.REFRESH.name]]


async def test_a_refused_refresh_clears_the_session_and_continues_anonymous(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    browser = {
        cookies.ACCESS.name: "expired-or-whatever",
        cookies.REFRESH.name: "not-a-real-refresh-token",
        cookies.CSRF.name: "c" * 43,
        "theme": "dark",
    }

    response, seen = await _whoami(stack, http, browser)

    assert seen["user_id"] is None
    assert seen["cookie"] == f"{cookies.CSRF.name}={'c' * 43}; theme=dark"
    set_cookies = _set_cookies(response)
    for name in SESSION_NAMES:
        assert _value(set_cookies[name]) in ("", '""'), set_cookies[name]
        assert "max-age=0" in set_cookies[name].lower()
    assert response.headers["Cache-Control"] == "no-store"
    assert len(stack.refresh_calls) == 1


async def test_core_unreachable_keeps_the_cookies_and_continues_anonymous(
    make_stack: MakeStack, http: aiohttp.ClientSession
) -> None:
    stack = await make_stack(core_down=True)
    browser = {cookies.REFRESH.name: "some-refresh-token", "theme": "dark"}

    async with http.get(
        stack.url("/whoami"), headers={"Cookie": _cookie_header(browser)}
    ) as response:
        # The app's own call to core fails too; it still answers.
        assert response.status == 200
        seen = await response.json()

    assert seen["user_id"] is None
    assert seen["cookie"] == _cookie_header(browser)
    assert "Set-Cookie" not in response.headers


async def test_identity_and_refresh_never_apply_to_core_routes(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    held = await _signup(stack, http, "ada@example.com")
    browser = {**held, cookies.ACCESS.name: _expired_copy(held[cookies.ACCESS.name])}

    async with http.get(
        stack.url(routes.API_USER), headers={"Cookie": _cookie_header(browser)}
    ) as response:
        assert response.status == 401

    assert stack.refresh_calls == []


# --- protected paths -----------------------------------------------------------------------


async def test_anonymous_browser_is_sent_to_login_with_the_full_path_and_query(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    async with http.get(
        stack.raw_url("/private/report%20one?year=2026&next=%2Fa%3Fb"),
        headers={"Accept": BROWSER_ACCEPT},
        allow_redirects=False,
    ) as response:
        assert response.status == 303
        location = response.headers["Location"]
        assert response.headers["Cache-Control"] == "no-store"

    path, _, query = location.partition("?")
    assert path == routes.LOGIN
    assert query.startswith("return_to=")
    assert unquote(query.removeprefix("return_to=")) == (
        "/private/report%20one?year=2026&next=%2Fa%3Fb"
    )
    async with http.get(stack.raw_url(location), headers={"Accept": BROWSER_ACCEPT}) as login:
        assert login.status == 200  # core accepts the return_to and shows its login page
        # ...and carries it on to its signup link, still the whole original target.
        assert (
            with_return_to(routes.SIGNUP, unquote(query.removeprefix("return_to="))).replace(
                "&", "&amp;"
            )
            in await login.text()
        )


@pytest.mark.parametrize(
    ("method", "accept"),
    [("GET", "application/json"), ("GET", "*/*"), ("POST", BROWSER_ACCEPT), ("DELETE", "")],
)
async def test_anonymous_non_page_requests_get_a_401_envelope(
    stack: Stack, http: aiohttp.ClientSession, method: str, accept: str
) -> None:
    async with http.request(
        method, stack.url("/private/data"), headers={"Accept": accept}, allow_redirects=False
    ) as response:
        assert response.status == 401
        body = await response.read()

    assert body == error_body(ErrorCode.UNAUTHORIZED, json.loads(body)["error"]["message"])


@pytest.mark.parametrize(
    "path", ["/private", "//private/x", "/public/../private", "/PRIVATE/x", "/private;a=b/x"]
)
async def test_protection_survives_path_tricks(
    stack: Stack, http: aiohttp.ClientSession, path: str
) -> None:
    async with http.get(
        stack.raw_url(path),
        headers={"Accept": "application/json"},
        allow_redirects=False,
    ) as response:
        assert response.status == 401, path


@pytest.mark.parametrize("path", ["/", "/public", "/privateer", "/whoami"])
async def test_unprotected_paths_stay_open(
    stack: Stack, http: aiohttp.ClientSession, path: str
) -> None:
    async with http.get(stack.url(path), headers={"Accept": BROWSER_ACCEPT}) as response:
        assert response.status == 200
        assert (await response.json())["user_id"] is None


async def test_signed_in_or_refreshable_users_pass_protected_paths(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    held = await _signup(stack, http, "ada@example.com")
    user_id = _user_id(held[cookies.ACCESS.name])

    _, signed_in = await _whoami(stack, http, held, "/private/page")
    _, refreshed = await _whoami(
        stack, http, {cookies.REFRESH.name: held[cookies.REFRESH.name]}, "/private/page"
    )

    assert signed_in["user_id"] == user_id
    assert refreshed["user_id"] == user_id


async def test_a_refused_refresh_on_a_protected_page_redirects_and_clears(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    async with http.get(
        stack.url("/private"),
        headers={"Accept": BROWSER_ACCEPT, "Cookie": f"{cookies.REFRESH.name}=bogus"},
        allow_redirects=False,
    ) as response:
        assert response.status == 303
        set_cookies = _set_cookies(response)

    assert set(SESSION_NAMES) <= set(set_cookies)
    assert all("max-age=0" in set_cookies[name].lower() for name in SESSION_NAMES)


async def test_a_forged_identity_never_opens_a_protected_path(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    forged = {"X-Authara-User-Id": str(uuid.uuid4()), "x-authara-roles": "authara:admin"}

    async with http.get(
        stack.url("/private"), headers={**forged, "Accept": "application/json"}
    ) as response:
        assert response.status == 401
