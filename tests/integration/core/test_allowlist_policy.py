"""The allowlist access policy: every way in (signup, login, providers, invitations, refresh).

With AUTHARA_ACCESS_POLICY_ALLOWLIST_ENABLED on, an email off the list is refused on every path
with upstream's answer, and let in once it is listed; an accepted invitation admits its email;
an email change moves the entry, a deletion removes it. With the flag off nothing changes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import cookies, routes
from authara_contract.database import DatabaseSettings
from authara_core.app import SERVICES_KEY, create_app
from authara_core.settings import load_settings
from tests.coresupport import core_env
from tests.integration.core.challengesupport import CHALLENGE_ON
from tests.integration.core.conftest import ClientFactory, csrf_token, signup
from tests.integration.core.invitationsupport import (
    INVITEE,
    PASSWORD,
    form_csrf,
    invite,
    inviting_organization,
    jar,
    make_client,
    page_url,
    post_form,
)
from tests.integration.core.invitationsupport import signup as api_signup
from tests.integration.core.oauthsupport import provider_env, sign_in
from tests.oauthstubs import CLIENT_ID, Account, OidcStandIn, google_stand_in, serving

ON = {"AUTHARA_ACCESS_POLICY_ALLOWLIST_ENABLED": "true"}
Client = TestClient[Any, Any]


@pytest.fixture
async def google() -> AsyncIterator[OidcStandIn]:
    stand_in = google_stand_in()
    async with serving(stand_in):
        yield stand_in


@pytest.fixture
async def client(
    aiohttp_client: ClientFactory, db: DatabaseSettings, corp: OidcStandIn, google: OidcStandIn
) -> Client:
    """Multi mode (invitations for existing accounts), a redirect provider and Google."""
    return await make_client(
        aiohttp_client,
        db,
        "multi",
        **ON,
        **provider_env("corp", corp.url),
        AUTHARA_OAUTH_PROVIDERS="corp,google",
        AUTHARA_OAUTH_HTTP_TIMEOUT="5s",
        AUTHARA_OAUTH_GOOGLE_CLIENT_ID=CLIENT_ID,
        AUTHARA_OAUTH_GOOGLE_ISSUER=google.url,
    )


async def allow(conn: asyncpg.Connection, email: str) -> None:
    await conn.execute(
        "INSERT INTO allowed_emails (email) VALUES ($1) ON CONFLICT DO NOTHING", email
    )


async def disallow(conn: asyncpg.Connection, email: str) -> None:
    await conn.execute("DELETE FROM allowed_emails WHERE email = $1", email)


async def listed(conn: asyncpg.Connection, email: str) -> bool:
    return bool(await conn.fetchval("SELECT count(*) FROM allowed_emails WHERE email = $1", email))


async def users(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM users"))


async def html_login(client: Client, email: str, return_to: str = "/private") -> Any:
    client.session.cookie_jar.clear()
    token = await csrf_token(client)
    return await client.post(
        f"/auth/login?return_to={return_to}",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )


async def api_post(client: Client, path: str, body: dict[str, Any]) -> Any:
    client.session.cookie_jar.clear()
    csrf = (await (await client.get(routes.API_CSRF)).json())["csrf_token"]
    return await client.post(path, json=body, headers={"X-CSRF-Token": csrf})


def hold_refresh_only(client: Client, refresh: str) -> None:
    """Leave the jar with a CSRF cookie and this refresh cookie (an expired access token)."""
    csrf = jar(client).get(cookies.CSRF.name)
    client.session.cookie_jar.clear()
    values = {cookies.REFRESH.name: refresh} | ({cookies.CSRF.name: csrf} if csrf else {})
    client.session.cookie_jar.update_cookies(values, response_url=client.make_url("/"))


async def refresh_answers(client: Client, refresh: str) -> dict[str, int]:
    """Try the refresh token on every refresh path; return each one's status."""
    found: dict[str, int] = {}
    await client.get(routes.API_CSRF)
    csrf = jar(client)[cookies.CSRF.name]
    hold_refresh_only(client, refresh)
    api = await client.post(routes.API_SESSIONS_REFRESH, headers={"X-CSRF-Token": csrf})
    found["api"] = api.status
    hold_refresh_only(client, refresh)
    page = await client.post(
        "/auth/sessions/refresh?return_to=/private",
        data={"csrf_token": csrf},
        allow_redirects=False,
    )
    found["page"] = page.status
    if page.status == 303 and page.headers["Location"].startswith("/auth/login"):
        assert page.cookies[cookies.REFRESH.name].value == ""  # cleared
    hold_refresh_only(client, refresh)
    tokens = await client.post(
        routes.API_TOKENS_REFRESH,
        json={"refresh_token": refresh},
        headers={"X-CSRF-Token": csrf},
    )
    found["tokens"] = tokens.status
    hold_refresh_only(client, refresh)
    console = await client.get(routes.ADMIN_DASHBOARD, allow_redirects=False)
    found["console"] = console.status
    return found


async def test_signups_are_refused_until_the_email_is_listed(
    client: Client, conn: asyncpg.Connection
) -> None:
    page = await signup(client, "eve@example.com", PASSWORD)
    assert page.status == 422
    assert "Sign-up is limited to approved email addresses." in await page.text()
    api = await api_post(
        client, routes.API_SIGNUP_DIRECT, {"email": "eve@example.com", "password": PASSWORD}
    )
    assert api.status == 403
    assert await users(conn) == 0

    await allow(conn, "eve@example.com")
    assert (await signup(client, "Eve@Example.com ", PASSWORD)).status == 303
    await allow(conn, "bob@example.com")
    assert (
        await api_post(
            client, routes.API_SIGNUP_DIRECT, {"email": "bob@example.com", "password": PASSWORD}
        )
    ).status == 201
    assert await users(conn) == 2


async def test_sign_ins_and_every_refresh_are_refused_off_the_list(
    client: Client, conn: asyncpg.Connection
) -> None:
    await allow(conn, "ann@example.com")
    user_id = await api_signup(client, "ann@example.com")
    refresh = jar(client)[cookies.REFRESH.name]
    await conn.execute(
        "INSERT INTO user_platform_roles (user_id, role_id) SELECT $1, id FROM platform_roles"
        " WHERE name = 'admin'",
        uuid.UUID(user_id),
    )
    await disallow(conn, "ann@example.com")

    page = await html_login(client, "ann@example.com")
    assert page.status == 422
    assert "This account is disabled." in await page.text()
    api = await api_post(
        client, routes.API_LOGIN, {"email": "ann@example.com", "password": PASSWORD}
    )
    assert api.status == 401
    assert "Invalid email or password." in await api.text()
    refused = await refresh_answers(client, refresh)
    assert refused["api"] == 401
    assert refused["tokens"] == 401
    assert refused["page"] == 303  # to the login page, cookies cleared
    assert refused["console"] == 303  # the console's guard sends the browser to sign in

    await allow(conn, "ann@example.com")
    assert (await html_login(client, "ann@example.com")).status == 303
    assert (
        await api_post(client, routes.API_LOGIN, {"email": "ann@example.com", "password": PASSWORD})
    ).status == 200
    admitted = await refresh_answers(client, refresh)
    assert admitted == {"api": 200, "page": 303, "tokens": 200, "console": 200}


async def test_provider_sign_ins_are_refused_off_the_list(
    client: Client, conn: asyncpg.Connection, corp: OidcStandIn, google: OidcStandIn
) -> None:
    corp.account = Account("corp-zed", "zed@example.com")
    refused = await sign_in(client, "corp")
    assert refused.status == 303
    assert refused.headers["Location"] == "/auth/login"
    assert cookies.REFRESH.name not in refused.cookies
    assert await users(conn) == 0
    await allow(conn, "zed@example.com")
    client.session.cookie_jar.clear()
    admitted = await sign_in(client, "corp")
    assert admitted.status == 303
    assert admitted.headers["Location"] == "/private"

    google.account = Account("g-1", "gina@gmail.com")
    assert (await _google(client, google)).status == 403
    await allow(conn, "gina@gmail.com")
    assert (await _google(client, google)).status == 200
    assert await users(conn) == 2


async def _google(client: Client, google: OidcStandIn) -> Any:
    client.session.cookie_jar.clear()
    nonce = (await (await client.get("/auth/api/v1/oauth/google/options")).json())["nonce"]
    await client.get(routes.API_CSRF)
    return await client.post(
        "/auth/api/v1/oauth/google",
        json={"credential": google.credential(nonce), "nonce": nonce},
        headers={"X-CSRF-Token": jar(client)[cookies.CSRF.name]},
    )


async def test_an_accepted_invitation_admits_its_email(
    client: Client, conn: asyncpg.Connection
) -> None:
    await allow(conn, "owner@example.com")
    owner, org_id = await inviting_organization(client, conn, "multi")
    # A new account through the invitation's signup page.
    token = await invite(client, org_id, owner)
    client.session.cookie_jar.clear()
    await form_csrf(client, page_url(routes.INVITATION_SIGNUP, token))
    answer = await post_form(client, routes.INVITATION_SIGNUP, token, password=PASSWORD)
    assert answer.status == 303, await answer.text()
    assert await listed(conn, INVITEE)
    # An existing account, taken off the list, through the invitation's login page.
    await allow(conn, "carl@example.com")
    await api_signup(client, "carl@example.com")
    await disallow(conn, "carl@example.com")
    token = await invite(client, org_id, owner, email="carl@example.com")
    client.session.cookie_jar.clear()
    await form_csrf(client, page_url(routes.INVITATION_LOGIN, token))
    answer = await post_form(client, routes.INVITATION_LOGIN, token, password=PASSWORD)
    assert answer.status == 303, await answer.text()
    assert await listed(conn, "carl@example.com")
    # An invitation code through the JSON signup.
    token = await invite(client, org_id, owner, email="dora@example.com")
    coded = await api_post(
        client,
        routes.API_SIGNUP_DIRECT,
        {"email": "dora@example.com", "password": PASSWORD, "invitation_code": token},
    )
    assert coded.status == 201, await coded.text()
    assert await listed(conn, "dora@example.com")


async def test_email_change_moves_the_entry_and_deletion_removes_it(
    client: Client, conn: asyncpg.Connection
) -> None:
    await allow(conn, "ann@example.com")
    user_id = uuid.UUID(await api_signup(client, "ann@example.com"))
    services = client.app[SERVICES_KEY]
    async with services.database.transaction() as tx:
        await services.accounts.change_email_in(tx, user_id, "ann.new@example.com")
    assert not await listed(conn, "ann@example.com")
    assert await listed(conn, "ann.new@example.com")
    await services.organization_management.delete_user(user_id)
    assert not await listed(conn, "ann.new@example.com")


async def test_challenge_signups_are_refused_off_the_list(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    app = create_app(load_settings(core_env(db, **CHALLENGE_ON, **ON)), send_mail=False)
    client = await aiohttp_client(app)
    body = {"email": "eve@example.com", "password": PASSWORD}
    assert (await api_post(client, routes.API_SIGNUP_CHALLENGES, body)).status == 403
    page = await signup(client, "eve@example.com", PASSWORD)
    assert page.status == 422
    assert "Sign-up is limited to approved email addresses." in await page.text()
    assert await conn.fetchval("SELECT count(*) FROM email_jobs") == 0
    await allow(conn, "eve@example.com")
    assert (await api_post(client, routes.API_SIGNUP_CHALLENGES, body)).status == 202


async def test_the_default_app_ignores_the_list(
    aiohttp_client: ClientFactory, settings: Any, conn: asyncpg.Connection
) -> None:
    assert settings.allowlist_enabled is False
    client = await aiohttp_client(create_app(settings))
    assert (await signup(client, "free@example.com", PASSWORD)).status == 303
    assert (await html_login(client, "free@example.com")).status == 303
    assert (
        await api_post(
            client, routes.API_LOGIN, {"email": "free@example.com", "password": PASSWORD}
        )
    ).status == 200
    assert await conn.fetchval("SELECT count(*) FROM allowed_emails") == 0
