"""Account self-service on a real database: username, password change and add, deletion.

Every refusal changes nothing and records no event; every change records `user.updated`
(or `user.deleted`) in its own transaction. Both the no-JavaScript flow (303 to the account
page with a flash, a refusal's shown next to its field) and the HTMX flow (fragments, toasts,
HX-* headers) are covered.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any, Final

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import cookies, routes
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.platform.flash import parse_flash
from authara_core.settings import load_settings
from tests.coresupport import WEBHOOK_ENV, FakeClock
from tests.integration.core.conftest import ClientFactory, csrf_token, signup
from tests.integration.core.internalsupport import TOKEN, add_member, create_team
from tests.integration.core.oauthsupport import (
    jar_csrf,
    oauth_env,
    provider_env,
    sign_in,
)
from tests.oauthstubs import Account, OidcStandIn

Client = TestClient[Any, Any]
PASSWORD: Final = "correct horse battery"
NEW_PASSWORD: Final = "another horse staple"
HTMX: Final = {"HX-Request": "true"}
ACCOUNT_ROW: Final = (
    "SELECT u.username, p.password_hash FROM users u JOIN auth_providers p ON p.user_id = u.id"
)


@pytest.fixture
def env(db: DatabaseSettings, corp: OidcStandIn) -> dict[str, str]:
    corp.account = Account("corp-lin", "lin@example.com")
    return {**oauth_env(db, {"corp": provider_env("corp", corp.url)}), **WEBHOOK_ENV}


async def _browser(aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock) -> Client:
    return await aiohttp_client(create_app(load_settings(env), clock=clock, deliver_webhooks=False))


async def _post(
    client: Client, path: str, data: dict[str, str], *, headers: dict[str, str] | None = None
) -> Any:
    return await client.post(
        path,
        data={**data, "csrf_token": jar_csrf(client)},
        headers=headers or {},
        allow_redirects=False,
    )


async def _shown(client: Client, answer: Any) -> str:
    """Follow a form's answer back to the account page (303) and return what it shows."""
    assert answer.status == 303, answer.status
    assert answer.headers["Location"] == routes.ACCOUNT
    page = await client.get(routes.ACCOUNT, allow_redirects=False)
    assert page.status == 200
    return str(await page.text())


async def _signed_up(client: Client, email: str = "ada@example.com") -> None:
    response = await signup(client, email=email, password=PASSWORD, return_to="/")
    assert response.status == 303, await response.text()


async def _login(client: Client, email: str, password: str) -> int:
    token = await csrf_token(client, routes.LOGIN)
    response = await client.post(
        routes.LOGIN,
        data={"email": email, "password": password, "csrf_token": token},
        allow_redirects=False,
    )
    return response.status


async def _refresh(client: Client) -> int:
    response = await client.post(
        routes.API_SESSIONS_REFRESH, headers={"X-CSRF-Token": jar_csrf(client)}
    )
    return response.status


async def _events(conn: asyncpg.Connection) -> list[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT event_type, payload->'data'->>'user_id' AS user_id FROM webhook_events"
        " WHERE event_type LIKE 'user.%' AND event_type <> 'user.created' ORDER BY created_at"
    )
    return [(row["event_type"], row["user_id"]) for row in rows]


async def _user_id(conn: asyncpg.Connection, email: str) -> str:
    return str(await conn.fetchval("SELECT id FROM users WHERE email = $1", email))


def _cleared(response: Any) -> bool:
    return all(
        response.cookies[spec.name].value == "" and response.cookies[spec.name]["max-age"] == "0"
        for spec in cookies.SESSION_COOKIES
    )


# The page and who may use it ----------------------------------------------------------------


async def test_the_account_page_is_the_users_home(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    page = await client.get(routes.ACCOUNT)
    text = await page.text()
    assert page.status == 200
    assert 'data-testid="account-email">ada@example.com<' in text
    assert re.search(r'data-testid="account-username">ada-\d{5}<', text)
    for heading in ("Profile", "Ways to sign in", "Password", "Delete account"):
        assert f">{heading}</h2>" in text
    assert f'action="{routes.PASSWORD_CHANGE}"' in text and 'id="current_password"' in text
    assert 'id="delete-password" name="password" type="password"' in text
    assert '<label for="username">' in text and '<label for="delete-password">' in text
    # Every form posts its CSRF token.
    assert text.count("<form") == text.count('name="csrf_token"')


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", routes.USERNAME_CHANGE),
        ("GET", routes.PASSWORD_CHANGE),
        ("POST", routes.PASSWORD_CHANGE),
        ("GET", routes.PASSWORD_ADD),
        ("POST", routes.PASSWORD_LINK),
        ("POST", routes.ACCOUNT_DELETE),
    ],
)
async def test_anonymous_callers_go_to_the_login_page(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, method: str, path: str
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await csrf_token(client)
    if method == "GET":
        response = await client.get(path, allow_redirects=False)
    else:
        response = await _post(client, path, {})
    assert response.status == 303
    assert response.headers["Location"] == "/auth/login?return_to=%2Fauth%2Faccount"


@pytest.mark.parametrize(
    "path",
    [routes.USERNAME_CHANGE, routes.PASSWORD_CHANGE, routes.PASSWORD_LINK, routes.ACCOUNT_DELETE],
)
async def test_every_form_needs_csrf(
    aiohttp_client: ClientFactory,
    env: dict[str, str],
    clock: FakeClock,
    conn: asyncpg.Connection,
    path: str,
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    response = await client.post(
        path,
        data={"username": "someone", "password": PASSWORD, "current_password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 403
    assert await conn.fetchval("SELECT count(*) FROM users") == 1
    assert await _events(conn) == []


# Username ----------------------------------------------------------------------------------


async def test_change_username_without_javascript(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    user_id = await _user_id(conn, "ada@example.com")

    done = await _post(client, routes.USERNAME_CHANGE, {"username": "  Ada_Lovelace-1 "})

    assert done.status == 303 and done.headers["Location"] == routes.ACCOUNT
    page = await (await client.get(routes.ACCOUNT)).text()
    assert "Your username is now Ada_Lovelace-1." in page
    assert 'data-testid="account-username">Ada_Lovelace-1<' in page
    row = await conn.fetchrow("SELECT username, username_normalized FROM users")
    assert tuple(row) == ("Ada_Lovelace-1", "ada_lovelace-1")
    assert await _events(conn) == [("user.updated", user_id)]


@pytest.mark.parametrize(
    "typed", ["ab", "a" * 31, "has space", "ünïcode", "dot.ted", "new\nline", "", "<b>x</b>"]
)
async def test_an_invalid_username_is_refused_with_the_typed_value_kept(
    aiohttp_client: ClientFactory,
    env: dict[str, str],
    clock: FakeClock,
    conn: asyncpg.Connection,
    typed: str,
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    before = await conn.fetchval("SELECT username FROM users")

    text = await _shown(client, await _post(client, routes.USERNAME_CHANGE, {"username": typed}))

    assert "That is not a valid username." in text
    assert 'id="username-hint">3 to 30 letters, digits, underscores or hyphens.<' in text
    assert 'aria-describedby="username-hint username-error" aria-invalid="true"' in text
    assert '<p class="field-error" id="username-error" role="alert">' in text
    escaped = typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert f'name="username" type="text" value="{escaped}"' in text
    assert await conn.fetchval("SELECT username FROM users") == before
    assert await _events(conn) == []


async def test_a_username_taken_in_another_case_is_refused(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    grace = await _browser(aiohttp_client, env, clock)
    await _signed_up(grace, "grace@example.com")
    assert (await _post(grace, routes.USERNAME_CHANGE, {"username": "Grace"})).status == 303
    ada = await _browser(aiohttp_client, env, clock)
    await _signed_up(ada)
    before = await _events(conn)

    text = await _shown(ada, await _post(ada, routes.USERNAME_CHANGE, {"username": "gRACE"}))

    assert "That username is taken." in text and 'value="gRACE"' in text
    assert (
        await conn.fetchval("SELECT username FROM users WHERE email = 'ada@example.com'") != "gRACE"
    )
    assert await _events(conn) == before
    # Changing only the case of one's own username is fine.
    assert (await _post(grace, routes.USERNAME_CHANGE, {"username": "GRACE"})).status == 303


async def test_of_two_concurrent_renames_to_one_name_exactly_one_wins(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    first = await _browser(aiohttp_client, env, clock)
    await _signed_up(first, "first@example.com")
    second = await _browser(aiohttp_client, env, clock)
    await _signed_up(second, "second@example.com")

    answers = await asyncio.gather(
        _post(first, routes.USERNAME_CHANGE, {"username": "winner"}),
        _post(second, routes.USERNAME_CHANGE, {"username": "WINNER"}),
    )

    assert [answer.status for answer in answers] == [303, 303]
    shown = [await (await c.get(routes.ACCOUNT)).text() for c in (first, second)]
    assert sorted("That username is taken." in text for text in shown) == [False, True]
    assert (
        await conn.fetchval("SELECT count(*) FROM users WHERE username_normalized = 'winner'") == 1
    )
    assert [kind for kind, _ in await _events(conn)] == ["user.updated"]


async def test_a_refusal_comes_back_to_the_account_page_once_with_no_secret_kept(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    wrong = "wrong password!"
    form = {
        "current_password": wrong,
        "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
    }

    refused = await _post(client, routes.PASSWORD_CHANGE, form)

    assert refused.status == 303 and refused.headers["Location"] == routes.ACCOUNT
    flash = parse_flash(refused.cookies[cookies.FLASH.name].value)
    assert flash is not None and flash.field == "current_password" and flash.value is None
    raw = refused.headers["Set-Cookie"]
    assert all(secret not in raw for secret in (wrong, PASSWORD, NEW_PASSWORD))
    page = await client.get(routes.ACCOUNT, allow_redirects=False)
    text = await page.text()
    assert '<p class="field-error" id="current_password-error" role="alert">' in text
    assert 'data-testid="flash"' not in text  # shown at its field, not twice
    assert page.cookies[cookies.FLASH.name]["max-age"] == "0"  # shown once
    again = await (await client.get(routes.ACCOUNT, allow_redirects=False)).text()
    assert "not correct" not in again and 'aria-invalid="true"' not in again


@pytest.mark.parametrize(
    ("overrides", "href", "name"),
    [
        ({}, "/", "the app"),  # AUTHARA_DEFAULT_RETURN_TO's default, no AUTHARA_APP_NAME
        ({"AUTHARA_DEFAULT_RETURN_TO": "/dashboard?a=1&b=2"}, "/dashboard?a=1&amp;b=2", "the app"),
        ({"AUTHARA_APP_NAME": "Acme <Shop>"}, "/", "Acme &lt;Shop&gt;"),
    ],
)
async def test_the_account_page_links_back_to_the_app(
    aiohttp_client: ClientFactory,
    env: dict[str, str],
    clock: FakeClock,
    overrides: dict[str, str],
    href: str,
    name: str,
) -> None:
    client = await _browser(aiohttp_client, {**env, **overrides}, clock)
    await _signed_up(client)
    text = await (await client.get(routes.ACCOUNT)).text()
    link = f'<p class="back"><a href="{href}" data-testid="back-to-app">Back to {name}</a></p>'
    assert link in text
    assert text.index(link) < text.index("<h1>Your account</h1>")


async def test_change_username_with_htmx_answers_with_the_profile_and_a_toast(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)

    done = await _post(client, routes.USERNAME_CHANGE, {"username": "ada"}, headers=HTMX)
    text = await done.text()
    assert done.status == 200
    assert text.lstrip().startswith('<section class="section" id="profile"')
    assert "<html" not in text and "Ways to sign in" not in text
    assert 'data-testid="account-username">ada<' in text
    assert '<div id="toasts" hx-swap-oob="innerHTML">' in text
    assert 'role="status" data-testid="toast"><p>Your username is now ada.<' in text

    refused = await _post(client, routes.USERNAME_CHANGE, {"username": "a!"}, headers=HTMX)
    text = await refused.text()
    assert refused.status == 422
    assert 'id="profile"' in text and 'value="a!"' in text
    assert 'role="alert" data-testid="toast"><p>' in text


# Password change ---------------------------------------------------------------------------


async def test_a_wrong_current_password_changes_nothing(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    other = await _browser(aiohttp_client, env, clock)
    assert await _login(other, "ada@example.com", PASSWORD) == 303
    hash_before = await conn.fetchval("SELECT password_hash FROM auth_providers")
    page = await client.get(routes.PASSWORD_CHANGE, allow_redirects=False)
    assert page.status == 303 and page.headers["Location"] == f"{routes.ACCOUNT}#password-section"

    cases = [
        ({"current_password": "wrong password!"}, "current_password", "not correct"),
        ({"confirm_password": "something else"}, "confirm_password", "do not match"),
        ({"new_password": "short", "confirm_password": "short"}, "new_password", "8 and 128"),
    ]
    for override, field, message in cases:
        form = {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
            **override,
        }
        text = await _shown(client, await _post(client, routes.PASSWORD_CHANGE, form))
        assert message in text
        assert f'aria-describedby="{field}-error"' in text or f'{field}-error"' in text
        assert f'<p class="field-error" id="{field}-error" role="alert">' in text
        assert PASSWORD not in text and NEW_PASSWORD not in text  # never echoed

    assert await conn.fetchval("SELECT password_hash FROM auth_providers") == hash_before
    assert await _events(conn) == []
    assert await _refresh(other) == 200  # the other session lives on
    assert (
        await _login(await _browser(aiohttp_client, env, clock), "ada@example.com", PASSWORD) == 303
    )


async def test_a_password_change_ends_the_other_sessions_and_keeps_this_one(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    user_id = await _user_id(conn, "ada@example.com")
    other = await _browser(aiohttp_client, env, clock)
    assert await _login(other, "ada@example.com", PASSWORD) == 303

    done = await _post(
        client,
        routes.PASSWORD_CHANGE,
        {
            "current_password": f" {PASSWORD} ",
            "new_password": f"{NEW_PASSWORD}  ",
            "confirm_password": NEW_PASSWORD,
        },
    )

    assert done.status == 303 and done.headers["Location"] == routes.ACCOUNT
    page = await (await client.get(routes.ACCOUNT)).text()
    assert "Your password was changed. You were signed out on 1 other session." in page
    assert await _refresh(other) == 401
    assert await _refresh(client) == 200
    assert await _events(conn) == [("user.updated", user_id)]
    fresh = await _browser(aiohttp_client, env, clock)
    assert await _login(fresh, "ada@example.com", PASSWORD) == 422
    assert await _login(fresh, "ada@example.com", NEW_PASSWORD) == 303


async def test_password_change_with_htmx_answers_with_the_account_page(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    form = {
        "current_password": PASSWORD,
        "new_password": NEW_PASSWORD,
        "confirm_password": NEW_PASSWORD,
    }
    refused = await _post(
        client, routes.PASSWORD_CHANGE, {**form, "confirm_password": "x"}, headers=HTMX
    )
    assert refused.status == 422
    assert refused.headers["HX-Retarget"] == "#body"
    assert refused.headers["HX-Push-Url"] == routes.ACCOUNT
    refused_text = await refused.text()
    assert 'role="alert" data-testid="toast"><p>' in refused_text
    assert '<p class="field-error" id="confirm_password-error" role="alert">' in refused_text

    done = await _post(client, routes.PASSWORD_CHANGE, form, headers=HTMX)

    text = await done.text()
    assert done.status == 200
    assert done.headers["HX-Retarget"] == "#body" and done.headers["HX-Reswap"] == "innerHTML"
    assert done.headers["HX-Push-Url"] == routes.ACCOUNT
    assert "<html" not in text and "<h1>Your account</h1>" in text
    assert "Your password was changed." in text


async def test_an_account_without_a_password_cannot_change_it(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    assert (await sign_in(client, "corp")).status == 303
    await csrf_token(client, routes.ACCOUNT)

    refused = await _post(
        client,
        routes.PASSWORD_CHANGE,
        {"current_password": "x", "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )

    text = await _shown(client, refused)
    # Shown at the form this account has: adding a password.
    assert '<p class="field-error" id="password-error" role="alert">' in text
    assert "no password yet" in text
    assert (
        await conn.fetchval("SELECT count(*) FROM auth_providers WHERE provider = 'password'") == 0
    )
    assert await _events(conn) == []


# Adding a password -------------------------------------------------------------------------


async def test_an_oauth_only_account_adds_a_password_and_signs_in_with_it(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    assert (await sign_in(client, "corp")).status == 303
    user_id = await _user_id(conn, "lin@example.com")
    other = await _browser(aiohttp_client, env, clock)
    assert (await sign_in(other, "corp")).status == 303
    account = await (await client.get(routes.ACCOUNT)).text()
    assert f'action="{routes.PASSWORD_LINK}"' in account and "Add password</button>" in account
    assert 'id="current_password"' not in account
    assert 'id="delete-password"' not in account and "within the last 10 minutes" in account
    page = await client.get(routes.PASSWORD_ADD, allow_redirects=False)
    assert page.headers["Location"] == f"{routes.ACCOUNT}#password-section"

    for form, message in (
        ({"password": NEW_PASSWORD, "confirm_password": "different one"}, "do not match"),
        ({"password": "short", "confirm_password": "short"}, "8 and 128"),
    ):
        assert message in await _shown(client, await _post(client, routes.PASSWORD_LINK, form))
    assert await _events(conn) == []

    done = await _post(
        client, routes.PASSWORD_LINK, {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD}
    )

    assert done.status == 303 and done.headers["Location"] == routes.ACCOUNT
    assert "Your password was added" in await (await client.get(routes.ACCOUNT)).text()
    assert await _events(conn) == [("user.updated", user_id)]
    assert await _refresh(other) == 200  # adding a password ends no session
    fresh = await _browser(aiohttp_client, env, clock)
    assert await _login(fresh, "lin@example.com", NEW_PASSWORD) == 303
    again = await _post(
        client, routes.PASSWORD_LINK, {"password": PASSWORD, "confirm_password": PASSWORD}
    )
    text = await _shown(client, again)
    # Shown at the form this account has now: changing the password.
    assert "already has a password" in text and 'id="current_password-error"' in text


# Deleting the account ----------------------------------------------------------------------


async def test_delete_with_a_wrong_password_is_refused(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)

    empty = await _shown(client, await _post(client, routes.ACCOUNT_DELETE, {}))
    text = await _shown(
        client, await _post(client, routes.ACCOUNT_DELETE, {"password": "not my password"})
    )

    assert "Your account was not deleted." in empty
    assert "Your password is not correct. Your account was not deleted." in text
    assert 'aria-describedby="delete-hint delete-error" aria-invalid="true"' in text
    assert await conn.fetchval("SELECT count(*) FROM users") == 1
    assert await _events(conn) == []
    assert await _refresh(client) == 200


async def test_delete_removes_the_account_and_what_belongs_to_its_email(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    owner = await _browser(aiohttp_client, env, clock)
    await _signed_up(owner, "owner@example.com")
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    user_id = uuid.UUID(await _user_id(conn, "ada@example.com"))
    owner_id = uuid.UUID(await _user_id(conn, "owner@example.com"))
    org_id = await conn.fetchval(
        "SELECT organization_id FROM organization_memberships WHERE user_id = $1", owner_id
    )
    await conn.execute(
        """
        INSERT INTO organization_invitations (organization_id, email, role, token_hash, expires_at)
        VALUES ($1, 'ADA@example.com', 'member', 'h1', now() + interval '1 day')
        """,
        org_id,
    )
    await conn.execute(
        "INSERT INTO email_jobs (to_email, template) VALUES ('ada@example.com', 'invitation')"
    )
    challenge = await conn.fetchval(
        """
        INSERT INTO challenges (purpose, email, expires_at)
        VALUES ('signup', 'ada@example.com', now() + interval '1 hour') RETURNING id
        """
    )
    await conn.execute(
        """
        INSERT INTO pending_signup_actions (challenge_id, email, password_hash)
        VALUES ($1, 'ada@example.com', 'x')
        """,
        challenge,
    )
    await conn.execute(
        """
        INSERT INTO provider_links (token_hash, binding_hash, user_id, provider,
            provider_user_id, provider_email, return_to, expires_at)
        VALUES ('t', 'b', $1, 'corp', 'corp-ada', 'ada@example.com', '/', now() + interval '5 min')
        """,
        user_id,
    )
    await conn.execute(
        "INSERT INTO email_jobs (to_email, template) VALUES ('owner@example.com', 'invitation')"
    )

    done = await _post(client, routes.ACCOUNT_DELETE, {"password": PASSWORD})

    assert done.status == 303 and done.headers["Location"] == routes.ACCOUNT_DELETED
    assert _cleared(done)
    for table in (
        "organization_invitations",
        "challenges",
        "pending_signup_actions",
        "provider_links",
    ):
        assert await conn.fetchval(f"SELECT count(*) FROM {table}") == 0, table  # noqa: S608
    assert await conn.fetchval("SELECT array_agg(to_email) FROM email_jobs") == [
        "owner@example.com"
    ]
    assert await conn.fetchval("SELECT array_agg(email) FROM users") == ["owner@example.com"]
    for table in ("sessions", "auth_providers", "organization_memberships"):
        left = await conn.fetchval(
            f"SELECT count(*) FROM {table} WHERE user_id = $1",  # noqa: S608
            user_id,
        )
        assert left == 0, table
    assert ("user.deleted", str(user_id)) in await _events(conn)
    goodbye = await client.get(routes.ACCOUNT_DELETED)
    assert goodbye.status == 200
    text = await goodbye.text()
    assert "<h1>Your account was deleted</h1>" in text and 'href="/"' in text
    assert await _refresh(client) == 401


async def test_the_last_active_admin_cannot_delete_their_account(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    other = await _browser(aiohttp_client, env, clock)
    await _signed_up(other, "grace@example.com")
    grant = """
        INSERT INTO user_platform_roles (user_id, role_id)
        SELECT u.id, r.id FROM users u, platform_roles r WHERE u.email = $1 AND r.name = 'admin'
    """
    await conn.execute(grant, "ada@example.com")
    await conn.execute(grant, "grace@example.com")
    await conn.execute("UPDATE users SET disabled_at = now() WHERE email = 'grace@example.com'")

    refused = await _post(client, routes.ACCOUNT_DELETE, {"password": PASSWORD})

    assert "last active admin" in await _shown(client, refused)
    assert await conn.fetchval("SELECT count(*) FROM users") == 2
    assert await _events(conn) == []

    await conn.execute("UPDATE users SET disabled_at = NULL")
    done = await _post(client, routes.ACCOUNT_DELETE, {"password": PASSWORD})
    assert done.status == 303
    assert await conn.fetchval("SELECT array_agg(email) FROM users") == ["grace@example.com"]


async def test_without_a_password_deleting_needs_a_recent_sign_in(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    assert (await sign_in(client, "corp")).status == 303
    clock.advance(minutes=11)
    assert await _refresh(client) == 200  # a fresh access token, the same old sign-in

    text = await _shown(client, await _post(client, routes.ACCOUNT_DELETE, {}))

    assert "sign in again" in text
    sign_in_again = (
        "/auth/sessions/logout?return_to=%2Fauth%2Flogin%3Freturn_to%3D%252Fauth%252Faccount"
    )
    assert f'action="{sign_in_again}"' in text
    assert await conn.fetchval("SELECT count(*) FROM users") == 1
    assert await _events(conn) == []

    out = await _post(client, sign_in_again, {})
    assert (
        out.status == 303 and out.headers["Location"] == "/auth/login?return_to=%2Fauth%2Faccount"
    )
    clock.advance(minutes=-11)  # the stand-in provider's ID tokens are stamped with real time
    assert (await sign_in(client, "corp", return_to=routes.ACCOUNT)).status == 303
    with_htmx = await _post(client, routes.ACCOUNT_DELETE, {}, headers=HTMX)
    assert with_htmx.status == 200
    assert with_htmx.headers["HX-Redirect"] == routes.ACCOUNT_DELETED
    assert "Location" not in with_htmx.headers
    assert _cleared(with_htmx)
    assert await conn.fetchval("SELECT count(*) FROM users") == 0


async def test_a_refused_delete_with_htmx_shows_the_page_body_and_a_toast(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)

    refused = await _post(client, routes.ACCOUNT_DELETE, {"password": "nope nope"}, headers=HTMX)

    text = await refused.text()
    assert refused.status == 422
    assert refused.headers["HX-Retarget"] == "#body"
    assert "<html" not in text and 'id="delete-error"' in text
    assert 'role="alert" data-testid="toast"><p>' in text


# PUT /auth/api/v1/users/password -----------------------------------------------------------


async def test_put_users_password_ends_every_session_including_this_one(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    user_id = await _user_id(conn, "ada@example.com")
    other = await _browser(aiohttp_client, env, clock)
    assert await _login(other, "ada@example.com", PASSWORD) == 303
    reset = await client.post(
        routes.API_PASSWORD_RESET_CHALLENGES,
        json={"email": "ada@example.com", "new_password": "a reset password"},
        headers={"X-CSRF-Token": jar_csrf(client)},
    )
    assert reset.status == 202
    assert await conn.fetchval("SELECT count(*) FROM pending_password_resets") == 1
    headers = {"X-CSRF-Token": jar_csrf(client)}

    for body in ({"password": "short"}, {"password": "x" * 129}, {}, {"password": 5}):
        bad = await client.put(routes.API_USER_PASSWORD, json=body, headers=headers)
        assert bad.status == 400
        assert (await bad.json())["error"]["code"] == "invalid_request"
    no_csrf = await client.put(routes.API_USER_PASSWORD, json={"password": NEW_PASSWORD})
    assert no_csrf.status == 403 and (await no_csrf.json())["error"]["code"] == "forbidden"
    anonymous = await _browser(aiohttp_client, env, clock)
    await anonymous.get(routes.API_CSRF)
    unauthorized = await anonymous.put(
        routes.API_USER_PASSWORD,
        json={"password": NEW_PASSWORD},
        headers={"X-CSRF-Token": jar_csrf(anonymous)},
    )
    assert unauthorized.status == 401
    assert (await unauthorized.json())["error"]["code"] == "unauthorized"
    assert await _events(conn) == []

    done = await client.put(
        routes.API_USER_PASSWORD, json={"password": NEW_PASSWORD}, headers=headers
    )

    assert done.status == 204
    assert await conn.fetchval("SELECT count(*) FROM pending_password_resets") == 0
    assert await _events(conn) == [("user.updated", user_id)]
    assert await _refresh(other) == 401
    assert await _refresh(client) == 401
    fresh = await _browser(aiohttp_client, env, clock)
    assert await _login(fresh, "ada@example.com", NEW_PASSWORD) == 303


async def test_put_users_password_gives_an_oauth_only_account_a_password(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    assert (await sign_in(client, "corp")).status == 303
    done = await client.put(
        routes.API_USER_PASSWORD,
        json={"password": NEW_PASSWORD},
        headers={"X-CSRF-Token": jar_csrf(client)},
    )
    assert done.status == 204
    fresh = await _browser(aiohttp_client, env, clock)
    assert await _login(fresh, "lin@example.com", NEW_PASSWORD) == 303


async def test_the_last_owner_of_a_shared_organization_is_told_to_hand_it_over(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    multi = {**env, "AUTHARA_ORGANIZATION_MODE": "multi", "AUTHARA_INTERNAL_API_TOKEN": TOKEN}
    client = await _browser(aiohttp_client, multi, clock)
    await _signed_up(client)
    other = await _browser(aiohttp_client, multi, clock)
    await _signed_up(other, "grace@example.com")
    team = await create_team(client, await _user_id(conn, "ada@example.com"))
    await add_member(conn, team, await _user_id(conn, "grace@example.com"), "member")

    text = await _shown(client, await _post(client, routes.ACCOUNT_DELETE, {"password": PASSWORD}))

    assert "last owner of organization" in text and 'id="delete-error"' in text
    assert await conn.fetchval("SELECT count(*) FROM users") == 2
    assert await _events(conn) == []


async def test_a_session_ended_elsewhere_cannot_change_the_account_with_its_access_token(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    stolen = await _browser(aiohttp_client, env, clock)
    assert await _login(stolen, "ada@example.com", PASSWORD) == 303
    changed = await _post(
        client,
        routes.PASSWORD_CHANGE,
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert changed.status == 303
    before = await conn.fetchrow(ACCOUNT_ROW)
    events = await _events(conn)

    # The revoked session's access token is still unexpired: the account refuses it anyway.
    takeover = await stolen.put(
        routes.API_USER_PASSWORD,
        json={"password": "the attacker's one"},
        headers={"X-CSRF-Token": jar_csrf(stolen)},
    )
    rename = await _post(stolen, routes.USERNAME_CHANGE, {"username": "stolen"})
    delete = await _post(stolen, routes.ACCOUNT_DELETE, {"password": NEW_PASSWORD})

    assert takeover.status == 401
    assert rename.status == delete.status == 401
    assert await conn.fetchrow(ACCOUNT_ROW) == before
    assert await _events(conn) == events
