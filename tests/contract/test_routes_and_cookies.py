"""Core serves the contract's routes and sets cookies with exactly its attributes."""

from __future__ import annotations

from http.cookies import SimpleCookie

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from authara_contract import cookies, routes
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.platform.cookies import CookieWriter
from authara_core.platform.flash import Flash, set_flash
from authara_core.settings import load_settings
from tests.coresupport import FakeClock, core_env
from tests.integration.core.conftest import signup

DB_FOR_COOKIES = DatabaseSettings(
    host="127.0.0.1", port=5432, database="authara", username="postgres"
)
EXPECTED_ROUTES = {
    ("GET", routes.HEALTH),
    ("GET", routes.BRAND_CSS),
    ("GET", routes.BRAND_FILE),
    ("GET", routes.VERSION),
    ("GET", routes.LOGIN),
    ("POST", routes.LOGIN),
    ("GET", routes.SIGNUP),
    ("POST", routes.SIGNUP),
    ("POST", routes.LOGOUT),
    ("POST", routes.LOGOUT_ALIAS),
    ("GET", routes.API_USER),
    ("GET", routes.API_CSRF),
    ("POST", routes.API_LOGOUT),
    ("GET", routes.API_GOOGLE_OPTIONS),
    ("POST", routes.API_GOOGLE_LOGIN),
    ("GET", routes.OAUTH_START),
    ("GET", routes.OAUTH_CALLBACK),
    ("POST", routes.OAUTH_LINK),
    ("GET", routes.PROVIDER_LINK_CONFIRM),
    ("POST", routes.PROVIDER_LINK_CONFIRM),
    ("GET", routes.ACCOUNT),
    ("POST", routes.PROVIDER_UNLINK),
    ("POST", routes.USERNAME_CHANGE),
    ("GET", routes.PASSWORD_ADD),
    ("GET", routes.PASSWORD_CHANGE),
    ("POST", routes.PASSWORD_CHANGE),
    ("POST", routes.PASSWORD_LINK),
    ("POST", routes.ACCOUNT_DELETE),
    ("GET", routes.ACCOUNT_DELETED),
    ("PUT", routes.API_USER_PASSWORD),
    ("POST", routes.SESSION_REVOKE),
    ("POST", routes.SESSIONS_REVOKE_OTHER),
}


def test_core_registers_the_contract_routes(db: DatabaseSettings) -> None:
    app = create_app(load_settings(core_env(db)))
    registered = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    assert registered >= EXPECTED_ROUTES


def _set_cookies(headers: object) -> dict[str, str]:
    raw = {}
    for value in headers.getall("Set-Cookie"):  # type: ignore[attr-defined]
        raw[value.split("=", 1)[0]] = value
    return raw


def _attrs(header: str) -> dict[str, str]:
    parsed = SimpleCookie()
    parsed.load(header)
    (morsel,) = parsed.values()
    return {k: v for k, v in morsel.items() if v}


@pytest.mark.parametrize(("app_env", "secure"), [("dev", False), ("prod", True)])
async def test_session_cookie_attributes(
    aiohttp_client, db: DatabaseSettings, app_env: str, secure: bool
) -> None:
    env = core_env(db, APP_ENV=app_env, PUBLIC_URL="https://auth.example.com")
    client: TestClient = await aiohttp_client(create_app(load_settings(env)))
    page = await client.get(routes.SIGNUP)
    token = page.cookies[
        cookies.CSRF.name
    ].value  # a Secure cookie: the jar will not send it over http
    response = await client.post(
        routes.SIGNUP,
        data={"email": "ada@example.com", "password": "correct horse battery", "csrf_token": token},
        cookies={cookies.CSRF.name: token},
        allow_redirects=False,
    )
    assert response.status == 303
    set_cookies = _set_cookies(response.headers)
    expected_max_age = {
        cookies.ACCESS.name: "600",
        cookies.REFRESH.name: str(14 * 86400),
        cookies.CSRF.name: str(30 * 86400),
    }
    for spec in (cookies.ACCESS, cookies.REFRESH, cookies.CSRF):
        header = set_cookies[spec.name]
        attrs = _attrs(header)
        assert attrs["path"] == "/"
        assert attrs["samesite"] == "Lax"
        assert attrs["max-age"] == expected_max_age[spec.name]
        assert "expires" in attrs
        assert "domain" not in attrs
        assert ("HttpOnly" in header) is spec.http_only
        assert ("Secure" in header) is secure


async def test_cleared_cookies_keep_their_attributes(aiohttp_client, db: DatabaseSettings) -> None:
    client: TestClient = await aiohttp_client(create_app(load_settings(core_env(db))))
    await signup(client)
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))[cookies.CSRF.name].value
    response = await client.post(routes.LOGOUT, data={"csrf_token": token}, allow_redirects=False)
    set_cookies = _set_cookies(response.headers)
    for spec in cookies.SESSION_COOKIES:
        header = set_cookies[spec.name]
        attrs = _attrs(header)
        assert attrs["max-age"] == "0"
        assert attrs["path"] == "/"
        assert attrs["samesite"] == "Lax"
        assert "HttpOnly" in header


@pytest.mark.parametrize(("app_env", "secure"), [("dev", False), ("prod", True)])
def test_oauth_cookie_attributes(app_env: str, secure: bool) -> None:
    env = core_env(DB_FOR_COOKIES, APP_ENV=app_env, PUBLIC_URL="https://auth.example.com")
    settings = load_settings(env)
    writer = CookieWriter(
        secure=settings.secure_cookies,
        access_ttl=settings.tokens.access_ttl,
        refresh_ttl=settings.tokens.refresh_ttl,
        clock=FakeClock(),
    )
    response = web.Response()
    writer.set_oauth_flow(response, "b" * 43)
    writer.set_oauth_nonce(response, "n" * 43)
    set_flash(response, Flash("error", "x"))
    headers = {name: str(morsel) for name, morsel in response.cookies.items()}
    expected = {
        cookies.OAUTH_FLOW.name: ("/auth", "600", secure),
        cookies.OAUTH_NONCE.name: ("/auth", "600", secure),
        cookies.FLASH.name: ("/", "60", False),  # upstream: the flash cookie is never Secure
    }
    for name, (path, max_age, is_secure) in expected.items():
        attrs = _attrs(headers[name].removeprefix("Set-Cookie: "))
        assert attrs["path"] == path
        assert attrs["max-age"] == max_age
        assert attrs["samesite"] == "Lax"
        assert "HttpOnly" in headers[name]
        assert ("Secure" in headers[name]) is is_secure
