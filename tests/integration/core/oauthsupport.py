"""Helpers for core's OAuth tests: an app configured for stand-in providers, a browser's hops."""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp.test_utils import TestClient
from yarl import URL

from authara_contract import cookies
from authara_contract.database import DatabaseSettings
from tests.coresupport import PUBLIC_URL, core_env
from tests.integration.core.conftest import csrf_token
from tests.oauthstubs import CLIENT_ID, CLIENT_SECRET

PASSWORD = "correct horse battery"


def provider_env(name: str, issuer: str, **extra: str) -> dict[str, str]:
    """Return the variables that configure one provider against a stand-in."""
    upper = name.upper()
    return {
        f"AUTHARA_OAUTH_{upper}_CLIENT_ID": CLIENT_ID,
        f"AUTHARA_OAUTH_{upper}_CLIENT_SECRET": CLIENT_SECRET,
        f"AUTHARA_OAUTH_{upper}_ISSUER": issuer,
        **{f"AUTHARA_OAUTH_{upper}_{key}": value for key, value in extra.items()},
    }


def oauth_env(
    db: DatabaseSettings, providers: dict[str, dict[str, str]], **overrides: str
) -> dict[str, str]:
    """Return a core environment with these providers (name → provider_env(...))."""
    env = core_env(db, AUTHARA_OAUTH_PROVIDERS=",".join(providers), AUTHARA_OAUTH_HTTP_TIMEOUT="5s")
    for values in providers.values():
        env.update(values)
    env.update(overrides)
    return env


async def start(client: TestClient[Any, Any], provider: str, return_to: str = "/private") -> str:
    """Start a sign-in; return the provider URL core sends the browser to."""
    response = await client.get(
        f"/auth/oauth/{provider}/start", params={"return_to": return_to}, allow_redirects=False
    )
    assert response.status == 303, await response.text()
    location = response.headers["Location"]
    assert not location.startswith("/")
    return location


async def at_provider(url: str) -> str:
    """Visit the provider's authorize URL like a browser; return the callback path and query."""
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(url, allow_redirects=False) as answer,
    ):
        assert answer.status == 302, await answer.text()
        location = URL(answer.headers["Location"])
    assert str(location).startswith(PUBLIC_URL + "/auth/oauth/")
    return location.path_qs


async def sign_in(
    client: TestClient[Any, Any], provider: str, return_to: str = "/private"
) -> aiohttp.ClientResponse:
    """Run a whole redirect flow; return core's answer to the callback."""
    callback = await at_provider(await start(client, provider, return_to))
    return await client.get(callback, allow_redirects=False)


def query_of(url: str) -> dict[str, str]:
    """Return a URL's query parameters (single values)."""
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def session_cookies(response: aiohttp.ClientResponse) -> set[str]:
    """Return which session cookies a response sets (with a value)."""
    return {
        name
        for name in (cookies.ACCESS.name, cookies.REFRESH.name)
        if name in response.cookies and response.cookies[name].value
    }


async def password_signup(
    client: TestClient[Any, Any], email: str, password: str = PASSWORD
) -> None:
    """Create a password account (and sign the client in)."""
    token = await csrf_token(client, "/auth/signup")
    response = await client.post(
        "/auth/signup",
        data={"email": email, "password": password, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()


def forget_session(client: TestClient[Any, Any]) -> None:
    """Drop the session cookies (a signed-out browser that keeps its other cookies)."""
    names = {cookies.ACCESS.name, cookies.REFRESH.name}
    client.session.cookie_jar.clear(lambda morsel: morsel.key in names)


async def counts(conn: Any) -> tuple[int, int, int]:
    """Return how many users, linked identities (non-password) and sessions exist."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM users) AS users,"
        " (SELECT count(*) FROM auth_providers WHERE provider <> 'password') AS links,"
        " (SELECT count(*) FROM sessions) AS sessions"
    )
    return row["users"], row["links"], row["sessions"]


def jar_csrf(client: TestClient[Any, Any]) -> str:
    """Return the CSRF token the client's cookie jar holds."""
    return client.session.cookie_jar.filter_cookies(client.make_url("/auth/"))[
        cookies.CSRF.name
    ].value


CONTINUE_LINK = re.compile(r'<a href="([^"]+)" data-testid="continue">')


def continue_url(html: str) -> str:
    """Return the provider URL of the 'Continuing to …' page a form POST answers with."""
    match = CONTINUE_LINK.search(html)
    assert match is not None, html
    return unescape(match.group(1))
