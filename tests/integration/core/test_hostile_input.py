"""Hostile input answers 4xx, never 500: nesting, lone surrogates, broken forms, odd bytes.

Issue 11 §5: each reproduction here answered 500 (with a traceback in the log) before the
body reader, the form reader and the validation rules refused it at the edge.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import cookies
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.platform.openapi import SCHEMAS
from authara_core.settings import load_settings
from tests.integration.core.oauthsupport import oauth_env, provider_env
from tests.oauthstubs import CLIENT_ID, OidcStandIn, google_stand_in, serving

API = "/auth/api/v1"
PASSWORD = "correct horse battery"
# Good values for every request-body string; each test breaks one of them.
GOOD: dict[str, str] = {
    "email": "ada@example.com",
    "password": PASSWORD,
    "invitation_code": "",
    "refresh_token": "r" * 43,
    "credential": "not.a.jwt",
    "nonce": "n" * 43,
}
JSON_ROUTES: dict[str, str] = {
    "LoginRequest": f"{API}/login",
    "SignupRequest": f"{API}/signup/direct",
    "TokenRefreshRequest": f"{API}/tokens/refresh",
    "GoogleLoginRequest": f"{API}/oauth/google",
}
# Every HTML POST route (the provider segments name a configured provider).
HTML_POSTS = [
    "/auth/login",
    "/auth/signup",
    "/auth/sessions/logout",
    "/auth/logout",
    "/auth/sessions/refresh",
    "/auth/oauth/corp/link",
    "/auth/provider-links/confirm",
    "/auth/providers/corp/unlink",
]
API_POSTS = [
    f"{API}/login",
    f"{API}/signup/direct",
    f"{API}/sessions/logout",
    f"{API}/sessions/refresh",
    f"{API}/oauth/google",
]
FORM_READERS = ["/auth/login", "/auth/signup", "/auth/provider-links/confirm"]
BROKEN_MULTIPART = {"Content-Type": "multipart/form-data; boundary=B"}


@pytest.fixture
async def google() -> AsyncIterator[OidcStandIn]:
    stand_in = google_stand_in()
    async with serving(stand_in):
        yield stand_in


@pytest.fixture
async def oauth_client(
    aiohttp_client, db: DatabaseSettings, corp: OidcStandIn, google: OidcStandIn
):
    """Core with a generic provider (`corp`) and Google, so every route is live."""
    env = oauth_env(
        db,
        {"corp": provider_env("corp", corp.url)},
        AUTHARA_OAUTH_PROVIDERS="corp,google",
        AUTHARA_OAUTH_GOOGLE_CLIENT_ID=CLIENT_ID,
        AUTHARA_OAUTH_GOOGLE_ISSUER=google.url,
    )
    return await aiohttp_client(create_app(load_settings(env)))


async def _csrf(client: TestClient[Any, Any]) -> str:
    response = await client.get(f"{API}/csrf")
    assert response.status == 200
    token: str = (await response.json())["csrf_token"]
    return token


async def _post_json(client: TestClient[Any, Any], path: str, raw: bytes) -> Any:
    token = await _csrf(client)
    return await client.post(
        path,
        data=raw,
        headers={"Content-Type": "application/json", "X-CSRF-Token": token},
        allow_redirects=False,
    )


async def _assert_envelope(response: Any, status: int = 400) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body: dict[str, Any] = await response.json()
    assert body["error"]["code"] == "invalid_request"
    return body


async def _assert_page(response: Any, status: int = 400) -> None:
    assert response.status == status, await response.text()
    assert response.content_type == "text/html"


def _string_fields(schema: str) -> list[str]:
    properties: dict[str, Any] = SCHEMAS[schema]["properties"]
    return [name for name, spec in properties.items() if "enum" not in spec]


async def test_deeply_nested_json_is_a_400_envelope(oauth_client: TestClient[Any, Any]) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    await oauth_client.get(f"{API}/oauth/google/options")  # the Google route needs its nonce
    for path in JSON_ROUTES.values():
        for raw in (deep, '{"email": ' + deep + "}"):
            await _assert_envelope(await _post_json(oauth_client, path, raw.encode()))


async def test_a_lone_surrogate_in_any_json_string_is_a_400_envelope(
    oauth_client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    await oauth_client.get(f"{API}/oauth/google/options")
    cases = [(schema, name) for schema in JSON_ROUTES for name in _string_fields(schema)]
    assert len(cases) == 8
    for schema, name in cases:
        properties = SCHEMAS[schema]["properties"]
        required = set(SCHEMAS[schema].get("required", ()))
        body = {key: GOOD[key] for key in properties if key in required or key == name}
        raw = json.dumps(body).replace(json.dumps(GOOD[name]), '"\\ud800 long enough"', 1)
        assert "\\ud800" in raw
        response = await _post_json(oauth_client, JSON_ROUTES[schema], raw.encode())
        message = (await _assert_envelope(response))["error"]["message"]
        assert "Unicode" in message, (schema, name)
    assert await conn.fetchval("SELECT count(*) FROM users") == 0


async def test_surrogate_keys_and_other_encodings_are_400_envelopes(
    client: TestClient[Any, Any],
) -> None:
    bodies = [
        b'{"refresh_token": "x", "\\udc00": "y"}',
        json.dumps({"refresh_token": "\u00e9" * 43}, ensure_ascii=False).encode("utf-16"),
        json.dumps({"refresh_token": "\u00e9" * 43}, ensure_ascii=False).encode("latin-1"),
    ]
    for raw in bodies:
        await _assert_envelope(await _post_json(client, f"{API}/tokens/refresh", raw))


async def test_malformed_multipart_is_a_400_never_a_500(oauth_client: TestClient[Any, Any]) -> None:
    token = await _csrf(oauth_client)
    for path in HTML_POSTS + API_POSTS:
        response = await oauth_client.post(
            path, data=b"--B\r\njunk", headers=BROKEN_MULTIPART, allow_redirects=False
        )
        if path.startswith(API):
            await _assert_envelope(response)
        else:
            await _assert_page(response)
        # With the token in the header the CSRF check passes without the body; only
        # handlers that read a form see it.
        response = await oauth_client.post(
            path,
            data=b"--B\r\njunk",
            headers={**BROKEN_MULTIPART, "X-CSRF-Token": token},
            allow_redirects=False,
        )
        assert response.status < 500, (path, await response.text())
        if path in FORM_READERS:
            await _assert_page(response)


def _multipart(fields: dict[str, bytes]) -> bytes:
    parts = [
        b'--B\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n' + value
        for name, value in fields.items()
    ]
    return b"\r\n".join(parts) + b"\r\n--B--\r\n"


async def test_undecodable_form_text_is_a_400_page(
    oauth_client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    token = await _csrf(oauth_client)
    for path in FORM_READERS:
        for name in ("email", "password", "link_id", "provider", "csrf_token"):
            for in_form in (True, False):
                fields = {"email": b"ada@example.com", "password": PASSWORD.encode()}
                headers = dict(BROKEN_MULTIPART)
                if in_form:
                    fields["csrf_token"] = token.encode()
                else:
                    headers["X-CSRF-Token"] = token
                fields[name] = b"\xed\xa0\x80x"
                response = await oauth_client.post(
                    path, data=_multipart(fields), headers=headers, allow_redirects=False
                )
                await _assert_page(response)
    assert await conn.fetchval("SELECT count(*) FROM users") == 0


async def test_whitespace_inside_an_email_is_refused_at_signup(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    emails = [
        "admin\n@example.com",
        "admin\r\n@example.com",
        "admin @example.com",
        "admin\t@example.com",
        "ad\nmin@example.com",
        "admin@example\n.com",
        "admin@example.com\n.evil",
    ]
    token = await _csrf(client)
    for email in emails:
        raw = json.dumps({"email": email, "password": PASSWORD}).encode()
        await _assert_envelope(await _post_json(client, f"{API}/signup/direct", raw))
        response = await client.post(
            "/auth/signup",
            data={"email": email, "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
        )
        await _assert_page(response, 422)
    assert await conn.fetchval("SELECT count(*) FROM users") == 0
    # Surrounding whitespace is trimmed, as upstream does.
    raw = json.dumps({"email": " Ada@Example.com\n", "password": PASSWORD}).encode()
    response = await _post_json(client, f"{API}/signup/direct", raw)
    assert response.status == 201, await response.text()
    assert await conn.fetchval("SELECT email FROM users") == "ada@example.com"


async def _raw(client: TestClient[Any, Any], request: bytes) -> bytes:
    """Send bytes no well-behaved client would send; return the status line."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        return await reader.readline()
    finally:
        writer.close()
        await writer.wait_closed()


async def test_an_undecodable_user_agent_is_stored_repaired(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    token = await _csrf(client)
    body = json.dumps({"email": "ada@example.com", "password": PASSWORD}).encode()
    request = (
        b"POST /auth/api/v1/signup/direct HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"User-Agent: probe/\xed\xa0\x80\xff\r\nContent-Type: application/json\r\n"
        b"X-CSRF-Token: " + token.encode() + b"\r\n"
        b"Cookie: authara_csrf=" + token.encode() + b"\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    assert (await _raw(client, request)).startswith(b"HTTP/1.1 201")
    stored = await conn.fetchval("SELECT user_agent FROM sessions")
    assert stored.startswith("probe/")


async def test_undecodable_session_cookies_count_as_absent(client: TestClient[Any, Any]) -> None:
    token = await _csrf(client)
    cases = [
        (b"POST", f"{API}/sessions/refresh", cookies.REFRESH.name, b"401"),
        (b"POST", "/auth/sessions/refresh", cookies.REFRESH.name, b"401"),
        (b"GET", f"{API}/user", cookies.ACCESS.name, b"401"),
        (b"GET", "/auth/login", cookies.REFRESH.name, b"200"),
        (b"GET", "/auth/account", cookies.ACCESS.name, b"303"),
    ]
    for method, path, cookie, expected in cases:
        request = (
            method + b" " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"X-CSRF-Token: " + token.encode() + b"\r\n"
            b"Cookie: authara_csrf="
            + token.encode()
            + b"; "
            + cookie.encode()
            + b"=\xed\xa0\x80\r\nContent-Length: 0\r\n\r\n"
        )
        status = await _raw(client, request)
        assert status[9:12] == expected, (path, status)


async def test_odd_query_strings_never_answer_500(oauth_client: TestClient[Any, Any]) -> None:
    urls = [
        "/auth/oauth/corp/callback?state=%00&code=%00&error=%00&iss=%00",
        "/auth/oauth/corp/callback?state=%ED%A0%80&code=x",
        "/auth/oauth/corp/start?return_to=%00",
        "/auth/oauth/corp/start?return_to=/%ED%A0%80",
        "/auth/login?return_to=/%00",
        "/auth/provider-links/confirm?link_id=%00",
        f"{API}/user?audience=%00",
    ]
    for url in urls:
        response = await oauth_client.get(url, allow_redirects=False)
        assert response.status < 500, (url, await response.text())
    token = await _csrf(oauth_client)
    for path in [f"{API}/login", f"{API}/sessions/refresh", "/auth/sessions/refresh"]:
        for param in ("audience", "return_to"):
            response = await oauth_client.post(
                path,
                params={param: "\x00\ud7ff"},
                json={"email": "ada@example.com", "password": PASSWORD},
                headers={"X-CSRF-Token": token},
                allow_redirects=False,
            )
            assert response.status < 500, (path, await response.text())


async def test_an_undecodable_csrf_header_is_a_403(client: TestClient[Any, Any]) -> None:
    token = await _csrf(client)
    request = (
        b"POST /auth/api/v1/sessions/logout HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"X-CSRF-Token: \xed\xa0\x80" + token.encode() + b"\r\n"
        b"Cookie: authara_csrf=" + token.encode() + b"\r\nContent-Length: 0\r\n\r\n"
    )
    assert (await _raw(client, request)).startswith(b"HTTP/1.1 403")


async def test_a_corpus_of_broken_form_bodies_gets_400_pages(client: TestClient[Any, Any]) -> None:
    token = await _csrf(client)
    part = b'--B\r\nContent-Disposition: form-data; name="email"\r\n'
    corpus: list[tuple[str, bytes]] = [
        ("multipart/form-data", b"--B\r\njunk"),
        ("multipart/form-data; boundary=", b"--\r\n"),
        (
            "multipart/form-data; boundary=B",
            b"--B\r\nContent-Disposition: form-data\r\n\r\nx\r\n--B--",
        ),
        (
            "multipart/form-data; boundary=B",
            part + b"Content-Type: text/plain; charset=bogus\r\n\r\nx\r\n--B--\r\n",
        ),
        (
            "multipart/form-data; boundary=B",
            part + b"Content-Transfer-Encoding: base64\r\n\r\n!!!\r\n--B--\r\n",
        ),
        (
            "multipart/form-data; boundary=B",
            part + b"Content-Encoding: gzip\r\n\r\nnot gzip\r\n--B--\r\n",
        ),
        ("multipart/form-data; boundary=B", b"--B\r\nX: \x00\r\n\r\nx\r\n--B--\r\n"),
        ("application/x-www-form-urlencoded; charset=bogus", b"email=x"),
        ("application/x-www-form-urlencoded", b"email=%00"),
    ]
    for content_type, body in corpus:
        response = await client.post(
            "/auth/login",
            data=body,
            headers={"Content-Type": content_type, "X-CSRF-Token": token},
            allow_redirects=False,
        )
        assert response.status == 400, (content_type, body, await response.text())
        assert response.content_type == "text/html"
