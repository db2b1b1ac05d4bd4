"""Every way an OAuth callback can go wrong ends without an account, a link or a session."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from authara_contract import cookies
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.settings import load_settings
from authara_devstack.embedded_pg import free_port
from tests.coresupport import FakeClock
from tests.integration.core.oauthsupport import (
    at_provider,
    counts,
    oauth_env,
    provider_env,
    query_of,
    session_cookies,
    sign_in,
    start,
)
from tests.oauthstubs import Account, OidcStandIn


@pytest.fixture
async def client(aiohttp_client, db: DatabaseSettings, corp: OidcStandIn, clock: FakeClock):
    env = oauth_env(db, {"corp": provider_env("corp", corp.url)})
    return await aiohttp_client(create_app(load_settings(env), clock=clock))


async def _nothing_created(conn: asyncpg.Connection) -> None:
    assert await counts(conn) == (0, 0, 0)
    assert await conn.fetchval("SELECT count(*) FROM provider_links") == 0


@pytest.mark.parametrize(
    "query",
    [{}, {"code": "abc"}, {"state": "x" * 43, "code": "abc"}, {"state": "", "code": "abc"}],
    ids=["nothing", "no-state", "unknown-state", "empty-state"],
)
async def test_missing_or_wrong_state_is_a_400_page(
    client: TestClient[Any, Any], conn: asyncpg.Connection, query: dict[str, str]
) -> None:
    await start(client, "corp")  # the browser holds a binding cookie and a live flow
    response = await client.get("/auth/oauth/corp/callback", params=query, allow_redirects=False)
    assert response.status == 400
    assert response.content_type == "text/html"
    assert "invalid or has expired" in await response.text()
    await _nothing_created(conn)


async def test_reused_state_is_refused_and_creates_nothing_more(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    callback = await at_provider(await start(client, "corp"))
    assert (await client.get(callback, allow_redirects=False)).status == 303
    before = await counts(conn)

    replay = await client.get(callback, allow_redirects=False)

    assert replay.status == 400
    assert session_cookies(replay) == set()
    assert await counts(conn) == before


async def test_a_replayed_code_under_a_fresh_state_gives_no_session(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    used = await at_provider(await start(client, "corp"))
    assert (await client.get(used, allow_redirects=False)).status == 303
    before = await counts(conn)
    fresh_state = query_of(await start(client, "corp"))["state"]
    code = query_of(used)["code"]

    response = await client.get(
        "/auth/oauth/corp/callback", params={"state": fresh_state, "code": code}
    )

    assert response.status == 401
    assert await counts(conn) == before


async def test_an_injected_code_fails_pkce(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    # A code minted for another flow (another verifier) is refused by the provider.
    stolen = query_of(await at_provider(await start(client, "corp")))["code"]
    state = query_of(await start(client, "corp"))["state"]
    response = await client.get(
        "/auth/oauth/corp/callback", params={"state": state, "code": stolen}
    )
    assert response.status == 401
    await _nothing_created(conn)


async def test_an_expired_flow_is_refused(
    client: TestClient[Any, Any], conn: asyncpg.Connection, clock: FakeClock
) -> None:
    callback = await at_provider(await start(client, "corp"))
    clock.advance(minutes=10, seconds=1)
    response = await client.get(callback, allow_redirects=False)
    assert response.status == 400
    await _nothing_created(conn)


async def test_access_denied_goes_back_to_login_with_a_message(
    client: TestClient[Any, Any], corp: OidcStandIn, conn: asyncpg.Connection
) -> None:
    corp.deny = "access_denied"
    response = await sign_in(client, "corp", return_to="/private")
    assert response.status == 303
    assert response.headers["Location"] == "/auth/login?return_to=%2Fprivate"
    assert cookies.FLASH.name in response.cookies

    page = await client.get(response.headers["Location"])
    html = await page.text()
    assert "Sign-in with Corp was cancelled." in html
    assert page.cookies[cookies.FLASH.name].value == ""  # shown once, then cleared
    again = await client.get("/auth/login")
    assert "was cancelled" not in await again.text()
    await _nothing_created(conn)
    assert "token" not in corp.requests


async def test_other_provider_errors_say_the_provider_failed(
    client: TestClient[Any, Any], corp: OidcStandIn
) -> None:
    corp.deny = "temporarily_unavailable"
    response = await sign_in(client, "corp")
    page = await client.get(response.headers["Location"])
    assert "Corp could not sign you in" in await page.text()


@pytest.mark.parametrize(
    "account",
    [
        Account("corp-new", "new@example.com", email_verified=False),
        Account("corp-new", None),
        Account("corp-new", "new@example.com", email_verified="yes"),
    ],
    ids=["unverified", "no-email", "odd-verified-value"],
)
async def test_a_new_user_needs_a_verified_email(
    client: TestClient[Any, Any], corp: OidcStandIn, conn: asyncpg.Connection, account: Account
) -> None:
    corp.account = account
    response = await sign_in(client, "corp")
    assert response.status == 403
    assert "has not verified your email address" in await response.text()
    await _nothing_created(conn)


@pytest.mark.parametrize(
    "tamper", ["signature", "iss", "aud", "nonce", "exp", "exp-overflow", "userinfo-sub"]
)
async def test_a_tampered_id_token_is_refused(
    client: TestClient[Any, Any], corp: OidcStandIn, conn: asyncpg.Connection, tamper: str
) -> None:
    corp.tamper = tamper
    response = await sign_in(client, "corp")
    assert response.status == 401
    assert "could not be verified" in await response.text()
    assert session_cookies(response) == set()
    await _nothing_created(conn)


async def test_a_slow_provider_gets_a_clear_error_page_within_the_timeout(
    aiohttp_client, db: DatabaseSettings, corp: OidcStandIn, conn: asyncpg.Connection
) -> None:
    # Short enough to keep the test quick, long enough for the calls that do answer (the
    # discovery document) on a machine busy with other suites.
    env = oauth_env(db, {"corp": provider_env("corp", corp.url)}, AUTHARA_OAUTH_HTTP_TIMEOUT="2s")
    client = await aiohttp_client(create_app(load_settings(env)))
    corp.hold_token = True
    response = await sign_in(client, "corp")
    assert response.status == 504
    assert "did not answer in time" in await response.text()
    await _nothing_created(conn)


async def test_a_failing_token_endpoint_is_a_502_page(
    client: TestClient[Any, Any], corp: OidcStandIn, conn: asyncpg.Connection
) -> None:
    corp.token_status = 503
    response = await sign_in(client, "corp")
    assert response.status == 502
    assert "could not be reached" in await response.text()
    await _nothing_created(conn)


async def test_an_unreachable_provider_is_a_502_page_and_leaves_no_flow(
    aiohttp_client, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    env = oauth_env(db, {"corp": provider_env("corp", nowhere)})
    client = await aiohttp_client(create_app(load_settings(env)))
    response = await client.get("/auth/oauth/corp/start", allow_redirects=False)
    assert response.status == 502
    assert response.content_type == "text/html"
    assert "could not be reached" in await response.text()
    assert await conn.fetchval("SELECT count(*) FROM oauth_states") == 0


async def test_a_discovery_document_for_another_issuer_is_refused(
    client: TestClient[Any, Any], corp: OidcStandIn, conn: asyncpg.Connection
) -> None:
    corp.advertised_issuer = "https://impostor.example"
    response = await client.get("/auth/oauth/corp/start", allow_redirects=False)
    assert response.status == 502
    assert "jwks" not in corp.requests
    assert await conn.fetchval("SELECT count(*) FROM oauth_states") == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/auth/oauth/nope/start"),
        ("GET", "/auth/oauth/nope/callback?state=x&code=y"),
        ("GET", "/auth/oauth/password/start"),
    ],
)
async def test_an_unknown_provider_is_404(
    client: TestClient[Any, Any], conn: asyncpg.Connection, method: str, path: str
) -> None:
    response = await client.request(method, path, allow_redirects=False)
    assert response.status == 404
    assert "Unknown sign-in provider." in await response.text()
    await _nothing_created(conn)


async def test_callback_without_the_binding_cookie_is_refused(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    callback = await at_provider(await start(client, "corp"))
    client.session.cookie_jar.clear(lambda morsel: morsel.key == cookies.OAUTH_FLOW.name)
    response = await client.get(URL(callback), allow_redirects=False)
    assert response.status == 400
    await _nothing_created(conn)
