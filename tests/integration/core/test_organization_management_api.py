"""The public management group: GET/PATCH organization, members, member, a user's memberships.

Behind AUTHARA_PUBLIC_ORGANIZATION_MANAGEMENT_ENABLED (404 for the whole group while off).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

import asyncpg
import jsonschema
import jwt
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import cookies, routes
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.platform.openapi import SCHEMAS
from authara_core.settings import load_settings
from tests.coresupport import WEBHOOK_ENV, core_env
from tests.integration.core.conftest import ClientFactory

Client = TestClient[Any, Any]
PASSWORD: Final = "correct horse battery"
MODES: Final = ("personal", "single", "multi")
FLAG: Final = "AUTHARA_PUBLIC_ORGANIZATION_MANAGEMENT_ENABLED"


@dataclass(frozen=True)
class User:
    """A signed-up user, their first organization (`personal`) and their session's cookies.

    Single mode makes that first organization a team one; the other modes a personal one.
    """

    id: str
    username: str
    personal: str
    cookies: dict[str, str]


async def _client(
    aiohttp_client: ClientFactory, db: DatabaseSettings, mode: str, *, enabled: bool = True
) -> Client:
    env = core_env(
        db, AUTHARA_ORGANIZATION_MODE=mode, **WEBHOOK_ENV, **{FLAG: str(enabled).lower()}
    )
    return await aiohttp_client(create_app(load_settings(env), deliver_webhooks=False))


def _jar(client: Client) -> dict[str, str]:
    found = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    return {name: morsel.value for name, morsel in found.items()}


def _use(client: Client, user: User) -> None:
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies(user.cookies)


def _csrf(client: Client) -> dict[str, str]:
    return {"X-CSRF-Token": _jar(client)[cookies.CSRF.name]}


async def _signup(client: Client, email: str) -> User:
    client.session.cookie_jar.clear()
    token = (await (await client.get(routes.API_CSRF)).json())["csrf_token"]
    response = await client.post(
        routes.API_SIGNUP_DIRECT,
        json={"email": email, "password": PASSWORD},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    return User(body["user"]["id"], body["user"]["username"], claims["org_id"], _jar(client))


async def _team(conn: asyncpg.Connection, owner: User, *members: tuple[User, str]) -> str:
    """Create a team organization owned by `owner`, with more members as (user, role)."""
    team: uuid.UUID = await conn.fetchval(
        "INSERT INTO organizations (name, kind, created_by_user_id)"
        " VALUES ('Acme', 'team', $1) RETURNING id",
        uuid.UUID(owner.id),
    )
    for user, role in ((owner, "owner"), *members):
        await conn.execute(
            "INSERT INTO organization_memberships (organization_id, user_id, role)"
            " VALUES ($1, $2, $3)",
            team,
            uuid.UUID(user.id),
            role,
        )
    return str(team)


async def _enter(client: Client, conn: asyncpg.Connection, user: User, org_id: str) -> User:
    """Move the user's session to an organization and refresh its cookies there."""
    await conn.execute(
        "UPDATE sessions SET active_organization_id = $2 WHERE user_id = $1",
        uuid.UUID(user.id),
        uuid.UUID(org_id),
    )
    _use(client, user)
    response = await client.post(routes.API_SESSIONS_REFRESH, headers=_csrf(client))
    assert response.status == 200, await response.text()
    return replace(user, cookies=_jar(client))


async def _forced(conn: asyncpg.Connection, sql: str, *args: object) -> None:
    # Sessions' foreign keys protect memberships; only replication role bypasses them.
    await conn.execute("SET session_replication_role = replica")
    await conn.execute(sql, *args)
    await conn.execute("SET session_replication_role = DEFAULT")


def _org(org_id: str) -> str:
    return routes.API_ORGANIZATION.format(organizationID=org_id)


def _members(org_id: str) -> str:
    return routes.API_ORGANIZATION_MEMBER_LIST.format(organizationID=org_id)


def _member(org_id: str, user_id: str) -> str:
    return routes.API_ORGANIZATION_MEMBER.format(organizationID=org_id, userID=user_id)


def _memberships(user_id: str) -> str:
    return routes.API_USER_MEMBERSHIPS.format(userID=user_id)


def _validator(*names: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {
            "anyOf": [{"$ref": f"#/components/schemas/{name}"} for name in names],
            "components": {"schemas": SCHEMAS},
        },
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


# Every answer of the group, checked against the documented schemas.
SUCCESS: Final = _validator(
    "OrganizationBody", "OrganizationMembers", "OrganizationMemberBody", "UserMemberships"
)
ERROR: Final = _validator("Error")


async def _call(
    client: Client, method: str, path: str, status: int, code: str | None = None, **kwargs: Any
) -> Any:
    response = await client.request(method, path, **kwargs)
    assert response.status == status, await response.text()
    body = await response.json()
    (SUCCESS if status == 200 else ERROR).validate(body)
    if code is not None:
        assert body["error"]["code"] == code
    return body


async def _rename(client: Client, org_id: str, name: str, status: int = 200) -> Any:
    return await _call(
        client, "PATCH", _org(org_id), status, json={"name": name}, headers=_csrf(client)
    )


def _paths(user: User) -> list[tuple[str, str]]:
    return [
        ("GET", _org(user.personal)),
        ("PATCH", _org(user.personal)),
        ("GET", _members(user.personal)),
        ("GET", _member(user.personal, user.id)),
        ("GET", _memberships(user.id)),
    ]


async def test_every_route_is_absent_while_the_flag_is_off(
    aiohttp_client: ClientFactory, db: DatabaseSettings
) -> None:
    client = await _client(aiohttp_client, db, "multi", enabled=False)
    ada = await _signup(client, "ada@example.com")
    for method, path in [*_paths(ada), ("GET", _org("not-a-uuid"))]:
        body = await _call(
            client, method, path, 404, "not_found", json={"name": "x"}, headers=_csrf(client)
        )
        assert body["error"]["message"] == "Not found"
    await _signed_out(client, ada)  # the access check comes first


async def _signed_out(client: Client, user: User) -> None:
    client.session.cookie_jar.clear()
    assert (await client.get(routes.API_CSRF)).status == 200
    for method, path in _paths(user):
        await _call(
            client, method, path, 401, "unauthorized", json={"name": "x"}, headers=_csrf(client)
        )


@pytest.mark.parametrize("mode", MODES)
async def test_signed_out_callers_are_unauthorized(
    aiohttp_client: ClientFactory, db: DatabaseSettings, mode: str
) -> None:
    client = await _client(aiohttp_client, db, mode)
    await _signed_out(client, await _signup(client, "ada@example.com"))


@pytest.mark.parametrize("mode", MODES)
async def test_get_the_tokens_organization(
    aiohttp_client: ClientFactory, db: DatabaseSettings, mode: str
) -> None:
    client = await _client(aiohttp_client, db, mode)
    ada = await _signup(client, "ada@example.com")

    body = await _call(client, "GET", _org(ada.personal), 200)

    organization = body["organization"]
    assert set(organization) == {
        "id",
        "created_at",
        "updated_at",
        "name",
        "kind",
        "created_by_user_id",
    }
    assert organization["id"] == ada.personal
    assert organization["kind"] == ("team" if mode == "single" else "personal")
    assert organization["name"] == ada.username
    assert organization["created_by_user_id"] == ada.id


@pytest.mark.parametrize("mode", MODES)
async def test_another_organization_is_forbidden_even_to_its_member(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, mode: str
) -> None:
    client = await _client(aiohttp_client, db, mode)
    bob = await _signup(client, "bob@example.com")
    ada = await _signup(client, "ada@example.com")
    team = await _team(conn, ada)  # ada is its owner, but her token names her personal one

    for org_id in (team, bob.personal, str(uuid.uuid4())):
        await _call(client, "GET", _org(org_id), 403, "forbidden")
        await _call(client, "GET", _members(org_id), 403, "forbidden")
        await _call(client, "GET", _member(org_id, ada.id), 403, "forbidden")
        await _rename(client, org_id, "Mine", 403)


async def test_a_former_member_is_forbidden_and_a_deleted_organization_is_not_found(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "single")
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await _team(conn, ada, (bob, "admin"))
    bob = await _enter(client, conn, bob, team)
    await _forced(
        conn,
        "DELETE FROM organization_memberships WHERE organization_id = $1 AND user_id = $2",
        uuid.UUID(team),
        uuid.UUID(bob.id),
    )

    for path in (_org(team), _members(team), _member(team, ada.id)):
        await _call(client, "GET", path, 403, "forbidden")
    await _rename(client, team, "Bob's now", 403)

    await _forced(conn, "DELETE FROM organizations WHERE id = $1", uuid.UUID(team))
    for path in (_org(team), _members(team), _member(team, ada.id)):
        await _call(client, "GET", path, 404, "organization_not_found")
    body = await _rename(client, team, "Gone", 404)
    assert body["error"]["code"] == "organization_not_found"


@pytest.mark.parametrize("role", ["owner", "admin"])
async def test_an_owner_or_admin_renames_the_organization(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, role: str
) -> None:
    client = await _client(aiohttp_client, db, "multi")
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await _team(conn, ada, *([(bob, role)] if role == "admin" else []))
    caller = await _enter(client, conn, bob if role == "admin" else ada, team)
    _use(client, caller)
    before = (await _call(client, "GET", _org(team), 200))["organization"]

    body = await _rename(client, team, "  Acme Research  ")

    after = body["organization"]
    assert after["name"] == "Acme Research"
    assert datetime.fromisoformat(after["updated_at"]) > datetime.fromisoformat(
        before["updated_at"]
    )
    assert {k: v for k, v in after.items() if k not in ("name", "updated_at")} == {
        k: v for k, v in before.items() if k not in ("name", "updated_at")
    }
    assert (await _call(client, "GET", _org(team), 200))["organization"] == after
    assert await conn.fetchval("SELECT name FROM organizations WHERE id = $1", uuid.UUID(team)) == (
        "Acme Research"
    )


async def test_the_owner_renames_their_personal_organization_in_personal_mode(
    aiohttp_client: ClientFactory, db: DatabaseSettings
) -> None:
    client = await _client(aiohttp_client, db, "personal")
    ada = await _signup(client, "ada@example.com")

    body = await _rename(client, ada.personal, "Ada's")

    assert body["organization"]["name"] == "Ada's"


async def _updated_events(conn: asyncpg.Connection, org_id: str) -> list[Any]:
    rows = await conn.fetch(
        "SELECT payload FROM webhook_events WHERE event_type = 'organization.updated'"
        " AND payload->'data'->>'organization_id' = $1",
        org_id,
    )
    return [json.loads(row["payload"])["data"] for row in rows]


async def test_a_rename_records_organization_updated_in_its_transaction(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "single")
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await _team(conn, ada, (bob, "member"))
    await _enter(client, conn, bob, team)

    await _rename(client, team, "Bob's", 403)  # refused: nothing recorded
    assert await _updated_events(conn, team) == []

    _use(client, await _enter(client, conn, ada, team))
    await _rename(client, team, "Acme Research")

    assert await _updated_events(conn, team) == [
        {
            "organization_id": team,
            "name": "Acme Research",
            "kind": "team",
            "created_by_user_id": ada.id,
        }
    ]


async def _state(conn: asyncpg.Connection, org_id: str) -> tuple[Any, ...]:
    row = await conn.fetchrow(
        "SELECT name, updated_at FROM organizations WHERE id = $1", uuid.UUID(org_id)
    )
    return tuple(row)


async def test_a_member_cannot_rename_and_nothing_changes(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "single")
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await _team(conn, ada, (bob, "member"))
    await _enter(client, conn, bob, team)
    before = await _state(conn, team)

    body = await _rename(client, team, "Bob's", 403)

    assert body["error"]["code"] == "forbidden"
    assert await _state(conn, team) == before


async def test_the_role_is_read_from_the_database_not_the_token(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "single")
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await _team(conn, ada, (bob, "admin"))
    await _enter(client, conn, bob, team)
    await conn.execute(
        "UPDATE organization_memberships SET role = 'member' WHERE user_id = $1", uuid.UUID(bob.id)
    )
    before = await _state(conn, team)

    await _rename(client, team, "Bob's", 403)

    assert await _state(conn, team) == before


@pytest.mark.parametrize("name", ["", "   ", "\t\n", "x" * 201, "a\x00b", "\ud800 Acme"])
async def test_a_blank_too_long_or_unstorable_name_is_refused(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, name: str
) -> None:
    client = await _client(aiohttp_client, db, "single")
    ada = await _signup(client, "ada@example.com")
    before = await _state(conn, ada.personal)

    body = await _rename(client, ada.personal, name, 400)

    assert body["error"]["code"] == "invalid_request"
    assert await _state(conn, ada.personal) == before


async def test_rename_needs_csrf(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "single")
    ada = await _signup(client, "ada@example.com")
    before = await _state(conn, ada.personal)

    body = await _call(client, "PATCH", _org(ada.personal), 403, "forbidden", json={"name": "X"})

    assert body["error"]["message"] == "CSRF validation failed"
    assert await _state(conn, ada.personal) == before


async def test_200_characters_are_accepted(
    aiohttp_client: ClientFactory, db: DatabaseSettings
) -> None:
    client = await _client(aiohttp_client, db, "single")
    ada = await _signup(client, "ada@example.com")

    body = await _rename(client, ada.personal, "é" * 200)

    assert body["organization"]["name"] == "é" * 200


@pytest.mark.parametrize("mode", ["single", "multi"])
async def test_members_and_member_of_a_team(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, mode: str
) -> None:
    client = await _client(aiohttp_client, db, mode)
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    eve = await _signup(client, "eve@example.com")
    team = await _team(conn, ada, (bob, "admin"), (eve, "member"))
    await conn.execute("UPDATE users SET disabled_at = now() WHERE id = $1", uuid.UUID(eve.id))
    bob = await _enter(client, conn, bob, team)

    members = (await _call(client, "GET", _members(team), 200))["members"]

    assert [(m["user_id"], m["email"], m["role"], m["disabled"]) for m in members] == [
        (ada.id, "ada@example.com", "owner", False),
        (bob.id, "bob@example.com", "admin", False),
        (eve.id, "eve@example.com", "member", True),
    ]  # longest-standing first
    assert all(m["organization_id"] == team for m in members)
    member = (await _call(client, "GET", _member(team, eve.id), 200))["member"]
    assert member == next(m for m in members if m["user_id"] == eve.id)
    assert member["username"] == eve.username and member["disabled"] is True
    await _call(client, "GET", _member(team, str(uuid.uuid4())), 404, "membership_not_found")
    outsider = await _signup(client, "zed@example.com")
    _use(client, bob)
    await _call(client, "GET", _member(team, outsider.id), 404, "membership_not_found")


async def test_members_are_hidden_in_personal_mode(
    aiohttp_client: ClientFactory, db: DatabaseSettings
) -> None:
    client = await _client(aiohttp_client, db, "personal")
    ada = await _signup(client, "ada@example.com")

    await _call(client, "GET", _members(ada.personal), 403, "forbidden")
    await _call(client, "GET", _member(ada.personal, ada.id), 403, "forbidden")


@pytest.mark.parametrize("mode", MODES)
async def test_a_user_lists_their_own_memberships(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, mode: str
) -> None:
    client = await _client(aiohttp_client, db, mode)
    ada = await _signup(client, "ada@example.com")
    bob = await _signup(client, "bob@example.com")
    team = await _team(conn, ada, (bob, "member"))
    _use(client, bob)

    body = await _call(client, "GET", _memberships(bob.id), 200)

    found = {
        entry["organization"]["id"]: (entry["organization"]["kind"], entry["membership"])
        for entry in body["memberships"]
    }
    assert set(found) == {bob.personal, team}
    assert found[team][0] == "team"
    assert found[bob.personal][0] == ("team" if mode == "single" else "personal")
    assert found[team][1]["role"] == "member"
    assert found[bob.personal][1]["role"] == "owner"
    assert all(m["user_id"] == bob.id for _, m in found.values())
    assert all(org_id == m["organization_id"] for org_id, (_, m) in found.items())
    await _call(client, "GET", _memberships(ada.id), 403, "forbidden")
    await _call(client, "GET", _memberships(str(uuid.uuid4())), 403, "forbidden")


@pytest.mark.parametrize(
    "bad", ["not-a-uuid", "urn:uuid:00000000-0000-0000-0000-000000000001", "0" * 32, "123"]
)
async def test_invalid_uuids_in_paths_are_bad_requests(
    aiohttp_client: ClientFactory, db: DatabaseSettings, bad: str
) -> None:
    client = await _client(aiohttp_client, db, "multi")
    ada = await _signup(client, "ada@example.com")

    for path in (_org(bad), _members(bad), _member(bad, ada.id), _member(ada.personal, bad)):
        await _call(client, "GET", path, 400, "invalid_request")
    await _call(client, "GET", _memberships(bad), 400, "invalid_request")
    await _rename(client, bad, "X", 400)
