"""Organizations in sessions: first organization per mode, default one, refresh re-checks."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import jwt
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import cookies, routes
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.settings import load_settings
from tests.coresupport import core_env
from tests.integration.core.conftest import ClientFactory

PASSWORD = "correct horse battery"


async def csrf_token(client: TestClient[Any, Any], _path: str) -> str:
    response = await client.get(routes.API_CSRF)
    assert response.status == 200
    token: str = (await response.json())["csrf_token"]
    return token


async def _signup(client: TestClient[Any, Any], email: str = "ada@example.com") -> Any:
    token = await csrf_token(client, routes.LOGIN)
    return await client.post(
        routes.API_SIGNUP_DIRECT,
        json={"email": email, "password": PASSWORD},
        headers={"X-CSRF-Token": token},
    )


async def _login(client: TestClient[Any, Any], email: str = "ada@example.com") -> dict[str, Any]:
    token = await csrf_token(client, routes.LOGIN)
    response = await client.post(
        routes.API_LOGIN,
        json={"email": email, "password": PASSWORD},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def _organizations(conn: asyncpg.Connection) -> list[tuple[str, str, str]]:
    rows = await conn.fetch(
        "SELECT o.name, o.kind, m.role FROM organizations o"
        " JOIN organization_memberships m ON m.organization_id = o.id"
        " WHERE m.user_id = o.created_by_user_id ORDER BY o.name"
    )
    return [(row["name"], row["kind"], row["role"]) for row in rows]


@pytest.mark.parametrize(("mode", "kind"), [("personal", "personal"), ("multi", "personal"),
                                            ("single", "team")])  # fmt: skip
async def test_signup_creates_the_first_organization_for_the_mode(
    aiohttp_client: ClientFactory,
    db: DatabaseSettings,
    conn: asyncpg.Connection,
    mode: str,
    kind: str,
) -> None:
    app = create_app(load_settings(core_env(db, AUTHARA_ORGANIZATION_MODE=mode)))
    client = await aiohttp_client(app)

    response = await _signup(client)

    assert response.status == 201
    body = await response.json()
    username = body["user"]["username"]
    assert await _organizations(conn) == [(username, kind, "owner")]
    claims = _claims(body["access_token"])
    assert claims["org_role"] == "owner"
    assert claims["org_id"] == str(
        await conn.fetchval("SELECT active_organization_id FROM sessions")
    )


async def test_failed_signup_writes_no_organization(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    assert (await _signup(client)).status == 201

    again = await _signup(client)

    assert again.status == 400
    assert await conn.fetchval("SELECT count(*) FROM organizations") == 1


async def test_session_starts_in_the_oldest_membership_without_a_personal_organization(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    await _signup(client, "owner@example.com")
    await _signup(client, "ada@example.com")
    ada = await conn.fetchval("SELECT id FROM users WHERE email = 'ada@example.com'")
    team = await conn.fetchval(
        "INSERT INTO organizations (name, kind) VALUES ('Team', 'team') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO organization_memberships (organization_id, user_id, role, created_at)"
        " VALUES ($1, $2, 'admin', now() - interval '1 day')",
        team,
        ada,
    )
    personal_first = _claims((await _login(client))["access_token"])
    await conn.execute("DELETE FROM sessions WHERE user_id = $1", ada)
    await conn.execute("DELETE FROM organizations WHERE created_by_user_id = $1", ada)

    team_only = _claims((await _login(client))["access_token"])

    assert personal_first["org_id"] != str(team)  # the personal organization wins
    assert (team_only["org_id"], team_only["org_role"]) == (str(team), "admin")


async def test_refresh_is_refused_once_the_user_left_the_organization(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    issued = await (await _signup(client)).json()
    # The foreign key keeps a membership while a session uses it; only a path that ignores
    # it (replication role) can leave a session pointing at a membership that is gone.
    await conn.execute("SET session_replication_role = replica")
    await conn.execute("DELETE FROM organization_memberships")
    await conn.execute("SET session_replication_role = DEFAULT")
    csrf = client.session.cookie_jar.filter_cookies(client.make_url("/"))[cookies.CSRF.name].value

    by_cookie = await client.post(routes.API_SESSIONS_REFRESH, headers={"X-CSRF-Token": csrf})
    by_body = await client.post(
        routes.API_TOKENS_REFRESH, json={"refresh_token": issued["refresh_token"]}
    )

    assert by_cookie.status == 401
    assert await by_cookie.json() == {
        "error": {"code": "unauthorized", "message": "Invalid refresh token"}
    }
    assert by_cookie.cookies[cookies.ACCESS.name]["max-age"] == "0"
    assert by_cookie.cookies[cookies.REFRESH.name]["max-age"] == "0"
    assert by_body.status == 401


async def test_user_is_unauthorized_once_the_membership_is_gone(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    assert (await _signup(client)).status == 201
    await conn.execute("SET session_replication_role = replica")
    await conn.execute("DELETE FROM organization_memberships")
    await conn.execute("SET session_replication_role = DEFAULT")

    response = await client.get(routes.API_USER)

    assert response.status == 401


async def test_user_is_unauthorized_once_the_membership_is_gone_while_another_stays(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    token_org = _claims((await (await _signup(client)).json())["access_token"])["org_id"]
    ada = await conn.fetchval("SELECT id FROM users WHERE email = 'ada@example.com'")
    team = await conn.fetchval(
        "INSERT INTO organizations (name, kind) VALUES ('Team', 'team') RETURNING id"
    )
    await conn.execute(
        "INSERT INTO organization_memberships (organization_id, user_id, role)"
        " VALUES ($1, $2, 'member')",
        team,
        ada,
    )
    # The session moves on first (as removing a member does), the token keeps naming the old one.
    await conn.execute("UPDATE sessions SET active_organization_id = $1", team)
    await conn.execute(
        "DELETE FROM organization_memberships WHERE organization_id = $1", uuid.UUID(token_org)
    )

    response = await client.get(routes.API_USER)

    assert response.status == 401
    assert await response.json() == {"error": {"code": "unauthorized", "message": "Unauthorized"}}


async def test_user_is_unauthorized_once_the_user_is_gone(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    assert (await _signup(client)).status == 201
    await conn.execute("DELETE FROM users")  # cascades to memberships and sessions

    response = await client.get(routes.API_USER)

    assert response.status == 401


async def test_user_reads_roles_and_organization_from_the_database_not_the_token(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    issued = await (await _signup(client)).json()
    claims = _claims(issued["access_token"])
    assert (claims["roles"], claims["org_role"]) == ([], "owner")
    for role in ("monitor", "admin"):
        await conn.execute(
            "INSERT INTO user_platform_roles (user_id, role_id, created_at)"
            " SELECT $1, id, now() FROM platform_roles WHERE name = $2",
            uuid.UUID(issued["user"]["id"]),
            role,
        )
    await conn.execute("UPDATE organizations SET name = 'Renamed'")
    await conn.execute("UPDATE organization_memberships SET role = 'member'")

    response = await client.get(routes.API_USER)

    assert response.status == 200
    body = await response.json()
    assert body["roles"] == ["authara:admin", "authara:monitor"]  # sorted by name
    assert body["organization"] == {"id": claims["org_id"], "name": "Renamed", "role": "member"}


async def test_membership_in_use_by_a_session_cannot_be_deleted(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    assert (await _signup(client)).status == 201

    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await conn.execute("DELETE FROM organization_memberships")
