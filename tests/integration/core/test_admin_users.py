"""The console's Users pages: search (and its indexes), a user's page, every action and guard."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application

from authara_contract import cookies, routes
from authara_core.admin import store
from authara_core.admin.audit import Actor
from authara_core.app import SERVICES_KEY
from authara_core.platform.errors import Forbidden, LastActiveAdmin, LastAdmin
from tests.integration.core.conftest import csrf_token, signup

Client = TestClient[object, Application]
PASSWORD = "correct horse battery"
HTMX = {"HX-Request": "true"}
PIXEL = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
ROW = re.compile(r'data-testid="user-row">\s*<a href="/auth/admin/users/([0-9a-f-]+)"')
FLASH = re.compile(r'data-testid="flash">([^<]+)<')


def _cookie(jar: aiohttp.abc.AbstractCookieJar, url: object, name: str) -> str | None:
    found = jar.filter_cookies(url).get(name)  # type: ignore[arg-type]
    return None if found is None else found.value


class Browser:
    """The target user's own browser: its own cookie jar and User-Agent."""

    def __init__(self, client: Client) -> None:
        self.base = client.make_url("/")
        self.http = aiohttp.ClientSession(
            base_url=str(self.base),
            cookie_jar=aiohttp.CookieJar(unsafe=True),
            headers={"User-Agent": PIXEL},
        )

    def cookie(self, name: str) -> str | None:
        return _cookie(self.http.cookie_jar, self.base, name)

    async def signup(self, email: str) -> None:
        await self.http.get("/auth/signup")
        response = await self.http.post(
            "/auth/signup",
            data={"email": email, "password": PASSWORD, "csrf_token": self.cookie("authara_csrf")},
            allow_redirects=False,
        )
        assert response.status == 303, await response.text()

    async def refresh(self) -> int:
        response = await self.http.post(
            routes.API_SESSIONS_REFRESH, headers={"X-CSRF-Token": self.cookie("authara_csrf") or ""}
        )
        return response.status


@pytest.fixture
async def target(client: Client) -> AsyncIterator[Browser]:
    browser = Browser(client)
    await browser.signup("Target.User@example.com")
    yield browser
    await browser.http.close()


async def _admin(client: Client, conn: asyncpg.Connection, email: str = "boss@example.com") -> str:
    """Sign `email` up in `client` and make it an admin; return its user id."""
    client.session.cookie_jar.clear()
    assert (await signup(client, email, PASSWORD)).status == 303
    await _grant(conn, email, "admin")
    return str(await conn.fetchval("SELECT id FROM users WHERE email = $1", email))


async def _grant(conn: asyncpg.Connection, email: str, role: str) -> None:
    await conn.execute(
        "INSERT INTO user_platform_roles (user_id, role_id)"
        " SELECT u.id, r.id FROM users u, platform_roles r WHERE u.email = $1 AND r.name = $2",
        email,
        role,
    )


async def _target_id(conn: asyncpg.Connection) -> str:
    return str(await conn.fetchval("SELECT id FROM users WHERE email = 'target.user@example.com'"))


def _csrf(client: Client) -> str:
    value = _cookie(client.session.cookie_jar, client.make_url("/"), cookies.CSRF.name)
    assert value is not None
    return value


async def _post(
    client: Client, path: str, *, confirm: bool = False, htmx: bool = False
) -> aiohttp.ClientResponse:
    data = {"csrf_token": _csrf(client)}
    if confirm:
        data["confirm"] = "yes"
    return await client.post(path, data=data, headers=HTMX if htmx else {}, allow_redirects=False)


async def _flash_after(client: Client, response: aiohttp.ClientResponse, user_id: str) -> str:
    """Follow an action's 303 to the user's page; return the flash message shown there."""
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == f"/auth/admin/users/{user_id}"
    page = await client.get(response.headers["Location"])
    assert page.status == 200
    match = FLASH.search(await page.text())
    assert match is not None
    return match.group(1)


async def _events(conn: asyncpg.Connection) -> list[tuple[str, str | None, str | None, dict]]:
    rows = await conn.fetch(
        "SELECT action, actor_user_id::text AS actor, target_user_id::text AS target, metadata"
        " FROM admin_audit_events ORDER BY created_at, id"
    )
    return [(r["action"], r["actor"], r["target"], json.loads(r["metadata"])) for r in rows]


def _url(route: str, **ids: str) -> str:
    return route.format(**ids)


# Search ------------------------------------------------------------------------------------------


async def _insert_users(conn: asyncpg.Connection, *names: str) -> None:
    for name in names:
        await conn.execute(
            "INSERT INTO users (username, username_normalized, email) VALUES ($1, lower($1), $2)",
            name,
            f"{name.lower()}@example.com",
        )


async def test_search_by_email_username_and_id_prefix_paginated(
    client: Client, conn: asyncpg.Connection
) -> None:
    await _admin(client, conn)
    # Names that cannot be a hex id prefix: an id search must not match a random uuid.
    await _insert_users(conn, "Lin_Lovelace", "lina", "Grace")
    await conn.execute("UPDATE users SET email = 'zed@example.com' WHERE username = 'Grace'")
    grace = str(await conn.fetchval("SELECT id FROM users WHERE username = 'Grace'"))

    async def found(query: str, page: int = 1) -> list[str]:
        response = await client.get(routes.ADMIN_USERS, params={"q": query, "page": str(page)})
        assert response.status == 200
        html = await response.text()
        ids = ROW.findall(html)
        return [await conn.fetchval("SELECT email FROM users WHERE id = $1::uuid", i) for i in ids]

    assert await found("LIN") == ["lin_lovelace@example.com", "lina@example.com"]
    assert await found("lin_") == ["lin_lovelace@example.com"]  # `_` is itself, not a wildcard
    assert await found("gra") == ["zed@example.com"]  # by username
    assert await found(grace[:8].upper()) == ["zed@example.com"]  # by id, any case
    assert await found("%") == []
    assert await found("nobody") == []
    newest = await found("")
    assert newest[0] == "zed@example.com"  # inserted last
    assert len(newest) == 4  # the admin too

    await _insert_users(conn, *(f"page{n:02}" for n in range(30)))
    first, second = await found("page"), await found("page", 2)
    assert len(first) == 25
    assert len(second) == 5
    assert first + second == sorted(first + second)
    listing = await (await client.get(routes.ADMIN_USERS, params={"q": "page"})).text()
    assert 'href="/auth/admin/users?q=page&amp;page=2"' in listing
    assert 'aria-current="page">Users<' in listing


@pytest.mark.parametrize(
    "params", [{"page": "0"}, {"page": "x"}, {"page": "401"}, {"page": "-1"}, {"q": "a" * 255}]
)
async def test_bad_search_arguments_are_400_pages(
    client: Client, conn: asyncpg.Connection, params: dict[str, str]
) -> None:
    await _admin(client, conn)
    for path in (routes.ADMIN_USERS, routes.ADMIN_USERS_SEARCH):
        response = await client.get(path, params=params)
        assert response.status == 400
        assert "<html" in (await response.text()).lower()


async def test_the_live_search_fragment_follows_the_address_bar(
    client: Client, conn: asyncpg.Connection
) -> None:
    await _admin(client, conn)
    await _insert_users(conn, "Lin")  # "li" is no hex prefix: the admin's random id can't match
    response = await client.get(routes.ADMIN_USERS_SEARCH, params={"q": "li"}, headers=HTMX)
    html = await response.text()
    assert response.status == 200
    assert html.lstrip().startswith('<section id="user-results"')
    assert len(ROW.findall(html)) == 1
    assert response.headers["HX-Replace-Url"] == "/auth/admin/users?q=li"
    page = await (await client.get(routes.ADMIN_USERS)).text()
    assert 'hx-get="/auth/admin/users/search"' in page
    assert 'method="get" action="/auth/admin/users"' in page  # and without JavaScript


@pytest.mark.parametrize("kind", ["email", "username", "id"])
async def test_each_kind_of_search_is_an_index_scan(conn: asyncpg.Connection, kind: str) -> None:
    await conn.execute(
        "INSERT INTO users (username, username_normalized, email, created_at)"
        " SELECT 'user' || n, 'user' || n, 'person' || n || '@example.com',"
        " now() - n * interval '1 minute'"
        " FROM generate_series(1, 20000) AS n"
    )
    await conn.execute("ANALYZE users")
    some_id = str(await conn.fetchval("SELECT id FROM users LIMIT 1"))
    term = {"email": "person1234", "username": "user1234", "id": some_id[:6]}[kind]

    async def plan(sql: str, *args: object) -> str:
        rows = await conn.fetch("EXPLAIN " + sql, *args)
        return "\n".join(row[0] for row in rows)

    searched = await plan(store.SEARCH_SQL, store.like_prefix(term), 26, 0)
    assert "Seq Scan on users" not in searched, searched
    for index in ("ix_users_email_pattern", "ix_users_username_pattern", "ix_users_id_pattern"):
        assert index in searched, searched
    newest = await plan(store.NEWEST_SQL, 26, 0)
    assert "ix_users_created_at" in newest, newest
    assert "Seq Scan on users" not in newest, newest
    found = await store.search_users(conn, term.upper(), limit=26, offset=0)
    assert found
    assert all(
        u.email.startswith(term) or u.username.startswith(term) or str(u.id).startswith(term)
        for u in found
    )


# A user's page -----------------------------------------------------------------------------------


async def test_the_user_page_shows_roles_methods_organizations_and_sessions(
    client: Client, conn: asyncpg.Connection, target: Browser
) -> None:
    await _admin(client, conn)
    user_id = await _target_id(conn)
    await _grant(conn, "target.user@example.com", "monitor")
    response = await client.get(_url(routes.ADMIN_USER, userID=user_id))
    html = await response.text()
    assert response.status == 200
    assert "target.user@example.com" in html
    assert 'data-testid="role-monitor" data-held="yes"' in html
    assert 'data-testid="role-admin" data-held="no"' in html
    assert "Password" in html
    assert "(personal)" in html or "(team)" in html  # the signup's organization
    assert "Chrome Mobile 124 on Android 14" in html  # the account page's User-Agent parsing
    assert "Pixel 8" in html
    assert html.count('data-testid="session"') == 1
    assert 'data-testid="disable"' in html


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/auth/admin/users/not-a-uuid", 400),
        # Fixed ids: parallel test workers must collect the same test names.
        ("/auth/admin/users/4f0d6a3c9b2e4e6f8a1d2c3b4a5f6e7d", 400),
        ("/auth/admin/users/urn:uuid:4f0d6a3c-9b2e-4e6f-8a1d-2c3b4a5f6e7d", 400),
        ("/auth/admin/users/4f0d6a3c-9b2e-4e6f-8a1d-2c3b4a5f6e7d", 404),
        ("/auth/admin/users/4F0D6A3C-9B2E-4E6F-8A1D-2C3B4A5F6E7D", 404),
    ],
)
async def test_bad_and_unknown_user_ids(
    client: Client, conn: asyncpg.Connection, path: str, status: int
) -> None:
    await _admin(client, conn)
    response = await client.get(path)
    assert response.status == status
    assert "<html" in (await response.text()).lower()
    posted = await _post(client, path + "/disable", confirm=True)
    assert posted.status == status


async def test_an_auditor_sees_the_page_without_any_form(
    client: Client, conn: asyncpg.Connection, target: Browser
) -> None:
    client.session.cookie_jar.clear()
    await signup(client, "eye@example.com", PASSWORD)
    await _grant(conn, "eye@example.com", "auditor")
    user_id = await _target_id(conn)
    html = await (await client.get(_url(routes.ADMIN_USER, userID=user_id))).text()
    assert "target.user@example.com" in html
    assert '<form method="post" action="/auth/admin/users' not in html
    response = await _post(client, _url(routes.ADMIN_USER_DISABLE, userID=user_id), confirm=True)
    assert response.status == 403
    assert await conn.fetchval("SELECT disabled_at FROM users WHERE id = $1::uuid", user_id) is None


# Actions -----------------------------------------------------------------------------------------


async def test_disable_signs_out_everywhere_and_enable_lets_back_in(
    client: Client, conn: asyncpg.Connection, target: Browser
) -> None:
    admin_id = await _admin(client, conn)
    user_id = await _target_id(conn)
    disable = _url(routes.ADMIN_USER_DISABLE, userID=user_id)

    unconfirmed = await _post(client, disable)
    assert "Tick the confirmation box" in await _flash_after(client, unconfirmed, user_id)
    assert await conn.fetchval("SELECT disabled_at FROM users WHERE id = $1::uuid", user_id) is None

    done = await _post(client, disable, confirm=True)
    assert await _flash_after(client, done, user_id) == (
        "The account is disabled; 1 session signed out."
    )
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id"
            " WHERE s.user_id = $1::uuid",
            user_id,
        )
        == 0
    )
    assert await target.refresh() == 401
    again = await _post(client, disable, confirm=True)
    assert await _flash_after(client, again, user_id) == "The account was already disabled."

    enabled = await _post(client, _url(routes.ADMIN_USER_ENABLE, userID=user_id))
    assert await _flash_after(client, enabled, user_id) == "The account is enabled."
    assert await conn.fetchval("SELECT disabled_at FROM users WHERE id = $1::uuid", user_id) is None
    events = await _events(conn)
    assert events == [
        ("user.disabled", admin_id, user_id, {"sessions_ended": 1}),
        ("user.enabled", admin_id, user_id, {}),
    ]
    row = await conn.fetchrow("SELECT target_email, request_id FROM admin_audit_events LIMIT 1")
    assert row["target_email"] == "target.user@example.com"
    assert row["request_id"]


async def test_roles_are_granted_and_revoked_and_revoking_signs_out(
    client: Client, conn: asyncpg.Connection, target: Browser
) -> None:
    admin_id = await _admin(client, conn)
    user_id = await _target_id(conn)
    for role in ("admin", "auditor"):
        response = await _post(
            client, _url(routes.ADMIN_USER_ROLE_GRANT, userID=user_id, role=role)
        )
        assert await _flash_after(client, response, user_id) == f"Granted the {role} role."
    revoke = _url(routes.ADMIN_USER_ROLE_REVOKE, userID=user_id, role="admin")
    response = await _post(client, revoke, confirm=True)
    assert await _flash_after(client, response, user_id) == (
        "Revoked the admin role; 1 session signed out."
    )
    assert await target.refresh() == 401
    nothing = await _post(client, revoke, confirm=True)
    assert "did not have" in await _flash_after(client, nothing, user_id)
    unknown = await _post(client, _url(routes.ADMIN_USER_ROLE_GRANT, userID=user_id, role="root"))
    assert unknown.status == 404
    assert [(e[0], e[1], e[3]) for e in await _events(conn)] == [
        ("user.admin_granted", admin_id, {"role": "admin"}),
        ("user.role_granted", admin_id, {"role": "auditor"}),
        ("user.admin_revoked", admin_id, {"role": "admin", "sessions_ended": 1}),
    ]


async def test_one_session_or_all_of_them_are_signed_out(
    client: Client, conn: asyncpg.Connection, target: Browser
) -> None:
    admin_id = await _admin(client, conn)
    user_id = await _target_id(conn)
    second = Browser(client)
    try:
        await second.http.get("/auth/login")
        login = await second.http.post(
            "/auth/login",
            data={
                "email": "target.user@example.com",
                "password": PASSWORD,
                "csrf_token": second.cookie("authara_csrf"),
            },
            allow_redirects=False,
        )
        assert login.status == 303
        first_session = str(
            await conn.fetchval(
                "SELECT id FROM sessions WHERE user_id = $1::uuid ORDER BY created_at LIMIT 1",
                user_id,
            )
        )
        one = _url(routes.ADMIN_USER_SESSION_REVOKE, userID=user_id, sessionID=first_session)
        assert await _flash_after(client, await _post(client, one), user_id) == (
            "The session was signed out."
        )
        assert await target.refresh() == 401
        assert await second.refresh() == 200
        gone = await _post(client, one)
        assert "already ended" in await _flash_after(client, gone, user_id)
        bad = await _post(
            client, _url(routes.ADMIN_USER_SESSION_REVOKE, userID=user_id, sessionID="x")
        )
        assert bad.status == 400

        every = _url(routes.ADMIN_USER_SESSIONS_REVOKE, userID=user_id)
        assert "Tick the confirmation" in await _flash_after(
            client, await _post(client, every), user_id
        )
        done = await _post(client, every, confirm=True)
        assert await _flash_after(client, done, user_id) == "Signed out 1 session."
        assert await second.refresh() == 401
        none = await _post(client, every, confirm=True)
        assert await _flash_after(client, none, user_id) == "There were no sessions to sign out."
    finally:
        await second.http.close()
    assert [(e[0], e[1], e[3]) for e in await _events(conn)] == [
        ("user.session_revoked", admin_id, {"session_id": first_session}),
        ("user.sessions_revoked", admin_id, {"sessions_ended": 1}),
    ]


async def test_with_htmx_an_action_answers_the_fragment_and_a_toast(
    client: Client, conn: asyncpg.Connection, target: Browser
) -> None:
    await _admin(client, conn)
    user_id = await _target_id(conn)
    response = await _post(
        client, _url(routes.ADMIN_USER_DISABLE, userID=user_id), confirm=True, htmx=True
    )
    html = await response.text()
    assert response.status == 200
    assert html.lstrip().startswith('<div id="user-detail"')
    assert 'data-testid="disabled"' in html
    assert 'hx-swap-oob="innerHTML"' in html
    assert "The account is disabled; 1 session signed out." in html
    refused = await _post(
        client, _url(routes.ADMIN_USER_SESSIONS_REVOKE, userID=user_id), htmx=True
    )
    assert refused.status == 400
    assert refused.headers["HX-Reswap"] == "none"
    assert "Tick the confirmation box" in await refused.text()


WAITING_ON_ME = """
    WITH RECURSIVE blocked(pid) AS (
        SELECT pid FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))
        UNION
        SELECT a.pid FROM pg_stat_activity a
        JOIN blocked b ON b.pid = ANY(pg_blocking_pids(a.pid))
    )
    SELECT count(*) FROM blocked
"""


async def _until_both_wait(conn: asyncpg.Connection, count: int = 2) -> None:
    """Return once `count` backends wait, directly or in line, on this connection's locks."""
    waiting = 0
    while waiting < count:
        await asyncio.sleep(0.01)
        waiting = await conn.fetchval(WAITING_ON_ME)


async def test_a_password_reset_mail_asks_the_user_to_choose_a_new_password(
    client: Client, conn: asyncpg.Connection, target: Browser
) -> None:
    admin_id = await _admin(client, conn)
    user_id = await _target_id(conn)
    await conn.execute("DELETE FROM email_jobs")  # the signups' codes
    reset = _url(routes.ADMIN_USER_PASSWORD_RESET, userID=user_id)
    assert await _flash_after(client, await _post(client, reset), user_id) == (
        "A password reset email is on its way to target.user@example.com."
    )
    job = await conn.fetchrow("SELECT to_email, template, template_data FROM email_jobs")
    assert job["to_email"] == "target.user@example.com"
    assert job["template"] == "password_reset_request"
    assert json.loads(job["template_data"])["reset_url"].endswith("/auth/password-reset")
    assert await target.refresh() == 200  # nothing about the account changed
    await conn.execute("UPDATE users SET disabled_at = now() WHERE id = $1::uuid", user_id)
    refused = await _post(client, reset)
    assert "enable it before" in await _flash_after(client, refused, user_id)
    assert await conn.fetchval("SELECT count(*) FROM email_jobs") == 1
    assert await _events(conn) == [("user.password_reset_requested", admin_id, user_id, {})]


# Guards ------------------------------------------------------------------------------------------


async def test_an_admin_cannot_disable_demote_or_sign_out_all_of_themselves(
    client: Client, conn: asyncpg.Connection
) -> None:
    admin_id = await _admin(client, conn)
    await _admin(client, conn, "other@example.com")  # not the last admin: the self guard answers
    client.session.cookie_jar.clear()
    token = await csrf_token(client)
    login = await client.post(
        f"/auth/login?return_to={routes.ADMIN_DASHBOARD}",
        data={"email": "boss@example.com", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert login.status == 303
    page = await (await client.get(_url(routes.ADMIN_USER, userID=admin_id))).text()
    assert "You cannot disable your own account." in page
    assert 'data-testid="revoke-admin"' not in page
    for path, message in (
        (routes.ADMIN_USER_DISABLE, "You cannot disable your own account."),
        (routes.ADMIN_USER_ROLE_REVOKE, "You cannot remove your own admin role."),
        (routes.ADMIN_USER_SESSIONS_REVOKE, "You cannot sign out all your own sessions"),
    ):
        response = await _post(client, _url(path, userID=admin_id, role="admin"), confirm=True)
        assert message in await _flash_after(client, response, admin_id)
        htmx = await _post(
            client, _url(path, userID=admin_id, role="admin"), confirm=True, htmx=True
        )
        assert htmx.status == 400
    assert (
        await conn.fetchval("SELECT disabled_at FROM users WHERE id = $1::uuid", admin_id) is None
    )
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM sessions WHERE user_id = $1::uuid AND revoked_at IS NULL",
            admin_id,
        )
        == 2  # the signup's and this sign-in's
    )
    assert (
        await conn.fetchval(
            "SELECT count(*) FROM user_platform_roles WHERE user_id = $1::uuid", admin_id
        )
        == 1
    )
    assert await _events(conn) == []


async def test_the_last_active_admin_is_never_disabled_nor_demoted(
    client: Client, conn: asyncpg.Connection
) -> None:
    admin_id = uuid.UUID(await _admin(client, conn))
    service = client.app[SERVICES_KEY].admin
    somebody = Actor(label="test")  # not a user: only the last-admin guard can refuse it
    with pytest.raises(LastActiveAdmin):
        await service.disable_user(admin_id, actor=somebody)
    with pytest.raises(LastActiveAdmin):
        await service.revoke_user_role(admin_id, "admin", actor=somebody)
    assert await service.revoke_user_role(admin_id, "auditor", actor=somebody) is None
    await _insert_users(conn, "Second")
    second = await conn.fetchval("SELECT id FROM users WHERE username = 'Second'")
    await _grant(conn, "second@example.com", "admin")
    await conn.execute("UPDATE users SET disabled_at = now() WHERE id = $1", second)
    with pytest.raises(LastActiveAdmin):  # a disabled admin does not count
        await service.disable_user(admin_id, actor=somebody)
    assert await conn.fetchval("SELECT disabled_at FROM users WHERE id = $1", admin_id) is None


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    client: Client, conn: asyncpg.Connection
) -> None:
    first = uuid.UUID(await _admin(client, conn, "first@example.com"))
    second = uuid.UUID(await _admin(client, conn, "second@example.com"))
    service = client.app[SERVICES_KEY].admin
    # Hold the admin role rows, so both changes are inside their transactions, waiting on the
    # same locks, before either may go on.
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM user_platform_roles FOR UPDATE")
        demotions = [
            asyncio.ensure_future(
                service.revoke_user_role(second, "admin", actor=Actor(user_id=first))
            ),
            asyncio.ensure_future(
                service.revoke_user_role(first, "admin", actor=Actor(user_id=second))
            ),
        ]
        await _until_both_wait(conn)
    outcomes = await asyncio.gather(*demotions, return_exceptions=True)
    succeeded = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(succeeded) == 1, outcomes
    assert len(refused) == 1
    assert isinstance(refused[0], Forbidden | LastActiveAdmin), refused
    admins = await conn.fetch(
        "SELECT ur.user_id FROM user_platform_roles ur JOIN platform_roles r ON r.id = ur.role_id"
        " WHERE r.name = 'admin'"
    )
    assert len(admins) == 1
    assert [e[0] for e in await _events(conn)] == ["user.admin_revoked"]


async def test_two_admins_disabling_each_other_at_once_leave_one_active_admin(
    client: Client, conn: asyncpg.Connection
) -> None:
    first = uuid.UUID(await _admin(client, conn, "first@example.com"))
    second = uuid.UUID(await _admin(client, conn, "second@example.com"))
    service = client.app[SERVICES_KEY].admin
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM user_platform_roles FOR UPDATE")
        disables = [
            asyncio.ensure_future(service.disable_user(second, actor=Actor(user_id=first))),
            asyncio.ensure_future(service.disable_user(first, actor=Actor(user_id=second))),
        ]
        await _until_both_wait(conn)
    outcomes = await asyncio.gather(*disables, return_exceptions=True)
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 1, outcomes
    assert await conn.fetchval("SELECT count(*) FROM users WHERE disabled_at IS NULL") == 1


async def test_deleting_one_admin_while_the_other_is_disabled_leaves_one_active_admin(
    client: Client, conn: asyncpg.Connection
) -> None:
    """Account deletion's guard sees a disable it waited for (lock_active_admins re-reads)."""
    first = uuid.UUID(await _admin(client, conn, "first@example.com"))
    second = uuid.UUID(await _admin(client, conn, "second@example.com"))
    services = client.app[SERVICES_KEY]
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM user_platform_roles FOR UPDATE")
        # The disable queues first, so it goes first: the deletion then waits on its locks.
        disable = asyncio.ensure_future(
            services.admin.disable_user(second, actor=Actor(user_id=first))
        )
        await _until_both_wait(conn, 1)
        delete = asyncio.ensure_future(services.organization_management.delete_user(first))
        await _until_both_wait(conn, 2)
    assert await disable == 1  # the second admin's one session
    with pytest.raises(LastAdmin):
        await delete
    active_admins = await conn.fetchval(
        "SELECT count(*) FROM user_platform_roles ur JOIN platform_roles r ON r.id = ur.role_id"
        " JOIN users u ON u.id = ur.user_id WHERE r.name = 'admin' AND u.disabled_at IS NULL"
    )
    assert active_admins == 1
