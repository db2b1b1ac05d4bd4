"""Google Identity Services JSON API: options, then POST the credential with the nonce cookie."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import cookies
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.settings import load_settings
from tests.coresupport import core_env
from tests.integration.core.oauthsupport import counts, jar_csrf, password_signup
from tests.oauthstubs import CLIENT_ID, Account, OidcStandIn, google_stand_in, serving

OPTIONS = "/auth/api/v1/oauth/google/options"
LOGIN = "/auth/api/v1/oauth/google"


@pytest.fixture
async def google() -> AsyncIterator[OidcStandIn]:
    stand_in = google_stand_in()
    stand_in.account = Account("g-123", "ada@gmail.com")
    async with serving(stand_in):
        yield stand_in


@pytest.fixture
async def client(aiohttp_client, db: DatabaseSettings, google: OidcStandIn):
    # Upstream's configuration: the provider list and a client id, no secret.
    env = core_env(
        db,
        AUTHARA_OAUTH_PROVIDERS="google",
        AUTHARA_OAUTH_GOOGLE_CLIENT_ID=CLIENT_ID,
        AUTHARA_OAUTH_GOOGLE_ISSUER=google.url,
    )
    return await aiohttp_client(create_app(load_settings(env)))


async def _options(client: TestClient[Any, Any]) -> str:
    response = await client.get(OPTIONS)
    assert response.status == 200
    body = await response.json()
    assert body["client_id"] == CLIENT_ID
    await client.get("/auth/api/v1/csrf")
    return body["nonce"]


async def _post(client: TestClient[Any, Any], body: dict[str, str], **params: str):
    return await client.post(
        LOGIN, json=body, params=params, headers={"X-CSRF-Token": jar_csrf(client)}
    )


async def test_options_sets_the_nonce_cookie_once(client: TestClient[Any, Any]) -> None:
    first = await client.get(OPTIONS)
    morsel = first.cookies[cookies.OAUTH_NONCE.name]
    assert morsel["httponly"] and morsel["path"] == "/auth" and morsel["max-age"] == "600"
    nonce = (await first.json())["nonce"]
    assert morsel.value == nonce and len(nonce) == 43
    second = await client.get(OPTIONS)
    assert (await second.json())["nonce"] == nonce
    assert cookies.OAUTH_NONCE.name not in second.cookies


async def test_a_client_id_alone_offers_no_redirect_button(client: TestClient[Any, Any]) -> None:
    assert "Continue with Google" not in await (await client.get("/auth/login")).text()
    assert (await client.get("/auth/oauth/google/start", allow_redirects=False)).status == 404


async def test_a_new_user_signs_in_with_the_credential(
    client: TestClient[Any, Any], google: OidcStandIn, conn: asyncpg.Connection
) -> None:
    nonce = await _options(client)
    response = await _post(client, {"credential": google.credential(nonce), "nonce": nonce})

    assert response.status == 200
    body = await response.json()
    assert body["user"]["email"] == "ada@gmail.com"
    assert body["access_token"] and body["refresh_token"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.cookies[cookies.OAUTH_NONCE.name].value == ""  # cleared
    assert response.cookies[cookies.ACCESS.name].value == body["access_token"]
    assert await counts(conn) == (1, 1, 1)


async def test_a_used_nonce_cannot_sign_in_twice(
    client: TestClient[Any, Any], google: OidcStandIn, conn: asyncpg.Connection
) -> None:
    nonce = await _options(client)
    credential = google.credential(nonce)
    assert (await _post(client, {"credential": credential, "nonce": nonce})).status == 200
    client.session.cookie_jar.update_cookies(
        {cookies.OAUTH_NONCE.name: nonce}, client.make_url("/auth/")
    )
    replay = await _post(client, {"credential": credential, "nonce": nonce})
    assert replay.status == 401
    assert await counts(conn) == (1, 1, 1)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"credential": " ", "nonce": "n"}, 400),
        ({"credential": "x"}, 400),
        ({"credential": "x", "nonce": "other-nonce"}, 401),
    ],
    ids=["blank", "missing-field", "nonce-mismatch"],
)
async def test_bad_bodies_are_refused(
    client: TestClient[Any, Any],
    conn: asyncpg.Connection,
    body: dict[str, str],
    status: int,
) -> None:
    await _options(client)
    response = await _post(client, body)
    assert response.status == status
    assert (await response.json())["error"]["code"] in ("invalid_request", "unauthorized")
    assert await counts(conn) == (0, 0, 0)


async def test_without_the_nonce_cookie_it_is_401(
    client: TestClient[Any, Any], google: OidcStandIn
) -> None:
    nonce = await _options(client)
    client.session.cookie_jar.clear(lambda morsel: morsel.key == cookies.OAUTH_NONCE.name)
    response = await _post(client, {"credential": google.credential(nonce), "nonce": nonce})
    assert response.status == 401


@pytest.mark.parametrize("tamper", ["signature", "aud", "iss", "nonce", "exp", "exp-overflow"])
async def test_a_tampered_credential_is_401(
    client: TestClient[Any, Any], google: OidcStandIn, conn: asyncpg.Connection, tamper: str
) -> None:
    nonce = await _options(client)
    google.tamper = tamper
    response = await _post(client, {"credential": google.credential(nonce), "nonce": nonce})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "unauthorized"
    assert await counts(conn) == (0, 0, 0)


async def test_an_existing_email_needs_linking_409(
    client: TestClient[Any, Any], google: OidcStandIn, conn: asyncpg.Connection
) -> None:
    await password_signup(client, "ada@gmail.com")
    client.session.cookie_jar.clear(lambda morsel: morsel.key != cookies.CSRF.name)
    nonce = await _options(client)
    response = await _post(client, {"credential": google.credential(nonce), "nonce": nonce})
    assert response.status == 409
    assert (await response.json())["error"]["code"] == "account_link_required"
    assert await counts(conn) == (1, 0, 1)
    # The refusal did not use the nonce up: after linking, the same nonce can sign in.
    assert await conn.fetchval("SELECT count(*) FROM oauth_states") == 0


async def test_a_linked_subject_signs_in_even_with_another_email(
    client: TestClient[Any, Any], google: OidcStandIn, conn: asyncpg.Connection
) -> None:
    nonce = await _options(client)
    first = await _post(client, {"credential": google.credential(nonce), "nonce": nonce})
    user_id = (await first.json())["user"]["id"]
    google.account = Account("g-123", "ada@newmail.example", email_verified=False)
    nonce = await _options(client)

    again = await _post(
        client, {"credential": google.credential(nonce), "nonce": nonce}, audience="app"
    )

    assert again.status == 200
    assert (await again.json())["user"]["id"] == user_id
    assert await counts(conn) == (1, 1, 2)


async def test_it_needs_csrf(client: TestClient[Any, Any], google: OidcStandIn) -> None:
    nonce = await _options(client)
    response = await client.post(
        LOGIN, json={"credential": google.credential(nonce), "nonce": nonce}
    )
    assert response.status == 403


async def test_google_off_is_404(aiohttp_client, db: DatabaseSettings) -> None:
    client = await aiohttp_client(create_app(load_settings(core_env(db))))
    assert (await client.get(OPTIONS)).status == 404
    await client.get("/auth/api/v1/csrf")
    response = await client.post(
        LOGIN,
        json={"credential": "x", "nonce": "y"},
        headers={"X-CSRF-Token": jar_csrf(client)},
    )
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"
