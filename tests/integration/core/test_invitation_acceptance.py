"""Accepting invitations on the pages, on a real database: what each mode offers and refuses,
signing up, logging in and accepting signed in.

Links that open nothing (any more) and the forms' errors, CSRF, HTMX, rate limits and
caching are in test_invitation_links.py; concurrency, events, signup by invitation code and
user deletion in test_invitation_acceptance_races.py.
"""

from __future__ import annotations

import re
import uuid
from typing import Final

import asyncpg
import pytest

from authara_contract import cookies, headers, routes
from authara_contract.database import DatabaseSettings
from tests.coresupport import FakeClock
from tests.integration.core.conftest import ClientFactory
from tests.integration.core.internalsupport import add_member
from tests.integration.core.invitationsupport import (
    ACCEPTED,
    INVITEE,
    PASSWORD,
    anonymous_csrf,
    assert_untouched,
    claims_of,
    csrf_header,
    events,
    first_organization,
    form_csrf,
    insert_invitation,
    invitation_row,
    invited,
    invited_joins,
    jar,
    make_client,
    memberships,
    page_url,
    post_form,
    session_count,
    session_organization,
    signup,
    user_count,
)

ACCEPT, SIGNUP, LOGIN = routes.INVITATION_ACCEPT, routes.INVITATION_SIGNUP, routes.INVITATION_LOGIN
DISABLED_MESSAGE: Final = "Invitations are not available on this server."
NEEDS_NEW_ACCOUNT: Final = "This invitation requires creating a new account."


# --- personal mode -------------------------------------------------------------------------


async def test_personal_mode_refuses_every_invitation_page(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "personal")
    owner = await signup(client, "owner@example.com")
    # Personal mode issues none: a row written by hand (say, before a mode change) is no key.
    token = await insert_invitation(conn, await first_organization(conn, owner))
    await signup(client, INVITEE.replace("new", "other"))
    for signed_in in (True, False):
        if not signed_in:
            await anonymous_csrf(client)
        for path in (ACCEPT, SIGNUP, LOGIN):
            response = await client.get(page_url(path, token), allow_redirects=False)
            assert response.status == 403, (path, signed_in)
            assert DISABLED_MESSAGE in await response.text()
            response = await post_form(client, path, token, password=PASSWORD)
            assert response.status == 403, (path, signed_in, await response.text())
            assert DISABLED_MESSAGE in await response.text()
    assert await user_count(conn) == 0
    await assert_untouched(conn, token)


async def test_personal_mode_refuses_an_invitation_code_at_signup(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "personal")
    owner = await signup(client, "owner@example.com")
    token = await insert_invitation(conn, await first_organization(conn, owner))
    csrf = await anonymous_csrf(client)
    response = await client.post(
        routes.API_SIGNUP_DIRECT,
        json={"email": INVITEE, "password": PASSWORD, "invitation_code": token},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status == 400
    assert await response.json() == {
        "error": {"code": "invalid_request", "message": DISABLED_MESSAGE}
    }
    assert await user_count(conn) == 0
    await assert_untouched(conn, token)


# --- single mode ---------------------------------------------------------------------------


async def test_single_landing_offers_only_creating_an_account(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "single")
    _, _, token = await invited(client, conn, "single")
    for path in (ACCEPT, SIGNUP):
        response = await client.get(page_url(path, token))
        assert response.status == 200
        page = await response.text()
        assert INVITEE in page
        assert LOGIN not in page
        assert "Log in" not in page
    landing = await (await client.get(page_url(ACCEPT, token))).text()
    assert "Create an account" in landing
    assert f'href="{page_url(SIGNUP, token)}"' in landing


@pytest.mark.parametrize("role", ["member", "admin"])
async def test_single_signup_joins_only_the_invited_organization(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, role: str
) -> None:
    client = await make_client(aiohttp_client, db, "single")
    _, org_id, token = await invited(client, conn, "single", role=role)
    csrf = await form_csrf(client, page_url(SIGNUP, token))
    response = await post_form(client, SIGNUP, token, password=PASSWORD, csrf=csrf)
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == "/"
    claims = claims_of(client)
    assert (claims["org_id"], claims["org_role"]) == (org_id, role)
    assert await memberships(conn, claims["sub"]) == [(org_id, "team", role)]
    created = await conn.fetchval(
        "SELECT count(*) FROM organizations WHERE created_by_user_id = $1",
        uuid.UUID(claims["sub"]),
    )
    assert created == 0
    assert await session_organization(conn, claims["sid"]) == org_id
    row = await invitation_row(conn, token)
    assert str(row["accepted_by_user_id"]) == claims["sub"]


async def test_single_login_page_and_form_are_refused(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "single")
    _, _, token = await invited(client, conn, "single")
    await signup(client, INVITEE)  # an account with the invited email (its own team)
    await anonymous_csrf(client)
    response = await client.get(page_url(LOGIN, token))
    assert response.status == 403
    assert NEEDS_NEW_ACCOUNT in await response.text()
    for password in (PASSWORD, ""):
        response = await post_form(client, LOGIN, token, password=password)
        assert response.status == 403, (password, await response.text())
        assert NEEDS_NEW_ACCOUNT in await response.text()
    await assert_untouched(conn, token)


async def test_single_signed_in_invitee_is_told_a_new_account_is_needed(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "single")
    _, _, token = await invited(client, conn, "single")
    user = await signup(client, INVITEE)
    own = await first_organization(conn, user)
    landing = await client.get(page_url(ACCEPT, token))
    assert landing.status == 200
    page = await landing.text()
    assert "requires creating a new account" in page
    assert "<button" not in page.split("</h1>", 1)[1]  # no accept button, no sign-out form
    before = jar(client)
    response = await post_form(client, ACCEPT, token)
    assert response.status == 403, await response.text()
    assert NEEDS_NEW_ACCOUNT in await response.text()
    assert jar(client)[cookies.ACCESS.name] == before[cookies.ACCESS.name]
    assert claims_of(client)["org_id"] == own
    await assert_untouched(conn, token)
    # Nor can the signup page make a second account with that email.
    response = await post_form(client, SIGNUP, token, password=PASSWORD)
    assert response.status == 422
    assert "An account with this email already exists." in await response.text()
    assert await memberships(conn, user) == [(own, "team", "owner")]
    await assert_untouched(conn, token)


async def test_single_anonymous_accept_post_is_refused(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "single")
    _, _, token = await invited(client, conn, "single")
    await anonymous_csrf(client)
    response = await post_form(client, ACCEPT, token)
    assert response.status == 403, await response.text()
    assert NEEDS_NEW_ACCOUNT in await response.text()
    await assert_untouched(conn, token)


# --- multi mode: existing accounts ---------------------------------------------------------


@pytest.mark.parametrize("role", ["member", "admin"])
async def test_multi_existing_account_logs_in_and_joins(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, role: str
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    _, org_id, token = await invited(client, conn, "multi", role=role)
    user = await signup(client, INVITEE)
    personal = await first_organization(conn, user)
    client.session.cookie_jar.clear()
    landing = await (await client.get(page_url(ACCEPT, token))).text()
    assert "Create an account" in landing
    assert f'href="{page_url(LOGIN, token)}"' in landing
    csrf = await form_csrf(client, page_url(LOGIN, token))
    response = await post_form(client, LOGIN, token, password=PASSWORD, csrf=csrf)
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == "/"
    claims = claims_of(client)
    assert (claims["sub"], claims["org_id"], claims["org_role"]) == (user, org_id, role)
    assert jar(client)[cookies.CSRF.name] != csrf  # renewed at sign-in
    assert await session_organization(conn, claims["sid"]) == org_id
    assert await memberships(conn, user) == [
        (personal, "personal", "owner"),
        (org_id, "team", role),
    ]


async def test_multi_signed_in_accept_switches_the_session(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    _, org_id, token = await invited(client, conn, "multi", role="admin")
    user = await signup(client, INVITEE)
    personal = await first_organization(conn, user)
    before = jar(client)
    session_id = claims_of(client)["sid"]
    landing = await client.get(page_url(ACCEPT, token))
    assert landing.status == 200
    assert "Accept and join Acme" in await landing.text()
    response = await post_form(client, ACCEPT, token)
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == "/"
    after = jar(client)
    assert after[cookies.ACCESS.name] != before[cookies.ACCESS.name]
    assert after[cookies.CSRF.name] != before[cookies.CSRF.name]
    claims = claims_of(client)
    assert (claims["sid"], claims["org_id"], claims["org_role"]) == (session_id, org_id, "admin")
    assert await session_organization(conn, session_id) == org_id
    sessions = await session_count(conn, user)
    assert sessions == 1
    refreshed = await client.post(routes.API_SESSIONS_REFRESH, headers=csrf_header(client))
    assert refreshed.status == 200, await refreshed.text()
    assert claims_of(client)["org_id"] == org_id
    assert await memberships(conn, user) == [
        (personal, "personal", "owner"),
        (org_id, "team", "admin"),
    ]
    again = await client.get(page_url(ACCEPT, token))
    assert again.status == 200
    page = await again.text()
    assert "Invitation unavailable" in page
    assert "already been accepted" in page


async def test_multi_landing_after_the_access_token_expired_refreshes_first(
    aiohttp_client: ClientFactory,
    db: DatabaseSettings,
    conn: asyncpg.Connection,
    clock: FakeClock,
) -> None:
    client = await make_client(aiohttp_client, db, "multi", clock=clock)
    _, _, token = await invited(client, conn, "multi")
    await signup(client, INVITEE)
    before = jar(client)
    clock.advance(minutes=30)
    response = await client.get(page_url(ACCEPT, token), allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == page_url(ACCEPT, token)
    assert jar(client)[cookies.ACCESS.name] != before[cookies.ACCESS.name]
    landing = await client.get(page_url(ACCEPT, token))
    assert "Accept and join Acme" in await landing.text()


async def test_multi_signed_in_as_someone_else_cannot_accept(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    _, _, token = await invited(client, conn, "multi")
    await signup(client, "other@example.com")
    landing = await client.get(page_url(ACCEPT, token))
    assert landing.status == 200
    page = await landing.text()
    assert re.search(r"You are signed in as <strong[^>]*>other@example\.com</strong>", page)
    assert re.search(rf"The invitation is for <strong[^>]*>{re.escape(INVITEE)}</strong>", page)
    logout = f'action="{routes.LOGOUT}?return_to='
    assert logout in page
    assert "Sign out and continue" in page
    assert "Accept and join" not in page
    response = await post_form(client, ACCEPT, token)
    assert response.status == 403, await response.text()
    assert "This invitation was sent to a different email address." in await response.text()
    await assert_untouched(conn, token)
    # The sign-out form takes the browser back to the landing page, signed out.
    action = page.split(logout, 1)[1].split('"', 1)[0]
    response = await client.post(
        f"{routes.LOGOUT}?return_to={action}",
        data={"csrf_token": jar(client)[cookies.CSRF.name]},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == page_url(ACCEPT, token)


async def test_multi_member_already_is_409(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    _, org_id, token = await invited(client, conn, "multi")
    user = await signup(client, INVITEE)
    await add_member(conn, org_id, user, "member")  # joined some other way meanwhile
    response = await post_form(client, ACCEPT, token)
    assert response.status == 409, await response.text()
    assert "You are already a member of this organization." in await response.text()
    await anonymous_csrf(client)
    response = await post_form(client, LOGIN, token, password=PASSWORD)
    assert response.status == 409, await response.text()
    assert cookies.ACCESS.name not in jar(client)
    row = await invitation_row(conn, token)
    assert row["accepted_at"] is None
    assert await events(conn, ACCEPTED) == []
    assert await invited_joins(conn) == []


async def test_multi_login_form_errors(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    _, _, token = await invited(client, conn, "multi")
    csrf = await form_csrf(client, page_url(LOGIN, token))
    # No account has the email yet: the same answer as a wrong password.
    response = await post_form(client, LOGIN, token, password=PASSWORD, csrf=csrf)
    assert response.status == 422
    assert "Invalid email or password." in await response.text()
    await signup(client, INVITEE)
    csrf = await anonymous_csrf(client)
    response = await post_form(client, LOGIN, token, password="wrong password", csrf=csrf)
    assert response.status == 422
    page = await response.text()
    assert "Invalid email or password." in page
    assert f'name="token" value="{token}"' in page
    assert response.headers["Cache-Control"] == headers.NO_STORE
    assert cookies.ACCESS.name not in jar(client)
    response = await post_form(client, LOGIN, token, password="", csrf=csrf)
    assert response.status == 400
    assert "Enter your password." in await response.text()
    await assert_untouched(conn, token)


async def test_a_disabled_account_cannot_accept_by_logging_in(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    _, _, token = await invited(client, conn, "multi")
    user = await signup(client, INVITEE)
    await conn.execute("UPDATE users SET disabled_at = now() WHERE id = $1", uuid.UUID(user))
    csrf = await anonymous_csrf(client)
    response = await post_form(client, LOGIN, token, password=PASSWORD, csrf=csrf)
    assert response.status == 422, await response.text()
    assert "This account is disabled." in await response.text()
    assert cookies.ACCESS.name not in jar(client)
    await assert_untouched(conn, token)
    sessions = await session_count(conn, user)
    assert sessions == 1  # the one signup made, nothing new


async def test_a_disabled_signed_in_account_cannot_accept(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    _, _, token = await invited(client, conn, "multi")
    user = await signup(client, INVITEE)
    personal = await first_organization(conn, user)
    await conn.execute("UPDATE users SET disabled_at = now() WHERE id = $1", uuid.UUID(user))
    response = await post_form(client, ACCEPT, token)
    assert response.status == 403, await response.text()
    assert "This account is disabled." in await response.text()
    await assert_untouched(conn, token)
    assert await memberships(conn, user) == [(personal, "personal", "owner")]


async def test_an_accept_post_without_a_usable_session_goes_back_to_the_landing_page(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    _, _, token = await invited(client, conn, "multi")
    await anonymous_csrf(client)
    response = await post_form(client, ACCEPT, token)
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == page_url(ACCEPT, token)
    # Signed in, but the session was ended elsewhere (its access token still verifies).
    user = await signup(client, INVITEE)
    await conn.execute("UPDATE sessions SET revoked_at = now() WHERE user_id = $1", uuid.UUID(user))
    response = await post_form(client, ACCEPT, token)
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == page_url(ACCEPT, token)
    # ... and its dead cookies are cleared, so the landing page offers to sign in again.
    assert response.cookies[cookies.ACCESS.name].value == ""
    assert response.cookies[cookies.REFRESH.name].value == ""
    landing = await (await client.get(page_url(ACCEPT, token))).text()
    assert "Create an account" in landing
    await assert_untouched(conn, token)
