"""The admin console: its guard, its route table walked by every kind of caller, the dashboard."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from authara_contract import cookies, routes
from authara_core.admin.guard import ConsoleGuard, Operator
from authara_core.app import SERVICES_KEY, create_app
from authara_core.platform.clock import SystemClock
from authara_core.platform.cookies import CookieWriter
from authara_core.settings import Settings
from tests.integration.core.conftest import ClientFactory, csrf_token, signup

PASSWORD = "correct horse battery"
PROBE = f"{routes.ADMIN_PREFIX}/_probe"  # a test-only route behind the real guard, GET and POST
LOGIN_REDIRECT = "/auth/login?return_to=%2Fauth%2Fadmin"
ROLES = ("admin", "auditor", "monitor")
STAT = re.compile(r'data-testid="stat-([a-z0-9-]+)">([\d,]+)<')


async def _probe(request: web.Request, operator: Operator) -> web.StreamResponse:
    return web.json_response(
        {"method": request.method, "user": str(operator.user_id), "write": operator.can_write}
    )


def _with_probe(settings: Settings) -> web.Application:
    app = create_app(settings, periodic_cleanup=False, send_mail=False, deliver_webhooks=False)
    writer = CookieWriter(
        secure=False,
        access_ttl=settings.tokens.access_ttl,
        refresh_ttl=settings.tokens.refresh_ttl,
        clock=SystemClock(),
    )
    guard = ConsoleGuard(
        sessions=app[SERVICES_KEY].sessions, cookie_writer=writer, trust_proxy_headers=False
    )
    app.router.add_get(PROBE, guard.console(_probe))
    app.router.add_post(PROBE, guard.console(_probe))
    return app


@pytest.fixture
async def console(aiohttp_client: ClientFactory, settings: Settings) -> TestClient:
    return await aiohttp_client(_with_probe(settings))


async def _grant(conn: asyncpg.Connection, email: str, role: str) -> None:
    await conn.execute(
        "INSERT INTO user_platform_roles (user_id, role_id)"
        " SELECT u.id, r.id FROM users u, platform_roles r WHERE u.email = $1 AND r.name = $2",
        email,
        role,
    )


async def _as(client: TestClient, conn: asyncpg.Connection, role: str | None) -> None:
    """Sign a fresh user up (app-audience cookies) and give them `role` (None: plain user)."""
    client.session.cookie_jar.clear()
    email = f"{role or 'plain'}-{uuid.uuid4().hex[:8]}@example.com"
    assert (await signup(client, email, PASSWORD)).status == 303
    if role is not None:
        await _grant(conn, email, role)


async def _post(client: TestClient, path: str) -> int:
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))[cookies.CSRF.name]
    response = await client.post(path, data={"csrf_token": token.value}, allow_redirects=False)
    return response.status


async def test_anonymous_page_requests_go_to_login_and_come_back(console: TestClient) -> None:
    for path in (routes.ADMIN_DASHBOARD, routes.ADMIN_DASHBOARD_SLASH):
        response = await console.get(path, allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"].startswith(LOGIN_REDIRECT)
    await csrf_token(console)  # a CSRF cookie, so the guard (not the CSRF check) answers
    assert await _post(console, PROBE) == 403


async def test_a_plain_user_gets_403_everywhere_and_keeps_the_session(
    console: TestClient, conn: asyncpg.Connection
) -> None:
    await _as(console, conn, None)
    for path in (routes.ADMIN_DASHBOARD, PROBE):
        assert (await console.get(path, allow_redirects=False)).status == 403
    assert await _post(console, PROBE) == 403
    account = await console.get(routes.ACCOUNT, allow_redirects=False)
    assert account.status == 200  # still signed in


@pytest.mark.parametrize("role", ["auditor", "monitor"])
async def test_auditors_and_monitors_read_but_never_write(
    console: TestClient, conn: asyncpg.Connection, role: str
) -> None:
    await _as(console, conn, role)
    page = await console.get(routes.ADMIN_DASHBOARD, allow_redirects=False)
    assert page.status == 200
    assert 'data-testid="read-only"' in await page.text()
    probe = await console.get(PROBE)
    assert (await probe.json())["write"] is False
    assert await _post(console, PROBE) == 403


async def test_an_admin_from_the_app_crosses_over_and_back_without_signing_in(
    console: TestClient, conn: asyncpg.Connection
) -> None:
    await _as(console, conn, "admin")  # granted after the app token was issued
    page = await console.get(routes.ADMIN_DASHBOARD, allow_redirects=False)
    assert page.status == 200
    assert 'data-testid="read-only"' not in await page.text()
    assert "Set-Cookie" in page.headers  # the admin-audience cookies
    assert await _post(console, PROBE) == 200
    account = await console.get(routes.ACCOUNT, allow_redirects=False)
    assert account.status == 200  # refreshed back to the app audience
    assert (await console.get(routes.ADMIN_DASHBOARD, allow_redirects=False)).status == 200


async def test_login_on_the_way_to_the_console_issues_an_admin_token(
    console: TestClient, conn: asyncpg.Connection
) -> None:
    await _as(console, conn, "admin")
    email = await conn.fetchval("SELECT email FROM users")
    console.session.cookie_jar.clear()
    token = await csrf_token(console)
    login = await console.post(
        f"/auth/login?return_to={routes.ADMIN_DASHBOARD}",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert login.status == 303
    assert login.headers["Location"] == routes.ADMIN_DASHBOARD
    page = await console.get(routes.ADMIN_DASHBOARD, allow_redirects=False)
    assert page.status == 200
    assert "Set-Cookie" not in page.headers  # the login's token was already admin-audience


async def test_an_expired_app_session_of_a_plain_user_is_refreshed_then_refused(
    console: TestClient, conn: asyncpg.Connection
) -> None:
    await _as(console, conn, None)
    jar = console.session.cookie_jar
    refresh = jar.filter_cookies(console.make_url("/"))[cookies.REFRESH.name].value
    csrf = jar.filter_cookies(console.make_url("/"))[cookies.CSRF.name].value
    jar.clear()
    jar.update_cookies({cookies.REFRESH.name: refresh, cookies.CSRF.name: csrf})
    again = await console.get(routes.ADMIN_DASHBOARD, allow_redirects=False)
    assert again.status == 303  # new app cookies, and here again
    assert again.headers["Location"] == routes.ADMIN_DASHBOARD
    assert (await console.get(routes.ADMIN_DASHBOARD, allow_redirects=False)).status == 403


async def test_a_dead_refresh_token_goes_to_login_with_cookies_cleared(
    console: TestClient,
) -> None:
    console.session.cookie_jar.update_cookies({cookies.REFRESH.name: "not-a-token"})
    response = await console.get(routes.ADMIN_DASHBOARD, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"].startswith(LOGIN_REDIRECT)


def _console_routes(app: web.Application) -> Iterator[tuple[str, str]]:
    """Every (method, concrete path) under /auth/admin in the app's route table."""
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = str(info.get("path") or info.get("formatter") or "")
        if route.method == "HEAD" or not routes.is_admin_path(path) or path == PROBE:
            continue
        yield route.method, re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


@pytest.mark.parametrize("caller", ["anonymous", "plain", "auditor", "admin"])
async def test_every_console_route_refuses_who_may_not_and_never_fails(
    console: TestClient, conn: asyncpg.Connection, caller: str
) -> None:
    walked = list(_console_routes(console.app))
    assert ("GET", routes.ADMIN_DASHBOARD) in walked
    if caller == "anonymous":
        await csrf_token(console)
    else:
        await _as(console, conn, None if caller == "plain" else caller)
    for method, path in walked:
        if method == "GET":
            response = await console.get(path, allow_redirects=False)
            status = response.status
            location = response.headers.get("Location", "")
        else:
            status, location = await _post(console, path), ""
        assert status < 500, (caller, method, path, status)
        if caller == "anonymous":
            expected_login = method == "GET"
            assert status == (303 if expected_login else 403), (method, path, status)
            assert location.startswith("/auth/login?return_to=") == expected_login
        elif caller == "plain" or (caller == "auditor" and method != "GET"):
            assert status == 403, (caller, method, path, status)
        else:
            assert status not in (401, 403), (caller, method, path, status)


async def test_the_dashboard_counts_a_seeded_database(
    console: TestClient, conn: asyncpg.Connection
) -> None:
    for name in ("bea", "cy"):  # two more signups, each with a session
        console.session.cookie_jar.clear()
        await signup(console, f"{name}@example.com", PASSWORD)
    await conn.execute(
        "UPDATE sessions SET revoked_at = now() WHERE user_id ="
        " (SELECT id FROM users WHERE email = 'bea@example.com')"
    )
    await conn.execute(
        "UPDATE sessions SET expires_at = now() - interval '1 minute' WHERE user_id ="
        " (SELECT id FROM users WHERE email = 'cy@example.com')"
    )
    for name, age, disabled in (
        ("u1", timedelta(hours=2), False),
        ("u2", timedelta(days=3), True),
        ("u3", timedelta(days=10), False),
        ("u4", timedelta(days=40), True),
    ):
        await conn.execute(
            "INSERT INTO users (username, username_normalized, email, created_at, disabled_at)"
            " VALUES ($1, $1, $1 || '@example.com', now() - $2::interval,"
            " CASE WHEN $3 THEN now() END)",
            name,
            age,
            disabled,
        )
    await _as(console, conn, "admin")  # the third signup, and the only live session

    page = await console.get(routes.ADMIN_DASHBOARD_SLASH)
    html = await page.text()

    assert page.status == 200
    assert dict(STAT.findall(html)) == {
        "users": "7",
        "signups-24h": "4",
        "signups-7d": "5",
        "disabled": "2",
        "sessions": "1",
    }
    assert "6 signups from" in html  # the chart's 30 days: u4 is older
    assert 'role="img"' in html
    assert html.count('class="chart-bar"') in (3, 4)  # today (maybe yesterday) and two more
    assert page.headers["Cache-Control"].startswith("no-store")
