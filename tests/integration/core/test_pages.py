"""HTML sign-up, login and logout against the real app and database."""

from __future__ import annotations

import io

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import cookies, routes
from authara_contract.return_to import with_return_to
from tests.integration.core.conftest import csrf_token, signup

PASSWORD = "correct horse battery"


def _offer(return_to: str) -> str:
    """Where a new account goes first: the passkey offer, carrying return_to."""
    return with_return_to(routes.PASSKEY_SETUP, return_to)


async def user_count(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM users")


async def test_login_page_sets_csrf_cookie_and_keeps_return_to(client: TestClient) -> None:
    response = await client.get("/auth/login?return_to=/private")
    html = await response.text()
    assert response.status == 200
    assert 'action="/auth/login?return_to=%2Fprivate"' in html
    assert 'href="/auth/signup?return_to=%2Fprivate"' in html
    morsel = response.cookies[cookies.CSRF.name]
    assert f'name="csrf_token" value="{morsel.value}"' in html
    assert len(morsel.value) == 43


async def test_signup_creates_account_and_session(
    client: TestClient, conn: asyncpg.Connection
) -> None:
    response = await signup(client)
    assert response.status == 303
    assert response.headers["Location"] == _offer("/private")  # the passkey offer first
    assert response.headers["Cache-Control"] == "no-store"
    assert {cookies.ACCESS.name, cookies.REFRESH.name} <= set(response.cookies)
    row = await conn.fetchrow(
        "SELECT u.email, u.username, p.password_hash"
        " FROM users u JOIN auth_providers p ON p.user_id = u.id"
    )
    assert row["email"] == "ada@example.com"
    assert row["username"].startswith("ada-")
    assert row["password_hash"].startswith("$argon2id$v=19$")
    assert PASSWORD not in row["password_hash"]
    assert await conn.fetchval("SELECT count(*) FROM sessions WHERE revoked_at IS NULL") == 1
    token_hash = await conn.fetchval("SELECT token_hash FROM refresh_tokens")
    assert token_hash != response.cookies[cookies.REFRESH.name].value
    assert len(token_hash) == 64


async def test_signup_replaces_csrf_token(client: TestClient) -> None:
    before = await csrf_token(client, "/auth/signup")
    response = await client.post(
        "/auth/signup",
        data={"email": "b@example.com", "password": PASSWORD, "csrf_token": before},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.cookies[cookies.CSRF.name].value not in ("", before)


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSWORD, "Enter a valid email address."),
        ("a b@example.com", PASSWORD, "Enter a valid email address."),
        ("ada@example.com", "short", "Password must be between 8 and 128 characters."),
        ("ada@example.com", "x" * 129, "Password must be between 8 and 128 characters."),
    ],
)
async def test_signup_rejects_bad_input_and_keeps_email(
    client: TestClient, conn: asyncpg.Connection, email: str, password: str, message: str
) -> None:
    response = await signup(client, email=email, password=password)
    html = await response.text()
    assert response.status == 422
    assert message in html
    assert f'value="{email}"' in html
    assert await user_count(conn) == 0
    assert cookies.ACCESS.name not in response.cookies


async def test_signup_counts_code_points_not_bytes(client: TestClient) -> None:
    response = await signup(client, password="é" * 100)  # 200 bytes, 100 characters
    assert response.status == 303


async def test_signup_with_taken_email_is_refused(
    client: TestClient, conn: asyncpg.Connection
) -> None:
    assert (await signup(client)).status == 303
    client.session.cookie_jar.clear()
    response = await signup(client, email="  ADA@example.com ")
    assert response.status == 422
    assert "An account with this email already exists." in await response.text()
    assert await user_count(conn) == 1


async def test_login_with_password(client: TestClient, conn: asyncpg.Connection) -> None:
    await signup(client)
    client.session.cookie_jar.clear()
    token = await csrf_token(client)
    response = await client.post(
        "/auth/login?return_to=/private",
        data={"email": "Ada@Example.com", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/private"
    assert cookies.ACCESS.name in response.cookies
    assert await conn.fetchval("SELECT count(*) FROM sessions") == 2


async def test_wrong_password_and_unknown_email_look_the_same(client: TestClient) -> None:
    await signup(client)
    client.session.cookie_jar.clear()
    token = await csrf_token(client)
    bodies = []
    for email in ("ada@example.com", "bob@example.com"):
        response = await client.post(
            "/auth/login",
            data={"email": email, "password": "wrong password", "csrf_token": token},
            allow_redirects=False,
        )
        assert response.status == 422
        bodies.append((await response.text()).replace(email, "EMAIL"))
        assert "Invalid email or password." in bodies[-1]
    assert bodies[0] == bodies[1]


async def test_login_with_empty_fields_is_a_form_error(client: TestClient) -> None:
    token = await csrf_token(client)
    response = await client.post("/auth/login", data={"email": "", "csrf_token": token})
    assert response.status == 400
    assert 'role="alert"' in await response.text()


@pytest.mark.parametrize("submitted", [None, "", "wrong-token", "ünïcode"])
async def test_post_without_valid_csrf_is_forbidden_page(
    client: TestClient, conn: asyncpg.Connection, submitted: str | None
) -> None:
    await csrf_token(client, "/auth/signup")
    data = {"email": "ada@example.com", "password": PASSWORD}
    if submitted is not None:
        data["csrf_token"] = submitted
    response = await client.post("/auth/signup", data=data, allow_redirects=False)
    assert response.status == 403
    assert response.content_type == "text/html"
    assert "Security check failed" in await response.text()
    assert await user_count(conn) == 0


async def test_post_without_csrf_cookie_is_forbidden(client: TestClient) -> None:
    response = await client.post(
        "/auth/login", data={"email": "a@example.com", "password": PASSWORD, "csrf_token": "x" * 43}
    )
    assert response.status == 403


async def test_api_post_without_csrf_gets_forbidden_envelope(client: TestClient) -> None:
    response = await client.post("/auth/api/v1/sessions/logout")
    assert response.status == 403
    assert await response.json() == {
        "error": {"code": "forbidden", "message": "CSRF validation failed"}
    }


@pytest.mark.parametrize(
    "return_to", ["//evil.example", "https://evil.example", "/\\evil.example", " /x", "/a%0d"]
)
async def test_unsafe_return_to_is_ignored(client: TestClient, return_to: str) -> None:
    token = await csrf_token(client, "/auth/signup")
    response = await client.post(
        "/auth/signup",
        params={"return_to": return_to if return_to != "/a%0d" else "/a\r"},
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == _offer("/")


async def test_safe_return_to_keeps_query(client: TestClient) -> None:
    token = await csrf_token(client, "/auth/signup")
    response = await client.post(
        "/auth/signup",
        params={"return_to": "/account?tab=sessions#current"},
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.headers["Location"] == _offer("/account?tab=sessions#current")


async def test_htmx_gets_hx_redirect_instead_of_303(client: TestClient) -> None:
    token = await csrf_token(client, "/auth/signup")
    response = await client.post(
        "/auth/signup?return_to=/private",
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": token},
        headers={"HX-Request": "true"},
        allow_redirects=False,
    )
    assert response.status == 200
    assert response.headers["HX-Redirect"] == _offer("/private")
    assert "Location" not in response.headers


async def test_signed_in_user_is_sent_on_from_login_and_signup(client: TestClient) -> None:
    await signup(client)
    for path in ("/auth/login?return_to=/private", "/auth/signup?return_to=/private"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 303
        assert response.headers["Location"] == "/private"


async def test_logout_revokes_session_and_clears_cookies(
    client: TestClient, conn: asyncpg.Connection
) -> None:
    await signup(client)
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))[cookies.CSRF.name].value
    response = await client.post(
        "/auth/sessions/logout", data={"csrf_token": token}, allow_redirects=False
    )
    assert response.status == 303
    assert response.headers["Location"] == "/"
    for name in (cookies.ACCESS.name, cookies.REFRESH.name):
        assert response.cookies[name].value == ""
        assert response.cookies[name]["max-age"] == "0"
    assert await conn.fetchval("SELECT count(*) FROM sessions WHERE revoked_at IS NOT NULL") == 1


async def test_logout_alias_and_anonymous_logout(client: TestClient) -> None:
    token = await csrf_token(client)
    response = await client.post(
        "/auth/logout?return_to=/bye", data={"csrf_token": token}, allow_redirects=False
    )
    assert response.status == 303
    assert response.headers["Location"] == "/bye"


async def test_body_over_one_mebibyte_is_refused(client: TestClient) -> None:
    token = await csrf_token(client)
    body = f"csrf_token={token}&email=a%40example.com&password=".encode() + b"x" * (2 * 1024 * 1024)
    response = await client.post(
        "/auth/login",
        data=io.BytesIO(body),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status == 413
    assert "too large" in await response.text()


async def test_error_pages_carry_security_headers(client: TestClient) -> None:
    response = await client.post("/auth/login", data={})
    assert response.status == 403
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
