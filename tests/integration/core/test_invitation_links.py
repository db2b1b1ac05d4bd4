"""Invitation links on the pages, on a real database: tokens that open nothing, links used,
revoked or expired, and the forms' errors, CSRF checks, HTMX answers, rate limits and caching.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

import asyncpg
import pytest

from authara_contract import cookies, headers, routes
from authara_contract.database import DatabaseSettings
from tests.coresupport import FakeClock
from tests.integration.core.conftest import ClientFactory
from tests.integration.core.invitationsupport import (
    ACCEPTED,
    HTMX,
    INVITEE,
    PASSWORD,
    Client,
    anonymous_csrf,
    assert_untouched,
    claims_of,
    events,
    form_csrf,
    invitation_row,
    invite,
    invited,
    invited_joins,
    jar,
    make_client,
    memberships,
    page_url,
    post_form,
    revoke,
    signup,
    switch,
    user_count,
)

ACCEPT, SIGNUP, LOGIN = routes.INVITATION_ACCEPT, routes.INVITATION_SIGNUP, routes.INVITATION_LOGIN
SECURITY_CHECK: Final = "Security check failed. Please refresh and try again."
BOTH_MODES: Final = pytest.mark.parametrize("mode", ["single", "multi"])


# --- links that open nothing, or nothing any more ------------------------------------------


@BOTH_MODES
@pytest.mark.parametrize("bad", ["", "unknown-token", "x" * 300])
async def test_a_missing_unknown_or_overlong_token_is_400(
    aiohttp_client: ClientFactory,
    db: DatabaseSettings,
    conn: asyncpg.Connection,
    mode: str,
    bad: str,
) -> None:
    client = await make_client(aiohttp_client, db, mode)
    _, _, token = await invited(client, conn, mode)
    pages = [ACCEPT, SIGNUP] + ([LOGIN] if mode == "multi" else [])
    for path in pages:
        url = page_url(path, bad) if bad else path
        response = await client.get(url)
        assert response.status == 400, (path, await response.text())
        page = await response.text()
        assert "This invitation link is not valid." in page
        assert response.headers["Cache-Control"] == headers.NO_STORE
    await anonymous_csrf(client)
    for path in pages[1:]:
        response = await post_form(client, path, bad, password=PASSWORD)
        assert response.status == 400, (path, await response.text())
    if mode == "multi":
        await signup(client, INVITEE)
        response = await post_form(client, ACCEPT, bad)
        assert response.status == 400, await response.text()
    await assert_untouched(conn, token)


@BOTH_MODES
async def test_an_accepted_link_is_unavailable(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, mode: str
) -> None:
    client = await make_client(aiohttp_client, db, mode)
    _, _, token = await invited(client, conn, mode)
    csrf = await form_csrf(client, page_url(SIGNUP, token))
    response = await post_form(client, SIGNUP, token, password=PASSWORD, csrf=csrf)
    assert response.status == 303, await response.text()
    client.session.cookie_jar.clear()
    landing = await client.get(page_url(ACCEPT, token))
    assert landing.status == 200
    page = await landing.text()
    assert "Invitation unavailable" in page
    assert "This invitation has already been accepted." in page
    assert landing.headers["Cache-Control"] == headers.NO_STORE
    response = await client.get(page_url(SIGNUP, token))
    assert response.status == 410
    assert "already been accepted" in await response.text()
    await anonymous_csrf(client)
    response = await post_form(client, SIGNUP, token, password="another password")
    assert response.status == 409, await response.text()
    assert "already been accepted" in await response.text()
    if mode == "multi":
        response = await client.get(page_url(LOGIN, token))
        assert response.status == 410
        response = await post_form(client, LOGIN, token, password=PASSWORD)
        assert response.status == 409, await response.text()
        await signup(client, "late@example.com")
        response = await post_form(client, ACCEPT, token)
        assert response.status == 409, await response.text()
    assert await user_count(conn) == 1
    assert len(await events(conn, ACCEPTED)) == 1
    assert len(await invited_joins(conn)) == 1


@BOTH_MODES
@pytest.mark.parametrize("how", ["public-api", "sql"])
async def test_a_revoked_link_is_gone(
    aiohttp_client: ClientFactory,
    db: DatabaseSettings,
    conn: asyncpg.Connection,
    mode: str,
    how: str,
) -> None:
    client = await make_client(aiohttp_client, db, mode)
    owner, org_id, token = await invited(client, conn, mode)
    row = await invitation_row(conn, token)
    if how == "sql":
        await conn.execute(
            "UPDATE organization_invitations SET revoked_at = now() WHERE id = $1", row["id"]
        )
    else:
        csrf = await anonymous_csrf(client)
        login = await client.post(
            routes.API_LOGIN,
            json={"email": "owner@example.com", "password": PASSWORD},
            headers={"X-CSRF-Token": csrf},
        )
        assert login.status == 200, await login.text()
        assert claims_of(client)["sub"] == owner
        if mode == "multi":
            await switch(client, org_id)
        response = await revoke(client, org_id, str(row["id"]))
        assert response.status == 200, await response.text()
    await _assert_gone(client, conn, mode, token, "This invitation has been withdrawn.")


@BOTH_MODES
async def test_an_expired_link_is_gone(
    aiohttp_client: ClientFactory,
    db: DatabaseSettings,
    conn: asyncpg.Connection,
    clock: FakeClock,
    mode: str,
) -> None:
    client = await make_client(aiohttp_client, db, mode, clock=clock)
    _, _, token = await invited(client, conn, mode)
    row = await invitation_row(conn, token)
    assert row["expires_at"] == clock.now() + timedelta(hours=168)
    clock.advance(hours=168)  # expires_at is not included
    await _assert_gone(client, conn, mode, token, "This invitation has expired.")


async def test_an_invitation_expired_in_the_database_is_gone(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    _, _, token = await invited(client, conn, "multi")
    await conn.execute(
        "UPDATE organization_invitations SET expires_at = $1",
        datetime.now(UTC) - timedelta(seconds=1),
    )
    await _assert_gone(client, conn, "multi", token, "This invitation has expired.")


async def _assert_gone(
    client: Client, conn: asyncpg.Connection, mode: str, token: str, message: str
) -> None:
    """Check a revoked or expired link: shown as unavailable, forms 410, nothing written."""
    client.session.cookie_jar.clear()
    landing = await client.get(page_url(ACCEPT, token))
    assert landing.status == 200
    page = await landing.text()
    assert "Invitation unavailable" in page
    assert message in page
    response = await client.get(page_url(SIGNUP, token))
    assert response.status == 410
    assert message in await response.text()
    await anonymous_csrf(client)
    response = await post_form(client, SIGNUP, token, password=PASSWORD)
    assert response.status == 410, await response.text()
    assert message in await response.text()
    assert await user_count(conn) == 0
    if mode == "multi":
        response = await client.get(page_url(LOGIN, token))
        assert response.status == 410
        await signup(client, INVITEE)
        response = await post_form(client, ACCEPT, token)
        assert response.status == 410, await response.text()
        await anonymous_csrf(client)
        response = await post_form(client, LOGIN, token, password=PASSWORD)
        assert response.status == 410, await response.text()
    row = await invitation_row(conn, token)
    assert row["accepted_at"] is None
    assert await events(conn, ACCEPTED) == []
    assert await invited_joins(conn) == []


# --- form errors, CSRF, HTMX, rate limits, caching -----------------------------------------


@BOTH_MODES
async def test_signup_with_an_existing_email_rerenders_the_form(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, mode: str
) -> None:
    client = await make_client(aiohttp_client, db, mode)
    _, _, token = await invited(client, conn, mode)
    user = await signup(client, INVITEE.upper())
    before = await memberships(conn, user)
    csrf = await anonymous_csrf(client)
    response = await post_form(client, SIGNUP, token, password=PASSWORD, csrf=csrf)
    assert response.status == 422, await response.text()
    page = await response.text()
    assert "An account with this email already exists." in page
    assert f'name="token" value="{token}"' in page
    assert cookies.ACCESS.name not in jar(client)
    assert await user_count(conn) == 1
    assert await memberships(conn, user) == before
    await assert_untouched(conn, token)


@BOTH_MODES
@pytest.mark.parametrize("password", ["", "short", "x" * 129])
async def test_signup_with_an_invalid_password_rerenders_the_form(
    aiohttp_client: ClientFactory,
    db: DatabaseSettings,
    conn: asyncpg.Connection,
    mode: str,
    password: str,
) -> None:
    client = await make_client(aiohttp_client, db, mode)
    _, _, token = await invited(client, conn, mode)
    csrf = await form_csrf(client, page_url(SIGNUP, token))
    response = await post_form(client, SIGNUP, token, password=password, csrf=csrf)
    assert response.status == 422, await response.text()
    page = await response.text()
    assert "Password must be between 8 and 128 characters." in page
    assert "Create your account" in page
    assert await user_count(conn) == 0
    await assert_untouched(conn, token)


@BOTH_MODES
async def test_every_post_needs_the_csrf_token(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, mode: str
) -> None:
    client = await make_client(aiohttp_client, db, mode)
    _, _, token = await invited(client, conn, mode)
    if mode == "multi":
        await signup(client, INVITEE)  # signed in: the accept form is the one offered
    else:
        await anonymous_csrf(client)
    for path in (ACCEPT, SIGNUP, LOGIN):
        for csrf in ("", "forged"):
            response = await post_form(client, path, token, password=PASSWORD, csrf=csrf)
            assert response.status == 403, (path, csrf)
            assert SECURITY_CHECK in await response.text()
    await assert_untouched(conn, token)
    assert await user_count(conn) == (1 if mode == "multi" else 0)


@BOTH_MODES
async def test_htmx_signup_redirects_with_hx_redirect(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, mode: str
) -> None:
    client = await make_client(aiohttp_client, db, mode)
    _, org_id, token = await invited(client, conn, mode)
    csrf = await form_csrf(client, page_url(SIGNUP, token))
    response = await post_form(
        client, SIGNUP, token, password=PASSWORD, csrf=csrf, extra_headers=HTMX
    )
    assert response.status == 200, await response.text()
    assert response.headers[headers.HX_REDIRECT] == "/"
    assert "Location" not in response.headers
    assert claims_of(client)["org_id"] == org_id


async def test_htmx_login_and_accept_redirect_with_hx_redirect(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    owner, org_id, token = await invited(client, conn, "multi")
    await signup(client, INVITEE)
    csrf = await anonymous_csrf(client)
    response = await post_form(
        client, LOGIN, token, password=PASSWORD, csrf=csrf, extra_headers=HTMX
    )
    assert response.status == 200, await response.text()
    assert response.headers[headers.HX_REDIRECT] == "/"
    assert "Location" not in response.headers
    assert claims_of(client)["org_id"] == org_id
    second = await invite(client, org_id, owner, "second@example.com")
    await signup(client, "second@example.com")
    response = await post_form(client, ACCEPT, second, extra_headers=HTMX)
    assert response.status == 200, await response.text()
    assert response.headers[headers.HX_REDIRECT] == "/"
    assert claims_of(client)["org_id"] == org_id


@BOTH_MODES
async def test_signup_is_rate_limited(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, mode: str
) -> None:
    client = await make_client(aiohttp_client, db, mode, AUTHARA_RATE_LIMIT_SIGNUP_EMAIL_LIMIT="2")
    _, _, token = await invited(client, conn, mode)
    csrf = await form_csrf(client, page_url(SIGNUP, token))
    for _ in range(2):  # failures count too
        response = await post_form(client, SIGNUP, token, password="short", csrf=csrf)
        assert response.status == 422
    response = await post_form(client, SIGNUP, token, password=PASSWORD, csrf=csrf)
    assert response.status == 429, await response.text()
    assert int(response.headers["Retry-After"]) > 0
    page = await response.text()
    assert re.search(r"Too many attempts\. Please try again in \d+ (minutes?|hours?)\.", page)
    assert "Create your account" in page
    assert await user_count(conn) == 0
    await assert_untouched(conn, token)


async def test_invitation_login_is_rate_limited(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi", AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT="2")
    _, _, token = await invited(client, conn, "multi")
    await signup(client, INVITEE)
    csrf = await anonymous_csrf(client)
    for _ in range(2):
        response = await post_form(client, LOGIN, token, password="wrong password", csrf=csrf)
        assert response.status == 422
    response = await post_form(client, LOGIN, token, password=PASSWORD, csrf=csrf)
    assert response.status == 429, await response.text()
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many attempts" in await response.text()
    await assert_untouched(conn, token)


async def test_invitation_pages_are_never_cached(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    _, _, token = await invited(client, conn, "multi")
    for path in (ACCEPT, SIGNUP, LOGIN):
        response = await client.get(page_url(path, token))
        assert response.status == 200
        assert response.headers["Cache-Control"] == headers.NO_STORE
        # The token is in the URL: it must not leave in a Referer either.
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert (f'name="token" value="{token}"' in await response.text()) == (path != ACCEPT)
    await signup(client, INVITEE)
    response = await client.get(page_url(ACCEPT, token))
    assert response.headers["Cache-Control"] == headers.NO_STORE
