"""The OIDC redirect flow against a stand-in provider: PKCE, state, nonce and the identity rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import cookies
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.oauth import store as oauth_store
from authara_core.oauth.secrets import flow_secrets
from authara_core.settings import load_settings
from tests.coresupport import FakeClock
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
from tests.oauthstubs import Account, OidcStandIn, s256


@pytest.fixture
async def client(aiohttp_client, db: DatabaseSettings, corp: OidcStandIn, clock: FakeClock):
    env = oauth_env(db, {"corp": provider_env("corp", corp.url)})
    return await aiohttp_client(create_app(load_settings(env), clock=clock))


async def _user_id(client: TestClient[Any, Any]) -> str:
    response = await client.get("/auth/api/v1/user")
    assert response.status == 200
    return (await response.json())["id"]


async def test_start_redirects_with_pkce_state_and_nonce(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    response = await client.get("/auth/oauth/corp/start?return_to=/private", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Cache-Control"] == "no-store"
    query = query_of(response.headers["Location"])
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert query["redirect_uri"] == "http://127.0.0.1:3000/auth/oauth/corp/callback"
    assert query["scope"] == "openid email profile"
    assert len(query["state"]) == 43 and len(query["nonce"]) == 43
    binding = response.cookies[cookies.OAUTH_FLOW.name]
    assert binding["httponly"] and binding["path"] == "/auth" and binding["max-age"] == "600"
    assert binding["samesite"] == "Lax"
    row = await conn.fetchrow("SELECT * FROM oauth_states")
    # Only hashes are stored: neither the state nor the browser's secret is in the row.
    assert row["state_hash"] != query["state"] and len(row["state_hash"]) == 64
    assert binding.value not in (row["state_hash"], row["binding_hash"])
    assert row["purpose"] == "login" and row["return_to"] == "/private"
    assert row["consumed_at"] is None
    assert (row["expires_at"] - row["created_at"]).total_seconds() == 600


async def test_new_user_is_created_and_signed_in(
    client: TestClient[Any, Any], corp: OidcStandIn, conn: asyncpg.Connection
) -> None:
    corp.account = Account("corp-ada", "Ada@Example.com")
    response = await sign_in(client, "corp")
    assert response.status == 303
    assert response.headers["Location"] == "/private"
    assert session_cookies(response) == {cookies.ACCESS.name, cookies.REFRESH.name}
    assert cookies.CSRF.name in response.cookies  # a fresh CSRF token at sign-in
    row = await conn.fetchrow(
        "SELECT u.email, p.provider, p.provider_user_id, p.password_hash"
        " FROM users u JOIN auth_providers p ON p.user_id = u.id"
    )
    assert dict(row) == {
        "email": "ada@example.com",
        "provider": "corp",
        "provider_user_id": "corp-ada",
        "password_hash": None,
    }
    # The code was redeemed with the verifier whose challenge went out, by the confidential client.
    (token_request,) = corp.token_requests
    assert token_request["grant_type"] == "authorization_code"
    assert len(token_request["code_verifier"]) == 43
    assert "userinfo" in corp.requests  # the email came from UserInfo, as with oidc-provider
    assert await conn.fetchval("SELECT consumed_at IS NOT NULL FROM oauth_states")


async def test_returning_subject_is_the_same_user_even_with_a_new_email(
    client: TestClient[Any, Any], corp: OidcStandIn, conn: asyncpg.Connection
) -> None:
    corp.account = Account("corp-ada", "ada@example.com")
    assert (await sign_in(client, "corp")).status == 303
    first = await _user_id(client)
    forget_session(client)

    corp.account = Account("corp-ada", "ada.lovelace@example.org", email_verified=False)
    response = await sign_in(client, "corp")

    assert response.status == 303
    assert await _user_id(client) == first
    assert await counts(conn) == (1, 1, 2)


async def test_same_email_from_another_subject_is_not_the_same_user(
    client: TestClient[Any, Any], corp: OidcStandIn, conn: asyncpg.Connection
) -> None:
    corp.account = Account("corp-ada", "ada@example.com")
    assert (await sign_in(client, "corp")).status == 303
    forget_session(client)

    corp.account = Account("corp-impostor", "ada@example.com")
    response = await sign_in(client, "corp")

    # Never linked by email alone: the owner of the account has to prove it first.
    assert response.status == 303
    assert response.headers["Location"].startswith("/auth/provider-links/confirm?link_id=")
    assert session_cookies(response) == set()
    assert await counts(conn) == (1, 1, 1)


async def test_return_to_is_kept_and_unsafe_ones_fall_back(client: TestClient[Any, Any]) -> None:
    response = await sign_in(client, "corp", return_to="//evil.example/x")
    assert response.status == 303
    assert response.headers["Location"] == "/"


async def test_the_state_is_bound_to_the_browser_that_started(
    client: TestClient[Any, Any],
    aiohttp_client,
    db: DatabaseSettings,
    corp: OidcStandIn,
    conn: asyncpg.Connection,
    clock: FakeClock,
) -> None:
    callback = await at_provider(await start(client, "corp"))
    env = oauth_env(db, {"corp": provider_env("corp", corp.url)})
    other_browser = await aiohttp_client(create_app(load_settings(env), clock=clock))
    await start(other_browser, "corp")  # it holds a binding cookie of its own

    response = await other_browser.get(callback, allow_redirects=False)

    assert response.status == 400
    assert "invalid or has expired" in await response.text()
    assert await counts(conn) == (0, 0, 0)
    # The rightful browser can still finish: a foreign attempt does not burn the state.
    assert (await client.get(callback, allow_redirects=False)).status == 303


async def test_pkce_challenge_matches_the_verifier_sent(
    client: TestClient[Any, Any], corp: OidcStandIn
) -> None:
    url = await start(client, "corp")
    challenge = query_of(url)["code_challenge"]
    callback = await at_provider(url)
    assert (await client.get(callback, allow_redirects=False)).status == 303
    assert s256(corp.token_requests[0]["code_verifier"]) == challenge


async def test_two_tabs_can_sign_in_in_parallel(client: TestClient[Any, Any]) -> None:
    first = await start(client, "corp")
    second = await start(client, "corp")
    assert query_of(first)["state"] != query_of(second)["state"]
    assert (await client.get(await at_provider(second), allow_redirects=False)).status == 303
    forget_session(client)
    assert (await client.get(await at_provider(first), allow_redirects=False)).status == 303


async def test_time_and_randomness_are_injected(
    aiohttp_client,
    db: DatabaseSettings,
    corp: OidcStandIn,
    clock: FakeClock,
    conn: asyncpg.Connection,
) -> None:
    pinned = iter(f"{n:043d}" for n in range(10))
    env = oauth_env(db, {"corp": provider_env("corp", corp.url)})
    client = await aiohttp_client(
        create_app(load_settings(env), clock=clock, oauth_secrets=lambda: next(pinned))
    )

    url = await start(client, "corp")

    binding, state = f"{0:043d}", f"{1:043d}"
    jar = client.session.cookie_jar.filter_cookies(client.make_url("/auth/oauth/"))
    assert jar[cookies.OAUTH_FLOW.name].value == binding
    assert query_of(url)["state"] == state
    assert query_of(url)["nonce"] == flow_secrets(binding, state).nonce
    assert query_of(url)["code_challenge"] == s256(flow_secrets(binding, state).verifier)
    expires_at = await conn.fetchval("SELECT expires_at FROM oauth_states")
    assert expires_at == clock.now() + timedelta(minutes=10)


async def test_a_callback_naming_another_issuer_is_refused(
    client: TestClient[Any, Any], corp: OidcStandIn, conn: asyncpg.Connection
) -> None:
    callback = await at_provider(await start(client, "corp"))
    response = await client.get(callback + "&iss=https%3A%2F%2Fevil.example")
    assert response.status == 401
    assert "token" not in corp.requests  # refused before the code is redeemed
    assert await counts(conn) == (0, 0, 0)
    good = await at_provider(await start(client, "corp"))
    iss = "&iss=" + quote(corp.url, safe="")
    assert (await client.get(good + iss, allow_redirects=False)).status == 303


async def test_expired_flows_and_links_are_cleaned_up(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    await start(client, "corp")
    await start(client, "corp")
    now = datetime.now(UTC)
    assert await oauth_store.delete_expired(conn, now) == 0
    assert await oauth_store.delete_expired(conn, now + timedelta(minutes=11)) == 2
    assert await conn.fetchval("SELECT count(*) FROM oauth_states") == 0
