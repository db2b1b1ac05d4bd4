"""The google and github presets against stand-ins that speak their endpoint shapes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import cookies
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.platform.csp import google_csp
from authara_core.platform.envelope import SECURITY_HEADERS
from authara_core.settings import load_settings
from tests.integration.core.oauthsupport import (
    at_provider,
    counts,
    forget_session,
    oauth_env,
    provider_env,
    query_of,
    session_cookies,
    sign_in,
    start,
)
from tests.oauthstubs import Account, GitHubStandIn, OidcStandIn, google_stand_in, serving


@pytest.fixture
async def google() -> AsyncIterator[OidcStandIn]:
    stand_in = google_stand_in()
    stand_in.account = Account("1098765432101234567890", "ada@gmail.com")
    async with serving(stand_in):
        yield stand_in


@pytest.fixture
async def github() -> AsyncIterator[GitHubStandIn]:
    stand_in = GitHubStandIn()
    async with serving(stand_in):
        yield stand_in


@pytest.fixture
async def client(aiohttp_client, db: DatabaseSettings, google: OidcStandIn, github: GitHubStandIn):
    env = oauth_env(
        db,
        {
            "google": provider_env("google", google.url),
            "github": provider_env("github", github.url, API_URL=github.api_url),
        },
    )
    return await aiohttp_client(create_app(load_settings(env)))


async def test_login_and_signup_pages_show_one_button_per_provider(
    client: TestClient[Any, Any],
) -> None:
    for page in ("/auth/login?return_to=/private", "/auth/signup?return_to=/private"):
        html = await (await client.get(page)).text()
        assert html.count('class="provider"') == 2
        assert (
            '<a class="provider" href="/auth/oauth/google/start?return_to=%2Fprivate">'
            "Continue with Google</a>"
        ) in html
        assert "Continue with GitHub</a>" in html


async def test_google_preset_uses_discovery_and_verifies_the_id_token(
    client: TestClient[Any, Any], google: OidcStandIn, conn: asyncpg.Connection
) -> None:
    url = await start(client, "google")
    assert url.startswith(google.url + "/o/oauth2/v2/auth?")
    assert query_of(url)["scope"] == "openid email profile"

    response = await client.get(await at_provider(url), allow_redirects=False)

    assert response.status == 303
    assert session_cookies(response) == {cookies.ACCESS.name, cookies.REFRESH.name}
    assert "userinfo" not in google.requests  # Google puts the email in the ID token
    assert google.requests.count("discovery") == 1 and "jwks" in google.requests
    row = await conn.fetchrow("SELECT provider, provider_user_id FROM auth_providers")
    assert dict(row) == {"provider": "google", "provider_user_id": "1098765432101234567890"}


async def test_google_csp_is_widened_only_when_google_is_configured(
    client: TestClient[Any, Any], aiohttp_client, db: DatabaseSettings
) -> None:
    widened = (await client.get("/auth/login")).headers["Content-Security-Policy"]
    assert widened == google_csp()
    assert "frame-src https://accounts.google.com" in widened
    assert "script-src 'self' 'unsafe-inline' 'unsafe-eval' https://accounts.google.com" in widened
    assert (await client.get("/auth/health")).headers["Content-Security-Policy"] == widened

    plain = await aiohttp_client(create_app(load_settings(oauth_env(db, {}))))
    policy = (await plain.get("/auth/login")).headers["Content-Security-Policy"]
    assert policy == SECURITY_HEADERS["Content-Security-Policy"]
    assert "google" not in policy


async def test_github_preset_reads_id_and_primary_verified_email(
    client: TestClient[Any, Any], github: GitHubStandIn, conn: asyncpg.Connection
) -> None:
    github.emails = [
        {"email": "old@example.com", "primary": False, "verified": True},
        {"email": "Octo@Example.com", "primary": True, "verified": True},
    ]
    url = await start(client, "github")
    assert url.startswith(github.url + "/login/oauth/authorize?")
    assert query_of(url)["scope"] == "read:user user:email"
    assert "nonce" not in query_of(url)

    response = await client.get(await at_provider(url), allow_redirects=False)

    assert response.status == 303
    row = await conn.fetchrow(
        "SELECT u.email, p.provider_user_id FROM users u JOIN auth_providers p ON p.user_id = u.id"
    )
    assert dict(row) == {"email": "octo@example.com", "provider_user_id": "4242"}
    assert github.requests == ["authorize", "token", "user", "emails"]


async def test_github_returning_user_is_found_by_id_after_a_rename(
    client: TestClient[Any, Any], github: GitHubStandIn, conn: asyncpg.Connection
) -> None:
    assert (await sign_in(client, "github")).status == 303
    forget_session(client)
    github.login = "renamed"
    github.emails = [{"email": "new@example.com", "primary": True, "verified": True}]
    assert (await sign_in(client, "github")).status == 303
    assert await counts(conn) == (1, 1, 2)


@pytest.mark.parametrize(
    "emails",
    [
        [{"email": "octo@example.com", "primary": True, "verified": False}],
        [{"email": "octo@example.com", "primary": False, "verified": True}],
        [],
    ],
    ids=["primary-unverified", "verified-not-primary", "none"],
)
async def test_github_without_a_primary_verified_email_creates_nothing(
    client: TestClient[Any, Any], github: GitHubStandIn, conn: asyncpg.Connection, emails: list
) -> None:
    github.emails = emails
    response = await sign_in(client, "github")
    assert response.status == 403
    assert await counts(conn) == (0, 0, 0)


async def test_github_refusing_the_code_is_refused(
    client: TestClient[Any, Any], github: GitHubStandIn, conn: asyncpg.Connection
) -> None:
    callback = await at_provider(await start(client, "github"))
    code = query_of(callback)["code"]
    github.grants[code].used = True  # e.g. redeemed by someone who intercepted it
    response = await client.get(callback, allow_redirects=False)
    assert response.status == 401
    assert await counts(conn) == (0, 0, 0)
