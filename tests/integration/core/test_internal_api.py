"""The internal API on a real database: bearer token, each route's success and refusals.

Members beyond an organization's creator are added with SQL (invitations come later).
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import jwt
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import routes
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.settings import load_settings
from tests.coresupport import core_env
from tests.integration.core.conftest import ClientFactory
from tests.integration.core.internalsupport import BEARER, TOKEN, add_member, create_team

PASSWORD = "correct horse battery"
Client = TestClient[Any, Any]


async def _client(aiohttp_client: ClientFactory, db: DatabaseSettings, **env: str) -> Client:
    overrides = {"AUTHARA_ORGANIZATION_MODE": "multi", "AUTHARA_INTERNAL_API_TOKEN": TOKEN} | env
    return await aiohttp_client(create_app(load_settings(core_env(db, **overrides))))


@pytest.fixture
async def client(aiohttp_client: ClientFactory, db: DatabaseSettings) -> Client:
    return await _client(aiohttp_client, db)


async def _signup(client: Client, email: str) -> dict[str, Any]:
    """Sign up with the JSON API; return the user id, the org id and the refresh token."""
    csrf = await (await client.get(routes.API_CSRF)).json()
    response = await client.post(
        routes.API_SIGNUP_DIRECT,
        json={"email": email, "password": PASSWORD},
        headers={"X-CSRF-Token": csrf["csrf_token"]},
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    client.session.cookie_jar.clear()  # each user is its own client: no cookies carried over
    claims = _claims(body["access_token"])
    return {"id": body["user"]["id"], "org": claims["org_id"], "refresh": body["refresh_token"]}


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def _refresh_org(client: Client, refresh_token: str) -> str | None:
    """Refresh a session; return its organization, or None if the session is gone."""
    response = await client.post(routes.API_TOKENS_REFRESH, json={"refresh_token": refresh_token})
    if response.status == 401:
        return None
    assert response.status == 200, await response.text()
    org_id: str = _claims((await response.json())["access_token"])["org_id"]
    return org_id


async def _activate(conn: asyncpg.Connection, user_id: str, org_id: str) -> None:
    """Switch every session of a user to an organization (switching is another route)."""
    await conn.execute(
        "UPDATE sessions SET active_organization_id = $2 WHERE user_id = $1",
        uuid.UUID(user_id),
        uuid.UUID(org_id),
    )


async def _roles(conn: asyncpg.Connection, org_id: str) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT user_id, role FROM organization_memberships WHERE organization_id = $1",
        uuid.UUID(org_id),
    )
    return {str(row["user_id"]): row["role"] for row in rows}


async def _snapshot(conn: asyncpg.Connection) -> list[list[Any]]:
    """Everything the internal API may change, to compare before and after a refusal."""
    tables = [
        "SELECT id, email FROM users ORDER BY id",
        "SELECT id, name, kind FROM organizations ORDER BY id",
        "SELECT organization_id, user_id, role FROM organization_memberships ORDER BY 1, 2",
        "SELECT id, user_id, active_organization_id, revoked_at FROM sessions ORDER BY id",
    ]
    return [[tuple(row) for row in await conn.fetch(sql)] for sql in tables]


def _path(template: str, **ids: str) -> str:
    return template.format(**ids)


def _error(body: dict[str, Any]) -> str:
    code: str = body["error"]["code"]
    return code


# --- the bearer token ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("", 401),
        ("Bearer", 401),
        ("Bearer ", 401),
        ("Bearer wrong-token", 401),
        (f"bearer {TOKEN}", 401),
        (f"Basic {TOKEN}", 401),
        (TOKEN, 401),
        (f"Bearer {TOKEN}x", 401),
        (f"Bearer {TOKEN[:-1]}", 401),
        (f"Bearer {TOKEN}", 404),
        (f"Bearer   {TOKEN}  ", 404),  # the remainder is trimmed
    ],
)
async def test_only_the_configured_bearer_token_is_accepted(
    client: Client, authorization: str | None, status: int
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.post(
        routes.INTERNAL_ORGANIZATIONS,
        json={"name": "Acme", "created_by_user_id": str(uuid.uuid4())},
        headers=headers,
    )
    assert response.status == status
    body = await response.json()
    assert _error(body) == ("unauthorized" if status == 401 else "user_not_found")


@pytest.mark.parametrize("configured", ["", "   "])
@pytest.mark.parametrize("authorization", ["Bearer ", "Bearer  ", "Bearer x", None])
async def test_no_configured_token_refuses_every_call(
    aiohttp_client: ClientFactory, db: DatabaseSettings, configured: str, authorization: str | None
) -> None:
    client = await _client(aiohttp_client, db, AUTHARA_INTERNAL_API_TOKEN=configured)
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await client.delete(
        _path(routes.INTERNAL_USER, user_id=str(uuid.uuid4())), headers=headers
    )
    assert response.status == 401
    assert _error(await response.json()) == "unauthorized"


ROUTES = [
    ("POST", routes.INTERNAL_ORGANIZATIONS),
    ("DELETE", routes.INTERNAL_ORGANIZATION),
    ("DELETE", routes.INTERNAL_MEMBER),
    ("POST", routes.INTERNAL_OWNERSHIP_TRANSFER),
    ("DELETE", routes.INTERNAL_USER),
]


def _concrete(template: str) -> str:
    return template.format(organization_id=uuid.uuid4(), user_id=uuid.uuid4())


@pytest.mark.parametrize(("method", "template"), ROUTES)
async def test_every_route_refuses_a_missing_token_before_reading_anything(
    client: Client, method: str, template: str
) -> None:
    response = await client.request(method, _concrete(template), data=b"not json")
    assert response.status == 401
    assert _error(await response.json()) == "unauthorized"


@pytest.mark.parametrize(("method", "template"), ROUTES)
async def test_no_csrf_but_a_cross_site_browser_request_without_the_token_is_refused(
    client: Client, method: str, template: str
) -> None:
    # What a hostile page can make a browser send: cross-site, foreign Origin, cookies, no token.
    browser = {
        "Sec-Fetch-Site": "cross-site",
        "Origin": "https://evil.example",
        "Cookie": "authara_csrf=abc; authara_access=whatever",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    response = await client.request(method, _concrete(template), data=b"a=b", headers=browser)
    assert response.status == 401  # not 403: no CSRF check runs, the missing bearer refuses it
    assert _error(await response.json()) == "unauthorized"


async def test_with_the_token_no_csrf_check_applies(client: Client) -> None:
    headers = BEARER | {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    response = await client.delete(_concrete(routes.INTERNAL_USER), headers=headers)
    assert response.status == 404
    assert _error(await response.json()) == "user_not_found"


async def test_the_document_is_served_without_a_token(client: Client) -> None:
    response = await client.get(routes.INTERNAL_OPENAPI)
    assert response.status == 200
    assert (await response.json())["servers"] == [{"url": routes.INTERNAL_PREFIX}]


# --- invalid input ------------------------------------------------------------------------

BAD_IDS = [
    "nope",
    "urn:uuid:12345678-1234-1234-1234-123456789abc",  # uuid.UUID would take these three
    "12345678123412341234123456789abc",
    "12345678-1234-1234-1234-123456789abc ",
    "12345678-1234-1234-1234-123456789abcd",
]


@pytest.mark.parametrize("bad", BAD_IDS)
@pytest.mark.parametrize(("method", "template"), ROUTES[1:])
async def test_an_invalid_uuid_in_the_path_is_400(
    client: Client, method: str, template: str, bad: str
) -> None:
    path = template.format(organization_id=bad, user_id=bad)
    body = {"from_user_id": str(uuid.uuid4()), "to_user_id": str(uuid.uuid4())}
    response = await client.request(method, path, json=body, headers=BEARER)
    assert response.status == 400
    assert _error(await response.json()) == "invalid_request"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "   ", "created_by_user_id": str(uuid.uuid4())},
        {"name": "", "created_by_user_id": str(uuid.uuid4())},
        {"name": "Acme", "created_by_user_id": "nope"},
        {"name": "Acme", "created_by_user_id": "123456781234123412341234"},
        {"name": "Acme"},
        {"name": "Acme", "created_by_user_id": str(uuid.uuid4()), "extra": 1},
        {"name": "A\u0000", "created_by_user_id": str(uuid.uuid4())},
    ],
)
async def test_create_refuses_a_bad_body(client: Client, body: dict[str, Any]) -> None:
    response = await client.post(routes.INTERNAL_ORGANIZATIONS, json=body, headers=BEARER)
    assert response.status == 400
    assert _error(await response.json()) == "invalid_request"


# --- create -------------------------------------------------------------------------------


async def test_create_makes_a_team_organization_owned_by_its_creator(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada = await _signup(client, "ada@example.com")
    response = await client.post(
        routes.INTERNAL_ORGANIZATIONS,
        json={"name": "  Acme  ", "created_by_user_id": ada["id"]},
        headers=BEARER,
    )
    assert response.status == 201
    body = await response.json()
    organization, membership = body["organization"], body["membership"]
    assert organization["name"] == "Acme"
    assert organization["kind"] == "team"
    assert organization["created_by_user_id"] == ada["id"]
    assert membership["organization_id"] == organization["id"]
    assert membership["user_id"] == ada["id"]
    assert membership["role"] == "owner"
    assert await _roles(conn, organization["id"]) == {ada["id"]: "owner"}


@pytest.mark.parametrize("mode", ["personal", "single"])
async def test_create_is_refused_outside_multi_mode(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, mode: str
) -> None:
    client = await _client(aiohttp_client, db, AUTHARA_ORGANIZATION_MODE=mode)
    ada = await _signup(client, "ada@example.com")
    before = await _snapshot(conn)
    response = await client.post(
        routes.INTERNAL_ORGANIZATIONS,
        json={"name": "Acme", "created_by_user_id": ada["id"]},
        headers=BEARER,
    )
    assert response.status == 403
    assert _error(await response.json()) == "forbidden"
    assert await _snapshot(conn) == before


async def test_create_for_an_unknown_user_is_404(client: Client, conn: asyncpg.Connection) -> None:
    response = await client.post(
        routes.INTERNAL_ORGANIZATIONS,
        json={"name": "Acme", "created_by_user_id": str(uuid.uuid4())},
        headers=BEARER,
    )
    assert response.status == 404
    assert _error(await response.json()) == "user_not_found"
    assert await conn.fetchval("SELECT count(*) FROM organizations") == 0


# --- delete organization ------------------------------------------------------------------


async def test_deleting_an_organization_moves_its_sessions_to_each_members_default(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await create_team(client, ada["id"])
    await add_member(conn, team, bob["id"], "member")
    await _activate(conn, bob["id"], team)
    assert await _refresh_org(client, bob["refresh"]) == team

    response = await client.delete(
        _path(routes.INTERNAL_ORGANIZATION, organization_id=team), headers=BEARER
    )

    assert response.status == 204
    assert (
        await conn.fetchval("SELECT count(*) FROM organizations WHERE id = $1", uuid.UUID(team))
        == 0
    )
    assert await _roles(conn, team) == {}
    assert await _refresh_org(client, bob["refresh"]) == bob["org"]  # back in his personal one
    assert await _refresh_org(client, ada["refresh"]) == ada["org"]


async def test_deleting_the_only_organization_signs_its_members_out(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, AUTHARA_ORGANIZATION_MODE="single")
    ada = await _signup(client, "ada@example.com")  # single mode: a team organization

    response = await client.delete(
        _path(routes.INTERNAL_ORGANIZATION, organization_id=ada["org"]), headers=BEARER
    )

    assert response.status == 204
    assert await conn.fetchval("SELECT count(*) FROM sessions") == 0
    assert await _refresh_org(client, ada["refresh"]) is None
    assert await conn.fetchval("SELECT count(*) FROM users") == 1


async def test_a_personal_organization_cannot_be_deleted(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada = await _signup(client, "ada@example.com")
    before = await _snapshot(conn)
    response = await client.delete(
        _path(routes.INTERNAL_ORGANIZATION, organization_id=ada["org"]), headers=BEARER
    )
    assert response.status == 409
    assert _error(await response.json()) == "personal_organization"
    assert await _snapshot(conn) == before


async def test_deleting_an_unknown_organization_is_404(client: Client) -> None:
    response = await client.delete(_concrete(routes.INTERNAL_ORGANIZATION), headers=BEARER)
    assert response.status == 404
    assert _error(await response.json()) == "organization_not_found"


# --- remove member ------------------------------------------------------------------------


async def test_removing_a_member_moves_their_sessions_out(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await create_team(client, ada["id"])
    await add_member(conn, team, bob["id"], "admin")
    await _activate(conn, bob["id"], team)

    response = await client.delete(
        _path(routes.INTERNAL_MEMBER, organization_id=team, user_id=bob["id"]), headers=BEARER
    )

    assert response.status == 204
    assert await _roles(conn, team) == {ada["id"]: "owner"}
    assert await _refresh_org(client, bob["refresh"]) == bob["org"]


async def test_the_last_owner_cannot_be_removed_and_nothing_changes(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await create_team(client, ada["id"])
    await add_member(conn, team, bob["id"], "admin")
    await _activate(conn, ada["id"], team)
    before = await _snapshot(conn)

    response = await client.delete(
        _path(routes.INTERNAL_MEMBER, organization_id=team, user_id=ada["id"]), headers=BEARER
    )

    assert response.status == 409
    assert _error(await response.json()) == "last_owner"
    assert await _snapshot(conn) == before
    assert await _refresh_org(client, ada["refresh"]) == team


async def test_one_of_two_owners_can_be_removed(client: Client, conn: asyncpg.Connection) -> None:
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await create_team(client, ada["id"])
    await add_member(conn, team, bob["id"], "owner")
    response = await client.delete(
        _path(routes.INTERNAL_MEMBER, organization_id=team, user_id=ada["id"]), headers=BEARER
    )
    assert response.status == 204
    assert await _roles(conn, team) == {bob["id"]: "owner"}


async def test_removing_a_non_member_or_from_an_unknown_organization_is_404(
    client: Client,
) -> None:
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await create_team(client, ada["id"])
    response = await client.delete(
        _path(routes.INTERNAL_MEMBER, organization_id=team, user_id=bob["id"]), headers=BEARER
    )
    assert response.status == 404
    assert _error(await response.json()) == "membership_not_found"
    response = await client.delete(_concrete(routes.INTERNAL_MEMBER), headers=BEARER)
    assert response.status == 404
    assert _error(await response.json()) == "organization_not_found"


async def test_two_concurrent_removals_of_the_last_two_owners_leave_one(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await create_team(client, ada["id"])
    await add_member(conn, team, bob["id"], "owner")

    responses = await asyncio.gather(
        *(
            client.delete(
                _path(routes.INTERNAL_MEMBER, organization_id=team, user_id=user), headers=BEARER
            )
            for user in (ada["id"], bob["id"])
        )
    )

    assert sorted(response.status for response in responses) == [204, 409]
    assert list((await _roles(conn, team)).values()) == ["owner"]


# --- ownership transfer -------------------------------------------------------------------


async def test_ownership_moves_to_a_member_and_the_previous_owner_becomes_admin(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await create_team(client, ada["id"])
    await add_member(conn, team, bob["id"], "member")

    response = await client.post(
        _path(routes.INTERNAL_OWNERSHIP_TRANSFER, organization_id=team),
        json={"from_user_id": ada["id"], "to_user_id": bob["id"]},
        headers=BEARER,
    )

    assert response.status == 200
    body = await response.json()
    assert body["organization"]["id"] == team
    assert (body["previous_owner"]["user_id"], body["previous_owner"]["role"]) == (
        ada["id"],
        "admin",
    )
    assert (body["new_owner"]["user_id"], body["new_owner"]["role"]) == (bob["id"], "owner")
    assert await _roles(conn, team) == {ada["id"]: "admin", bob["id"]: "owner"}


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("to_stranger", 404, "membership_not_found"),
        ("from_stranger", 404, "membership_not_found"),
        ("from_member", 409, "not_owner"),
        ("same", 400, "invalid_request"),
        ("unknown_org", 404, "organization_not_found"),
    ],
)
async def test_a_refused_transfer_changes_nothing(
    client: Client, conn: asyncpg.Connection, who: str, status: int, code: str
) -> None:
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await create_team(client, ada["id"])
    stranger = str(uuid.uuid4())
    await add_member(conn, team, bob["id"], "member")
    from_user, to_user, org = {
        "to_stranger": (ada["id"], stranger, team),
        "from_stranger": (stranger, bob["id"], team),
        "from_member": (bob["id"], ada["id"], team),
        "same": (ada["id"], ada["id"], team),
        "unknown_org": (ada["id"], bob["id"], str(uuid.uuid4())),
    }[who]
    before = await _snapshot(conn)

    response = await client.post(
        _path(routes.INTERNAL_OWNERSHIP_TRANSFER, organization_id=org),
        json={"from_user_id": from_user, "to_user_id": to_user},
        headers=BEARER,
    )

    assert response.status == status
    assert _error(await response.json()) == code
    assert await _snapshot(conn) == before


# --- delete user --------------------------------------------------------------------------


async def test_deleting_a_user_takes_what_only_they_had(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    solo = await create_team(client, ada["id"], "Solo")
    shared = await create_team(client, bob["id"], "Shared")
    await add_member(conn, shared, ada["id"], "admin")
    await _activate(conn, ada["id"], shared)

    response = await client.delete(_path(routes.INTERNAL_USER, user_id=ada["id"]), headers=BEARER)

    assert response.status == 204
    assert await conn.fetchval("SELECT count(*) FROM users WHERE email = 'ada@example.com'") == 0
    remaining = {str(row["id"]) for row in await conn.fetch("SELECT id FROM organizations")}
    assert remaining == {bob["org"], shared}  # her personal and her solo team are gone
    assert await _roles(conn, shared) == {bob["id"]: "owner"}
    assert await _refresh_org(client, ada["refresh"]) is None
    assert await _refresh_org(client, bob["refresh"]) == bob["org"]
    assert solo not in remaining


async def test_the_last_owner_of_a_shared_organization_cannot_be_deleted(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await create_team(client, ada["id"])
    await add_member(conn, team, bob["id"], "member")
    before = await _snapshot(conn)

    response = await client.delete(_path(routes.INTERNAL_USER, user_id=ada["id"]), headers=BEARER)

    assert response.status == 409
    body = await response.json()
    assert _error(body) == "last_owner"
    assert team in body["error"]["message"]
    assert await _snapshot(conn) == before
    assert await _refresh_org(client, ada["refresh"]) == ada["org"]


async def test_the_last_active_admin_cannot_be_deleted(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada = await _signup(client, "ada@example.com")
    await conn.execute(
        "INSERT INTO user_platform_roles (user_id, role_id)"
        " SELECT $1, id FROM platform_roles WHERE name = 'admin'",
        uuid.UUID(ada["id"]),
    )
    before = await _snapshot(conn)

    response = await client.delete(_path(routes.INTERNAL_USER, user_id=ada["id"]), headers=BEARER)

    assert response.status == 422
    body = await response.json()
    assert _error(body) == "invalid_request" and "last active admin" in body["error"]["message"]
    assert await _snapshot(conn) == before
    assert (
        await conn.fetchval("SELECT count(*) FROM webhook_events WHERE event_type LIKE '%deleted'")
        == 0
    )


async def test_deleting_an_unknown_user_is_404(client: Client) -> None:
    response = await client.delete(_concrete(routes.INTERNAL_USER), headers=BEARER)
    assert response.status == 404
    assert _error(await response.json()) == "user_not_found"
