"""The JSON API of issue 3: bodies, status codes, cookies, CSRF matrix, limits, bad input."""

from __future__ import annotations

import asyncio
import io
import json
import threading

import asyncpg
import jsonschema
import pytest
from aiohttp import ClientSession, TCPConnector
from aiohttp.test_utils import TestClient

from authara_contract import cookies
from authara_contract.database import DatabaseSettings
from authara_core.app import SERVICES_KEY, create_app
from authara_core.platform.openapi import SCHEMAS
from authara_core.settings import load_settings
from tests.coresupport import FakeClock, core_env

PASSWORD = "correct horse battery"
CREDENTIALS = {"email": "ada@example.com", "password": PASSWORD}


def schema(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": {"schemas": SCHEMAS}},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


async def csrf(client: TestClient) -> str:
    response = await client.get("/auth/api/v1/csrf")
    return (await response.json())["csrf_token"]


def jar(client: TestClient) -> dict[str, str]:
    return {
        k: m.value
        for k, m in client.session.cookie_jar.filter_cookies(client.make_url("/")).items()
    }


async def api_signup(client: TestClient, body: object = None, **kwargs: object):
    token = await csrf(client)
    return await client.post(
        "/auth/api/v1/signup/direct",
        json=CREDENTIALS if body is None else body,
        headers={"X-CSRF-Token": token},
        **kwargs,
    )


async def users(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM users")


async def test_signup_direct_returns_auth_session(client: TestClient) -> None:
    response = await api_signup(client)
    assert response.status == 201
    body = await response.json()
    schema("AuthSession").validate(body)
    assert body["user"]["email"] == "ada@example.com"
    assert response.headers["Cache-Control"] == "no-store"
    assert jar(client)[cookies.REFRESH.name] == body["refresh_token"]
    assert jar(client)[cookies.ACCESS.name] == body["access_token"]


async def test_login_returns_auth_session_and_replaces_csrf(client: TestClient) -> None:
    await api_signup(client)
    client.session.cookie_jar.clear()
    token = await csrf(client)
    response = await client.post(
        "/auth/api/v1/login", json=CREDENTIALS, headers={"X-CSRF-Token": token}
    )
    assert response.status == 200
    schema("AuthSession").validate(await response.json())
    assert jar(client)[cookies.CSRF.name] != token


async def test_login_failures_are_identical_for_unknown_email(client: TestClient) -> None:
    await api_signup(client)
    token = await csrf(client)
    answers = []
    for email in ("ada@example.com", "nobody@example.com"):
        response = await client.post(
            "/auth/api/v1/login",
            json={"email": email, "password": "wrong password"},
            headers={"X-CSRF-Token": token},
        )
        answers.append((response.status, await response.read()))
    assert answers[0] == answers[1]
    assert answers[0][0] == 401
    assert json.loads(answers[0][1]) == {
        "error": {"code": "unauthorized", "message": "Invalid email or password."}
    }


async def test_unknown_email_spends_a_hash_verification(client: TestClient) -> None:
    hasher = client.app[SERVICES_KEY].hasher
    calls = []
    original = hasher._verify_sync
    hasher._verify_sync = lambda h, p: calls.append(p) or original(h, p)  # type: ignore[method-assign]
    token = await csrf(client)
    response = await client.post(
        "/auth/api/v1/login",
        json={"email": "nobody@example.com", "password": "some password"},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 401
    assert calls == ["some password"]


async def test_admin_audience_is_forbidden_without_a_role(client: TestClient) -> None:
    await api_signup(client)
    token = await csrf(client)
    response = await client.post(
        "/auth/api/v1/login?audience=admin", json=CREDENTIALS, headers={"X-CSRF-Token": token}
    )
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/api/v1/login?audience=foo", CREDENTIALS),
        ("/auth/api/v1/signup/direct?audience=admin", CREDENTIALS),
        ("/auth/api/v1/signup/direct", {"email": "a@example.com"}),
        ("/auth/api/v1/signup/direct", {**CREDENTIALS, "extra": 1}),
        ("/auth/api/v1/signup/direct", {"email": 42, "password": PASSWORD}),
        ("/auth/api/v1/signup/direct", ["not", "an", "object"]),
        ("/auth/api/v1/signup/direct", {**CREDENTIALS, "invitation_code": "abc"}),
        ("/auth/api/v1/signup/direct", {"email": "not-an-email", "password": PASSWORD}),
        ("/auth/api/v1/signup/direct", {"email": "a@example.com", "password": "short"}),
        ("/auth/api/v1/login", {"email": " ", "password": ""}),
        ("/auth/api/v1/tokens/refresh", {"refresh_token": 5}),
        ("/auth/api/v1/tokens/refresh", {"refresh_token": "x", "audience": "root"}),
    ],
)
async def test_bad_bodies_are_invalid_request_and_write_nothing(
    client: TestClient, conn: asyncpg.Connection, path: str, body: object
) -> None:
    token = await csrf(client)
    response = await client.post(path, json=body, headers={"X-CSRF-Token": token})
    assert response.status == 400
    payload = await response.json()
    assert payload["error"]["code"] == "invalid_request"
    schema("Error").validate(payload)
    assert await users(conn) == 0


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"\xff\xfe", "application/json"),
        (b'{"email":"a@example.com","password":"x"}', "text/plain"),
        (b"", "application/json"),
    ],
)
async def test_malformed_bodies_are_invalid_request(
    client: TestClient, conn: asyncpg.Connection, data: bytes, content_type: str
) -> None:
    token = await csrf(client)
    response = await client.post(
        "/auth/api/v1/signup/direct",
        data=data,
        headers={"X-CSRF-Token": token, "Content-Type": content_type},
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_request"
    assert await users(conn) == 0


@pytest.mark.parametrize("size", [2 * 1024 * 1024, 10 * 1000 * 1000])
async def test_huge_bodies_are_413_and_the_server_keeps_answering(
    client: TestClient, conn: asyncpg.Connection, size: int
) -> None:
    token = await csrf(client)
    body = json.dumps({"email": "a@example.com", "password": "x" * size}).encode()
    response = await client.post(
        "/auth/api/v1/signup/direct",
        data=io.BytesIO(body),
        headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "invalid_request"
    assert await users(conn) == 0
    assert (await client.get("/auth/health")).status == 200


async def test_signup_direct_with_taken_email(client: TestClient) -> None:
    await api_signup(client)
    response = await api_signup(client, {"email": "ADA@example.com", "password": PASSWORD})
    assert response.status == 400
    assert (await response.json())["error"][
        "message"
    ] == "An account with this email already exists."


async def test_cookie_refresh_sets_new_cookies_with_empty_body(
    db: DatabaseSettings, aiohttp_client
) -> None:
    env = core_env(db, AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL="always")
    client = await aiohttp_client(create_app(load_settings(env)))
    await api_signup(client)
    old = jar(client)
    response = await client.post(
        "/auth/api/v1/sessions/refresh", headers={"X-CSRF-Token": old[cookies.CSRF.name]}
    )
    assert response.status == 200
    assert await response.read() == b""
    assert response.headers["Cache-Control"] == "no-store"
    assert jar(client)[cookies.REFRESH.name] != old[cookies.REFRESH.name]


async def test_cookie_refresh_without_cookie_is_401_and_clears(client: TestClient) -> None:
    token = await csrf(client)
    response = await client.post("/auth/api/v1/sessions/refresh", headers={"X-CSRF-Token": token})
    assert response.status == 401
    assert await response.json() == {
        "error": {"code": "unauthorized", "message": "Refresh token missing"}
    }
    assert response.cookies[cookies.ACCESS.name]["max-age"] == "0"


async def test_cookie_refresh_without_csrf_is_403_not_500(client: TestClient) -> None:
    await api_signup(client)
    response = await client.post("/auth/api/v1/sessions/refresh")
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"


async def test_token_refresh_needs_no_csrf_and_sets_no_cookies(
    db: DatabaseSettings, aiohttp_client
) -> None:
    client = await aiohttp_client(create_app(load_settings(core_env(db))))
    issued = await (await api_signup(client)).json()
    client.session.cookie_jar.clear()
    response = await client.post(
        "/auth/api/v1/tokens/refresh", json={"refresh_token": issued["refresh_token"]}
    )
    assert response.status == 200
    body = await response.json()
    schema("Tokens").validate(body)
    assert body["refresh_token"] == issued["refresh_token"]  # rotation not due (24h)
    assert "Set-Cookie" not in response.headers
    unknown = await client.post("/auth/api/v1/tokens/refresh", json={"refresh_token": "nope"})
    assert unknown.status == 401


async def test_logout_makes_the_refresh_token_useless(client: TestClient) -> None:
    issued = await (await api_signup(client)).json()
    response = await client.post(
        "/auth/api/v1/sessions/logout", headers={"X-CSRF-Token": jar(client)[cookies.CSRF.name]}
    )
    assert response.status == 204
    again = await client.post(
        "/auth/api/v1/tokens/refresh", json={"refresh_token": issued["refresh_token"]}
    )
    assert again.status == 401
    # Documented: the access token itself stays valid until it expires.
    client.session.cookie_jar.update_cookies({cookies.ACCESS.name: issued["access_token"]})
    assert (await client.get("/auth/api/v1/user")).status == 200


async def test_concurrent_http_refreshes_from_separate_connections(
    db: DatabaseSettings, aiohttp_client
) -> None:
    env = core_env(
        db, AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL="always", AUTHARA_DB_MAX_OPEN_CONNS="25"
    )
    client = await aiohttp_client(create_app(load_settings(env)))
    issued = await (await api_signup(client)).json()

    async def refresh() -> tuple[int, dict[str, str]]:
        async with (
            ClientSession(connector=TCPConnector(force_close=True)) as session,
            session.post(
                client.make_url("/auth/api/v1/tokens/refresh"),
                json={"refresh_token": issued["refresh_token"]},
            ) as response,
        ):
            return response.status, await response.json()

    results = await asyncio.gather(*(refresh() for _ in range(20)))
    assert {status for status, _ in results} == {200}
    successors = {body["refresh_token"] for _, body in results}
    assert len(successors) == 1
    assert successors != {issued["refresh_token"]}
    (successor,) = successors
    follow_up = await client.post("/auth/api/v1/tokens/refresh", json={"refresh_token": successor})
    assert follow_up.status == 200


class TestCsrfMatrix:
    async def _login(self, client: TestClient, **headers: str) -> int:
        token = await csrf(client)
        response = await client.post(
            "/auth/api/v1/login", json=CREDENTIALS, headers={"X-CSRF-Token": token, **headers}
        )
        return response.status

    async def test_same_origin_and_no_origin_pass(self, client: TestClient) -> None:
        await api_signup(client)
        assert await self._login(client) == 200
        assert await self._login(client, Origin="http://127.0.0.1:3000") == 200
        assert (
            await self._login(client, Origin="http://localhost:3000") == 200
        )  # dev loopback alias
        assert await self._login(client, **{"Sec-Fetch-Site": "same-origin"}) == 200

    @pytest.mark.parametrize(
        "headers",
        [
            {"Sec-Fetch-Site": "cross-site"},
            {"Origin": "https://evil.example"},
            {"Origin": "http://127.0.0.1:3001"},
            {"Origin": "null"},
        ],
    )
    async def test_cross_site_is_forbidden_even_with_matching_tokens(
        self, client: TestClient, headers: dict[str, str]
    ) -> None:
        await api_signup(client)
        assert await self._login(client, **headers) == 403

    async def test_prod_does_not_alias_loopback(self, db: DatabaseSettings, aiohttp_client) -> None:
        env = core_env(db, APP_ENV="prod", PUBLIC_URL="https://auth.example.com")
        client = await aiohttp_client(create_app(load_settings(env)))
        token = "t" * 43
        response = await client.post(
            "/auth/api/v1/login",
            json=CREDENTIALS,
            headers={"X-CSRF-Token": token, "Origin": "https://auth.example.com:8443"},
            cookies={cookies.CSRF.name: token},
        )
        assert response.status == 403


async def test_login_rate_limit_by_ip(db: DatabaseSettings, aiohttp_client) -> None:
    env = core_env(db, AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT="5")
    client = await aiohttp_client(create_app(load_settings(env)))
    token = await csrf(client)
    statuses = []
    for i in range(6):
        response = await client.post(
            "/auth/api/v1/login",
            json={"email": f"u{i}@example.com", "password": "wrong password"},
            headers={"X-CSRF-Token": token},
        )
        statuses.append(response.status)
    assert statuses == [401] * 5 + [429]
    assert (await response.json())["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["Retry-After"]) <= 60


async def test_login_rate_limit_by_email_across_ips(db: DatabaseSettings, aiohttp_client) -> None:
    env = core_env(db, AUTHARA_RATE_LIMIT_LOGIN_EMAIL_LIMIT="3", AUTHARA_TRUST_PROXY_HEADERS="true")
    client = await aiohttp_client(create_app(load_settings(env)))
    token = await csrf(client)
    statuses = []
    for i in range(4):
        response = await client.post(
            "/auth/api/v1/login",
            json={"email": "victim@example.com", "password": "wrong password"},
            headers={"X-CSRF-Token": token, "X-Forwarded-For": f"203.0.113.7, 198.51.100.{i}"},
        )
        statuses.append(response.status)
    assert statuses == [401, 401, 401, 429]


async def test_forged_forwarded_for_does_not_dodge_ip_limit(
    db: DatabaseSettings, aiohttp_client
) -> None:
    env = core_env(db, AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT="2", AUTHARA_TRUST_PROXY_HEADERS="true")
    client = await aiohttp_client(create_app(load_settings(env)))
    token = await csrf(client)
    statuses = []
    for i in range(3):
        response = await client.post(
            "/auth/api/v1/login",
            json={"email": f"u{i}@example.com", "password": "wrong password"},
            headers={"X-CSRF-Token": token, "X-Forwarded-For": f"10.0.0.{i}, 198.51.100.9"},
        )
        statuses.append(response.status)
    assert statuses == [401, 401, 429]


async def test_html_login_rate_limit_rerenders_form(db: DatabaseSettings, aiohttp_client) -> None:
    env = core_env(db, AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT="1")
    client = await aiohttp_client(create_app(load_settings(env)))
    token = await csrf(client)
    for expected in (422, 429):
        response = await client.post(
            "/auth/login",
            data={"email": "a@example.com", "password": "wrong password", "csrf_token": token},
        )
        assert response.status == expected
    assert "Too many attempts" in await response.text()
    assert "Retry-After" in response.headers


async def test_signup_rate_limit(db: DatabaseSettings, aiohttp_client) -> None:
    env = core_env(db, AUTHARA_RATE_LIMIT_SIGNUP_IP_LIMIT="2")
    client = await aiohttp_client(create_app(load_settings(env)))
    statuses = [
        (await api_signup(client, {"email": f"s{i}@example.com", "password": PASSWORD})).status
        for i in range(3)
    ]
    assert statuses == [201, 201, 429]


async def test_busy_hasher_answers_503_with_retry_after(
    db: DatabaseSettings, aiohttp_client
) -> None:
    env = core_env(db, AUTHARA_PASSWORD_HASH_WORKERS="1", AUTHARA_PASSWORD_HASH_MAX_QUEUE="1")
    client = await aiohttp_client(create_app(load_settings(env)))
    token = await csrf(client)
    hasher = client.app[SERVICES_KEY].hasher
    # Occupy the one worker and the one queue place until released: two real hashes would
    # finish on their own, and on a busy machine the login could arrive after them.
    release = threading.Event()
    busy = [asyncio.create_task(hasher._run(lambda _: str(release.wait(30)), "")) for _ in range(2)]
    await asyncio.sleep(0)
    try:
        response = await client.post(
            "/auth/api/v1/login", json=CREDENTIALS, headers={"X-CSRF-Token": token}
        )
        assert response.status == 503
        assert response.headers["Retry-After"] == "1"
        assert (await response.json())["error"]["code"] == "service_unavailable"
    finally:
        release.set()
        await asyncio.gather(*busy)
    response = await client.post(
        "/auth/api/v1/login", json=CREDENTIALS, headers={"X-CSRF-Token": token}
    )
    assert response.status == 401


async def test_login_rehashes_when_parameters_change(
    db: DatabaseSettings, aiohttp_client, conn: asyncpg.Connection
) -> None:
    first = await aiohttp_client(create_app(load_settings(core_env(db))))
    await api_signup(first)
    before = await conn.fetchval("SELECT password_hash FROM auth_providers")
    stronger = core_env(db, AUTHARA_PASSWORD_HASH_TIME_COST="3")
    second = await aiohttp_client(create_app(load_settings(stronger)))
    token = await csrf(second)
    response = await second.post(
        "/auth/api/v1/login", json=CREDENTIALS, headers={"X-CSRF-Token": token}
    )
    assert response.status == 200
    after = await conn.fetchval("SELECT password_hash FROM auth_providers")
    assert ",t=2," in before
    assert ",t=3," in after


async def test_passwords_are_not_truncated_or_case_folded(client: TestClient) -> None:
    long_password = "Tr0ub4dor&3-" * 10 + "abcdefgh"  # 128 characters
    assert (
        await api_signup(client, {"email": "a@example.com", "password": long_password})
    ).status == 201
    token = jar(client)[cookies.CSRF.name]
    for wrong in (long_password[:-1] + "X", long_password.lower()):
        response = await client.post(
            "/auth/api/v1/login",
            json={"email": "a@example.com", "password": wrong},
            headers={"X-CSRF-Token": token},
        )
        assert response.status == 401


async def test_html_refresh_for_fetch_is_204(db: DatabaseSettings, aiohttp_client) -> None:
    env = core_env(db, AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL="always")
    client = await aiohttp_client(create_app(load_settings(env)))
    await api_signup(client)
    old = jar(client)
    response = await client.post(
        "/auth/sessions/refresh?audience=app",
        headers={"X-CSRF-Token": old[cookies.CSRF.name]},
        allow_redirects=False,
    )
    assert response.status == 204
    assert jar(client)[cookies.REFRESH.name] != old[cookies.REFRESH.name]


async def test_html_refresh_with_return_to_redirects(client: TestClient) -> None:
    await api_signup(client)
    response = await client.post(
        "/auth/sessions/refresh?return_to=/private",
        data={"csrf_token": jar(client)[cookies.CSRF.name]},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/private"
    assert cookies.ACCESS.name in response.cookies


async def test_html_refresh_failure(client: TestClient) -> None:
    token = await csrf(client)
    plain = await client.post(
        "/auth/sessions/refresh", headers={"X-CSRF-Token": token}, allow_redirects=False
    )
    assert plain.status == 401
    navigating = await client.post(
        "/auth/sessions/refresh?return_to=/private",
        headers={"X-CSRF-Token": token},
        allow_redirects=False,
    )
    assert navigating.status == 303
    assert navigating.headers["Location"] == "/auth/login?return_to=%2Fprivate"


async def test_login_page_refreshes_an_expired_access_token(
    db: DatabaseSettings, aiohttp_client
) -> None:
    clock = FakeClock()
    client = await aiohttp_client(create_app(load_settings(core_env(db)), clock=clock))
    await api_signup(client)
    clock.advance(minutes=11)
    response = await client.get("/auth/login?return_to=/private", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/private"
    assert cookies.ACCESS.name in response.cookies


async def test_login_page_clears_a_dead_refresh_cookie(client: TestClient) -> None:
    client.session.cookie_jar.update_cookies({cookies.REFRESH.name: "dead"})
    response = await client.get("/auth/login")
    assert response.status == 200
    assert response.cookies[cookies.REFRESH.name]["max-age"] == "0"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/auth/api/v1/login", {"email": "a\u0000b@example.com", "password": PASSWORD}),
        ("/auth/api/v1/signup/direct", {"email": "a@example.com", "password": "pass\u0000word"}),
        ("/auth/api/v1/tokens/refresh", {"refresh_token": "a\u0000b"}),
    ],
)
async def test_nul_characters_are_invalid_request(
    client: TestClient, conn: asyncpg.Connection, path: str, body: dict[str, str]
) -> None:
    token = await csrf(client)
    response = await client.post(path, json=body, headers={"X-CSRF-Token": token})
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_request"
    assert await users(conn) == 0


@pytest.mark.parametrize("path", ["/auth/login", "/auth/signup"])
async def test_nul_characters_in_forms_are_a_400_page(client: TestClient, path: str) -> None:
    token = await csrf(client)
    response = await client.post(
        path, data={"email": "a\u0000b@example.com", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status == 400
    assert response.content_type == "text/html"
    assert "NUL" in await response.text()


async def test_nul_in_return_to_is_ignored(client: TestClient) -> None:
    response = await client.get("/auth/login", params={"return_to": "/a\u0000b"})
    assert response.status == 200
    assert 'action="/auth/login?return_to=%2F"' in await response.text()
