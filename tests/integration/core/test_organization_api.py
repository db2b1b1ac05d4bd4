"""The public organization API per mode: capabilities, organizations, members, switching."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any, Final

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

PASSWORD: Final = "correct horse battery"
MODES: Final = ("personal", "single", "multi")
SWITCHING_DISABLED: Final = "Organization switching is disabled."


async def _client(
    aiohttp_client: ClientFactory, db: DatabaseSettings, mode: str, **env: str
) -> Any:
    settings = load_settings(core_env(db, AUTHARA_ORGANIZATION_MODE=mode, **env))
    return await aiohttp_client(create_app(settings))


def _jar(client: TestClient[Any, Any]) -> dict[str, str]:
    found = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    return {name: morsel.value for name, morsel in found.items()}


async def _signup(client: TestClient[Any, Any], email: str = "ada@example.com") -> dict[str, Any]:
    response = await client.get(routes.API_CSRF)
    token = (await response.json())["csrf_token"]
    response = await client.post(
        routes.API_SIGNUP_DIRECT,
        json={"email": email, "password": PASSWORD},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def _get(client: TestClient[Any, Any], path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status == status, await response.text()
    return await response.json()


def _switch_path(organization_id: object) -> str:
    return routes.API_ORGANIZATION_SWITCH.replace("{organizationID}", str(organization_id))


async def _switch(client: TestClient[Any, Any], organization_id: object, **kwargs: Any) -> Any:
    headers = {"X-CSRF-Token": _jar(client)[cookies.CSRF.name]}
    return await client.post(_switch_path(organization_id), headers=headers, **kwargs)


async def _team(
    conn: asyncpg.Connection, name: str, *members: tuple[str, str], age_days: int = 0
) -> uuid.UUID:
    """Create a team organization with members given as (email, role)."""
    team: uuid.UUID = await conn.fetchval(
        "INSERT INTO organizations (name, kind) VALUES ($1, 'team') RETURNING id", name
    )
    for email, role in members:
        await conn.execute(
            "INSERT INTO organization_memberships (organization_id, user_id, role, created_at)"
            " SELECT $1, id, $2, now() - make_interval(days => $3) FROM users WHERE email = $4",
            team,
            role,
            age_days,
            email,
        )
    return team


async def _drop_memberships(conn: asyncpg.Connection) -> None:
    # The session's foreign key protects its membership; only replication role bypasses it.
    await conn.execute("SET session_replication_role = replica")
    await conn.execute("DELETE FROM organization_memberships")
    await conn.execute("SET session_replication_role = DEFAULT")


@pytest.mark.parametrize(
    ("mode", "visible", "switching"),
    [("personal", False, False), ("single", True, False), ("multi", True, True)],
)
async def test_capabilities_follow_the_mode(
    aiohttp_client: ClientFactory, db: DatabaseSettings, mode: str, visible: bool, switching: bool
) -> None:
    client = await _client(aiohttp_client, db, mode)
    assert (await client.get(routes.API_CAPABILITIES)).status == 401
    await _signup(client)

    assert await _get(client, routes.API_CAPABILITIES) == {
        "organization_mode": mode,
        "has_visible_organizations": visible,
        "allows_invitations": visible,
        "allows_public_organization_management": False,
        "allows_org_switching": switching,
        "allows_user_created_team_orgs": switching,
        "allows_organization_leave": False,
    }


async def test_capabilities_report_public_organization_management(
    aiohttp_client: ClientFactory, db: DatabaseSettings
) -> None:
    client = await _client(
        aiohttp_client, db, "single", AUTHARA_PUBLIC_ORGANIZATION_MANAGEMENT_ENABLED="true"
    )
    await _signup(client)

    body = await _get(client, routes.API_CAPABILITIES)

    assert body["allows_public_organization_management"] is True


@pytest.mark.parametrize("mode", MODES)
async def test_a_new_user_sees_their_one_organization(
    aiohttp_client: ClientFactory, db: DatabaseSettings, mode: str
) -> None:
    client = await _client(aiohttp_client, db, mode)
    for path in (routes.API_ORGANIZATIONS, routes.API_ORGANIZATION_CURRENT):
        assert (await client.get(path)).status == 401
    session = await _signup(client)
    claims = _claims(session["access_token"])
    expected = {"id": claims["org_id"], "name": session["user"]["username"], "role": "owner"}

    assert await _get(client, routes.API_ORGANIZATIONS) == {"organizations": [expected]}
    assert await _get(client, routes.API_ORGANIZATION_CURRENT) == expected


async def test_organizations_list_the_active_one_first_then_by_name(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "multi")
    session = await _signup(client, "zed@example.com")
    personal = _claims(session["access_token"])["org_id"]
    beta = await _team(conn, "Beta", ("zed@example.com", "member"))
    alpha = await _team(conn, "Alpha", ("zed@example.com", "admin"))

    before = await _get(client, routes.API_ORGANIZATIONS)
    assert (await _switch(client, beta)).status == 200
    after = await _get(client, routes.API_ORGANIZATIONS)

    assert [o["id"] for o in before["organizations"]] == [personal, str(alpha), str(beta)]
    assert [o["id"] for o in after["organizations"]] == [str(beta), str(alpha), personal]
    assert after["organizations"][1] == {"id": str(alpha), "name": "Alpha", "role": "admin"}


async def test_organization_reads_are_unauthorized_once_the_membership_is_gone(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "single")
    await _signup(client)
    await _drop_memberships(conn)

    for path in (
        routes.API_ORGANIZATIONS,
        routes.API_ORGANIZATION_CURRENT,
        routes.API_ORGANIZATION_MEMBERS,
    ):
        body = await _get(client, path, 401)
        assert body["error"]["code"] == "unauthorized"


async def test_current_takes_the_role_from_the_token(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "single")
    await _signup(client)
    await conn.execute("UPDATE organization_memberships SET role = 'member'")

    assert (await _get(client, routes.API_ORGANIZATION_CURRENT))["role"] == "owner"


async def test_members_are_hidden_in_personal_mode(
    aiohttp_client: ClientFactory, db: DatabaseSettings
) -> None:
    client = await _client(aiohttp_client, db, "personal")
    assert (await client.get(routes.API_ORGANIZATION_MEMBERS)).status == 401
    await _signup(client)

    body = await _get(client, routes.API_ORGANIZATION_MEMBERS, 403)

    assert body["error"]["code"] == "forbidden"


@pytest.mark.parametrize("mode", ["single", "multi"])
async def test_members_of_the_current_organization(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, mode: str
) -> None:
    client = await _client(aiohttp_client, db, mode)
    ada = (await _signup(client))["user"]
    other = await _client(aiohttp_client, db, mode)
    bob = (await _signup(other, "bob@example.com"))["user"]
    await conn.execute(
        "INSERT INTO organization_memberships (organization_id, user_id, role)"
        " SELECT organization_id, $1, 'member' FROM organization_memberships WHERE user_id = $2",
        uuid.UUID(bob["id"]),
        uuid.UUID(ada["id"]),
    )

    members = (await _get(client, routes.API_ORGANIZATION_MEMBERS))["members"]

    assert [(m["user_id"], m["email"], m["username"], m["role"]) for m in members] == [
        (ada["id"], "ada@example.com", ada["username"], "owner"),
        (bob["id"], "bob@example.com", bob["username"], "member"),
    ]
    assert all(m["created_at"].endswith("Z") for m in members)
    own = (await _get(other, routes.API_ORGANIZATION_MEMBERS))["members"]
    assert [m["user_id"] for m in own] == [bob["id"]]  # bob's token is for his own organization


async def test_switch_moves_the_session_and_later_refreshes_keep_it(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "multi")
    session = await _signup(client)
    team = await _team(conn, "Acme", ("ada@example.com", "admin"))

    response = await _switch(client, team)

    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    tokens = await response.json()
    assert set(tokens) == {"access_token", "refresh_token"}
    assert _jar(client)[cookies.ACCESS.name] == tokens["access_token"]
    assert _jar(client)[cookies.REFRESH.name] == tokens["refresh_token"]
    assert tokens["refresh_token"] == session["refresh_token"]  # kept: rotation is refresh's
    claims = _claims(tokens["access_token"])
    assert (claims["org_id"], claims["org_role"]) == (str(team), "admin")
    assert claims["sid"] == _claims(session["access_token"])["sid"]
    team_summary = {"id": str(team), "name": "Acme", "role": "admin"}
    assert (await _get(client, routes.API_USER))["organization"] == team_summary
    assert await _get(client, routes.API_ORGANIZATION_CURRENT) == team_summary

    refreshed = await client.post(
        routes.API_SESSIONS_REFRESH, headers={"X-CSRF-Token": _jar(client)[cookies.CSRF.name]}
    )
    assert refreshed.status == 200
    assert _claims(_jar(client)[cookies.ACCESS.name])["org_id"] == str(team)
    by_body = await client.post(
        routes.API_TOKENS_REFRESH, json={"refresh_token": session["refresh_token"]}
    )
    assert _claims((await by_body.json())["access_token"])["org_id"] == str(team)


async def test_rotated_refresh_tokens_keep_the_switched_organization(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(
        aiohttp_client, db, "multi", AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL="always"
    )
    session = await _signup(client)
    team = await _team(conn, "Acme", ("ada@example.com", "member"))
    assert (await _switch(client, team)).status == 200
    csrf = {"X-CSRF-Token": _jar(client)[cookies.CSRF.name]}

    for _ in range(2):
        assert (await client.post(routes.API_SESSIONS_REFRESH, headers=csrf)).status == 200
        assert _claims(_jar(client)[cookies.ACCESS.name])["org_id"] == str(team)

    assert _jar(client)[cookies.REFRESH.name] != session["refresh_token"]


async def test_switch_needs_the_sessions_refresh_cookie(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "multi")
    session = await _signup(client)
    team = await _team(conn, "Acme", ("ada@example.com", "member"))
    personal = _claims(session["access_token"])["org_id"]
    client.session.cookie_jar.clear(lambda morsel: morsel.key == cookies.REFRESH.name)

    # An access token alone (perhaps stolen) must not mint a refresh token that outlives it.
    response = await _switch(client, team)

    assert response.status == 401, await response.text()
    assert (await response.json())["error"]["code"] == "unauthorized"
    answer = await client.post(
        routes.API_TOKENS_REFRESH, json={"refresh_token": session["refresh_token"]}
    )
    assert answer.status == 200  # nothing switched, nothing revoked
    assert _claims((await answer.json())["access_token"])["org_id"] == personal


async def test_switch_back_and_forth(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "multi")
    personal = _claims((await _signup(client))["access_token"])["org_id"]
    team = await _team(conn, "Acme", ("ada@example.com", "member"))

    assert (await _switch(client, team)).status == 200
    back = await _switch(client, personal)

    assert back.status == 200
    claims = _claims((await back.json())["access_token"])
    assert (claims["org_id"], claims["org_role"]) == (personal, "owner")


async def test_concurrent_switches_and_refreshes_end_in_one_of_the_switches(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "multi")
    await _signup(client)
    teams = [await _team(conn, f"Team {n}", ("ada@example.com", "member")) for n in range(4)]

    csrf = {"X-CSRF-Token": _jar(client)[cookies.CSRF.name]}
    refreshes = [client.post(routes.API_SESSIONS_REFRESH, headers=csrf) for _ in range(3)]

    responses = await asyncio.gather(*(_switch(client, team) for team in teams * 2), *refreshes)

    assert [r.status for r in responses] == [200] * len(responses)
    active = await conn.fetchval("SELECT active_organization_id FROM sessions")
    assert active in teams
    refreshed = await client.post(
        routes.API_SESSIONS_REFRESH, headers={"X-CSRF-Token": _jar(client)[cookies.CSRF.name]}
    )
    assert refreshed.status == 200
    assert _claims(_jar(client)[cookies.ACCESS.name])["org_id"] == str(active)


@pytest.mark.parametrize("mode", ["personal", "single"])
async def test_switch_is_disabled_outside_multi_mode(
    aiohttp_client: ClientFactory, db: DatabaseSettings, mode: str
) -> None:
    client = await _client(aiohttp_client, db, mode)
    own = _claims((await _signup(client))["access_token"])["org_id"]

    response = await _switch(client, own)

    assert response.status == 403
    assert await response.json() == {"error": {"code": "forbidden", "message": SWITCHING_DISABLED}}


async def test_switch_refusals(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "multi")
    session = await _signup(client)
    other = await _client(aiohttp_client, db, "multi")
    foreign = _claims((await _signup(other, "bob@example.com"))["access_token"])["org_id"]
    team = await _team(conn, "Acme", ("ada@example.com", "member"))

    not_member = await _switch(client, foreign)
    unknown = await _switch(client, uuid.uuid4())
    bad_id = await _switch(client, "not-a-uuid")
    admin = await _switch(client, team, params={"audience": "admin"})
    no_csrf = await client.post(_switch_path(team))

    assert (not_member.status, unknown.status) == (403, 403)
    assert (await not_member.json())["error"]["code"] == "forbidden"
    assert (await unknown.json())["error"] == (await not_member.json())["error"]
    assert bad_id.status == 400
    assert (await bad_id.json())["error"]["code"] == "invalid_request"
    assert admin.status == 400
    assert no_csrf.status == 403
    assert (await no_csrf.json())["error"]["message"] == "CSRF validation failed"
    for refused in (not_member, unknown, bad_id, admin, no_csrf):
        assert cookies.ACCESS.name not in refused.cookies
    assert _jar(client)[cookies.ACCESS.name] == session["access_token"]
    active = await conn.fetchval("SELECT active_organization_id FROM sessions WHERE user_id = $1",
                                 uuid.UUID(session["user"]["id"]))  # fmt: skip
    assert str(active) == _claims(session["access_token"])["org_id"]


async def test_switch_needs_a_live_session(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "multi")
    await _signup(client)
    team = await _team(conn, "Acme", ("ada@example.com", "member"))
    anonymous = await _client(aiohttp_client, db, "multi")
    await anonymous.get(routes.API_CSRF)

    assert (await _switch(anonymous, team)).status == 401
    await conn.execute("UPDATE sessions SET revoked_at = now()")
    assert (await _switch(client, team)).status == 401
    await conn.execute("UPDATE sessions SET revoked_at = NULL")
    await conn.execute("UPDATE users SET disabled_at = now()")
    assert (await _switch(client, team)).status == 403
