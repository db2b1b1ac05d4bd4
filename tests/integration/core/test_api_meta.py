"""JSON API and meta endpoints of the walking skeleton."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from authara_contract import cookies
from authara_core.platform.schema import REQUIRED_SCHEMA_REVISION
from tests.integration.core.conftest import signup

UUID = re.compile(r"^[0-9a-f-]{36}$")


async def test_user_requires_access_cookie(client: TestClient) -> None:
    response = await client.get("/auth/api/v1/user")
    assert response.status == 401
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert await response.json() == {"error": {"code": "unauthorized", "message": "Unauthorized"}}


async def test_user_after_signup(client: TestClient) -> None:
    await signup(client)
    response = await client.get("/auth/api/v1/user")
    assert response.status == 200
    body = await response.json()
    assert set(body) == {
        "id", "email", "username", "disabled", "created_at", "roles", "organization"
    }  # fmt: skip
    assert UUID.match(body["id"])
    organization = body["organization"]
    assert set(organization) == {"id", "name", "role"}
    assert UUID.match(organization["id"])
    assert organization["id"] != body["id"]
    assert (organization["name"], organization["role"]) == (body["username"], "owner")
    assert body["email"] == "ada@example.com"
    assert body["disabled"] is False
    assert body["roles"] == []
    assert body["created_at"].endswith("Z")


async def test_user_with_forged_token_is_unauthorized(client: TestClient) -> None:
    client.session.cookie_jar.update_cookies({cookies.ACCESS.name: "eyJhbGciOiJub25lIn0.e30."})
    response = await client.get("/auth/api/v1/user")
    assert response.status == 401


async def test_unknown_api_route_is_not_found_envelope(client: TestClient) -> None:
    response = await client.get("/auth/api/v1/nope")
    assert response.status == 404
    assert await response.json() == {"error": {"code": "not_found", "message": "Route not found."}}


async def test_wrong_method_on_api_route_is_not_found(client: TestClient) -> None:
    response = await client.post(
        "/auth/api/v1/user", headers={"X-CSRF-Token": "x"}, cookies={"authara_csrf": "x"}
    )
    assert response.status == 404
    assert (await response.json())["error"]["code"] == "not_found"


async def test_api_logout_is_204_and_clears_cookies(client: TestClient) -> None:
    await signup(client)
    token = client.session.cookie_jar.filter_cookies(client.make_url("/"))[cookies.CSRF.name].value
    response = await client.post("/auth/api/v1/sessions/logout", headers={"X-CSRF-Token": token})
    assert response.status == 204
    assert response.cookies[cookies.REFRESH.name].value == ""


async def test_csrf_endpoint_returns_cookie_value(client: TestClient) -> None:
    first = await client.get("/auth/api/v1/csrf")
    token = (await first.json())["csrf_token"]
    assert first.cookies[cookies.CSRF.name].value == token
    second = await client.get("/auth/api/v1/csrf")
    assert (await second.json())["csrf_token"] == token
    assert cookies.CSRF.name not in second.cookies


async def test_health_and_version(client: TestClient) -> None:
    health = await client.get("/auth/health")
    assert health.status == 200
    assert await health.text() == '{"status":"ok"}'
    version = await client.get("/auth/version")
    assert set(await version.json()) == {"version"}


async def test_request_id_is_kept_or_generated(client: TestClient) -> None:
    kept = await client.get("/auth/health", headers={"X-Request-Id": "abc-123"})
    assert kept.headers["X-Request-Id"] == "abc-123"
    replaced = await client.get("/auth/health", headers={"X-Request-Id": "bad id\twith spaces"})
    assert re.match(r"^[0-9a-f]{32}$", replaced.headers["X-Request-Id"])
    generated = {(await client.get("/auth/health")).headers["X-Request-Id"] for _ in range(5)}
    assert len(generated) == 5
    assert all(re.match(r"^[0-9a-f]{32}$", request_id) for request_id in generated)


async def test_static_stylesheet_is_served(client: TestClient) -> None:
    response = await client.get("/auth/static/authara.css")
    assert response.status == 200
    assert "text/css" in response.headers["Content-Type"]


async def test_unknown_page_is_html_404(client: TestClient) -> None:
    response = await client.get("/auth/nope")
    assert response.status == 404
    assert response.content_type == "text/html"


async def test_ready_when_database_is_at_the_required_revision(client: TestClient) -> None:
    response = await client.get("/auth/ready")
    assert response.status == 200
    assert await response.json() == {"status": "ready"}


async def test_unready_when_schema_is_behind(client: TestClient, conn) -> None:
    await conn.execute("UPDATE alembic_version SET version_num = '0001'")
    try:
        response = await client.get("/auth/ready")
        assert response.status == 503
        assert (await response.json())["reason"] == (
            f"schema is at revision 0001, needs {REQUIRED_SCHEMA_REVISION}"
        )
    finally:
        await conn.execute("UPDATE alembic_version SET version_num = $1", REQUIRED_SCHEMA_REVISION)
