"""Organization invitations on a real database: internal create and resend, public list, get
and revoke (behind AUTHARA_PUBLIC_ORGANIZATION_MANAGEMENT_ENABLED), their events and tokens.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

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
TOKEN: Final = "internal-s3cret-token"
BEARER: Final = {"Authorization": f"Bearer {TOKEN}"}
PASSWORD: Final = "correct horse battery"
FLAG: Final = "AUTHARA_PUBLIC_ORGANIZATION_MANAGEMENT_ENABLED"
CREATED: Final = "organization.invitation.created"
REVOKED: Final = "organization.invitation.revoked"


async def _client(aiohttp_client: ClientFactory, db: DatabaseSettings, **env: str) -> Client:
    overrides = {
        "AUTHARA_ORGANIZATION_MODE": "multi",
        "AUTHARA_INTERNAL_API_TOKEN": TOKEN,
        FLAG: "true",
    } | env
    return await aiohttp_client(
        create_app(load_settings(core_env(db, **WEBHOOK_ENV | overrides)), deliver_webhooks=False)
    )


@pytest.fixture
async def client(aiohttp_client: ClientFactory, db: DatabaseSettings) -> Client:
    return await _client(aiohttp_client, db)


def _jar(client: Client) -> dict[str, str]:
    found = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    return {name: morsel.value for name, morsel in found.items()}


async def _signup(client: Client, email: str) -> tuple[str, dict[str, str]]:
    """Sign up; return the user id and the session's cookies."""
    client.session.cookie_jar.clear()
    csrf = await (await client.get(routes.API_CSRF)).json()
    response = await client.post(
        routes.API_SIGNUP_DIRECT,
        json={"email": email, "password": PASSWORD},
        headers={"X-CSRF-Token": csrf["csrf_token"]},
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    user_id: str = body["user"]["id"]
    return user_id, _jar(client)


async def _team(client: Client, owner_id: str) -> str:
    response = await client.post(
        routes.INTERNAL_ORGANIZATIONS,
        json={"name": "Acme", "created_by_user_id": owner_id},
        headers=BEARER,
    )
    assert response.status == 201, await response.text()
    org_id: str = (await response.json())["organization"]["id"]
    return org_id


async def _add_member(conn: asyncpg.Connection, org_id: str, user_id: str, role: str) -> None:
    await conn.execute(
        "INSERT INTO organization_memberships (organization_id, user_id, role) VALUES ($1, $2, $3)",
        uuid.UUID(org_id),
        uuid.UUID(user_id),
        role,
    )


async def _enter(
    client: Client, conn: asyncpg.Connection, user_id: str, jar: dict[str, str], org_id: str
) -> None:
    """Move the user's session into an organization and take fresh cookies there."""
    await conn.execute(
        "UPDATE sessions SET active_organization_id = $2 WHERE user_id = $1",
        uuid.UUID(user_id),
        uuid.UUID(org_id),
    )
    client.session.cookie_jar.clear()
    client.session.cookie_jar.update_cookies(jar)
    response = await client.post(routes.API_SESSIONS_REFRESH, headers=_csrf(client))
    assert response.status == 200, await response.text()
    claims = jwt.decode(_jar(client)[cookies.ACCESS.name], options={"verify_signature": False})
    assert claims["org_id"] == org_id


def _csrf(client: Client) -> dict[str, str]:
    return {"X-CSRF-Token": _jar(client)[cookies.CSRF.name]}


def _create_path(org_id: str) -> str:
    return routes.INTERNAL_INVITATIONS.format(organization_id=org_id)


def _resend_path(org_id: str, invitation_id: str) -> str:
    return routes.INTERNAL_INVITATION_RESEND.format(
        organization_id=org_id, invitation_id=invitation_id
    )


async def _invite(client: Client, org_id: str, actor: str, **body: Any) -> Any:
    payload = {"actor_user_id": actor, "email": "new@example.com"} | body
    return await client.post(_create_path(org_id), json=payload, headers=BEARER)


async def _events(conn: asyncpg.Connection, event_type: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT payload FROM webhook_events WHERE event_type = $1 ORDER BY created_at, id",
        event_type,
    )
    return [json.loads(row["payload"])["data"] for row in rows]


def _validate(body: dict[str, Any], name: str) -> None:
    schema = {"$ref": f"#/components/schemas/{name}", "components": {"schemas": SCHEMAS}}
    jsonschema.Draft202012Validator(schema).validate(body)


def _code(body: dict[str, Any]) -> str:
    code: str = body["error"]["code"]
    return code


@pytest.fixture
async def team(client: Client, conn: asyncpg.Connection) -> dict[str, str]:
    """An owner (signed in, session in the team), an admin and a plain member of one team."""
    owner, owner_jar = await _signup(client, "owner@example.com")
    admin, _ = await _signup(client, "admin@example.com")
    member, member_jar = await _signup(client, "member@example.com")
    org_id = await _team(client, owner)
    await _add_member(conn, org_id, admin, "admin")
    await _add_member(conn, org_id, member, "member")
    client.session.cookie_jar.clear()
    return {
        "org": org_id,
        "owner": owner,
        "admin": admin,
        "member": member,
        "owner_jar": json.dumps(owner_jar),
        "member_jar": json.dumps(member_jar),
    }


# --- internal create ----------------------------------------------------------------------


async def test_create_returns_a_pending_invitation_with_its_link_and_records_an_event(
    client: Client, conn: asyncpg.Connection, team: dict[str, str]
) -> None:
    metadata = {"source": "crm", "seat": 3}
    response = await _invite(
        client, team["org"], team["admin"], email=" New@Example.COM ", metadata=metadata
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    _validate(body, "OrganizationInvitationBody")
    invitation = body["invitation"]
    assert invitation["email"] == "new@example.com"
    assert invitation["role"] == "member"
    assert invitation["status"] == "pending"
    assert invitation["metadata"] == metadata
    url = urlsplit(invitation["invite_url"])
    assert f"{url.scheme}://{url.netloc}{url.path}".endswith("/auth/invitations/accept")
    token = parse_qs(url.query)["token"][0]
    row = await conn.fetchrow(
        "SELECT * FROM organization_invitations WHERE id = $1", uuid.UUID(invitation["id"])
    )
    assert row is not None
    # Only the hash is stored: the token appears in no column.
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps({k: str(v) for k, v in dict(row).items()})
    assert str(row["invited_by_user_id"]) == team["admin"]
    expires = row["expires_at"] - row["created_at"]
    assert expires == timedelta(hours=168)
    [event] = await _events(conn, CREATED)
    assert event == {
        "invitation_id": invitation["id"],
        "organization_id": team["org"],
        "email": "new@example.com",
        "role": "member",
        "metadata": metadata,
        "invited_by_user_id": team["admin"],
        "expires_at": event["expires_at"],
    }
    assert token not in json.dumps(event)


async def test_create_takes_the_admin_role(client: Client, team: dict[str, str]) -> None:
    response = await _invite(client, team["org"], team["owner"], role="admin")
    assert response.status == 201, await response.text()
    assert (await response.json())["invitation"]["role"] == "admin"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email"},
        {"email": ""},
        {"role": "owner"},
        {"metadata": []},
        {"metadata": "x"},
        {"metadata": {"big": "x" * (16 * 1024)}},
    ],
)
async def test_create_refuses_a_bad_body_and_writes_nothing(
    client: Client, conn: asyncpg.Connection, team: dict[str, str], body: dict[str, Any]
) -> None:
    response = await _invite(client, team["org"], team["owner"], **body)
    assert response.status == 400, await response.text()
    assert await conn.fetchval("SELECT count(*) FROM organization_invitations") == 0
    assert await _events(conn, CREATED) == []


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
async def test_metadata_with_a_number_jsonb_cannot_hold_is_400(
    client: Client, conn: asyncpg.Connection, team: dict[str, str], number: str
) -> None:
    raw = f'{{"actor_user_id": "{team["owner"]}", "email": "a@example.com",'
    raw += f' "metadata": {{"n": {number}}}}}'
    response = await client.post(
        _create_path(team["org"]),
        data=raw,
        headers=BEARER | {"Content-Type": "application/json"},
    )
    assert response.status == 400, await response.text()
    assert await conn.fetchval("SELECT count(*) FROM organization_invitations") == 0


async def test_metadata_up_to_16_kib_is_accepted(client: Client, team: dict[str, str]) -> None:
    filler = "x" * (16 * 1024 - len('{"k":""}'))
    response = await _invite(client, team["org"], team["owner"], metadata={"k": filler})
    assert response.status == 201, await response.text()


async def test_create_refuses_actors_who_may_not_invite(
    client: Client, team: dict[str, str]
) -> None:
    outsider = str(uuid.uuid4())
    response = await _invite(client, team["org"], outsider)
    assert (response.status, _code(await response.json())) == (403, "actor_not_member")
    response = await _invite(client, team["org"], team["member"])
    assert (response.status, _code(await response.json())) == (403, "actor_not_allowed")
    response = await _invite(client, str(uuid.uuid4()), team["owner"])
    assert (response.status, _code(await response.json())) == (404, "organization_not_found")


async def test_create_is_refused_in_personal_mode(
    aiohttp_client: ClientFactory, db: DatabaseSettings
) -> None:
    client = await _client(aiohttp_client, db, AUTHARA_ORGANIZATION_MODE="personal")
    owner, _ = await _signup(client, "owner@example.com")
    response = await client.get(routes.API_ORGANIZATIONS)
    org_id = (await response.json())["organizations"][0]["id"]
    response = await _invite(client, org_id, owner)
    assert (response.status, _code(await response.json())) == (403, "actor_not_allowed")


async def test_create_refuses_a_member_and_a_second_pending_invitation(
    client: Client, conn: asyncpg.Connection, team: dict[str, str]
) -> None:
    response = await _invite(client, team["org"], team["owner"], email="MEMBER@example.com")
    assert (response.status, _code(await response.json())) == (409, "already_member")
    assert (await _invite(client, team["org"], team["owner"])).status == 201
    response = await _invite(client, team["org"], team["owner"], email="NEW@example.com")
    assert (response.status, _code(await response.json())) == (409, "invitation_already_pending")
    assert await conn.fetchval("SELECT count(*) FROM organization_invitations") == 1
    assert len(await _events(conn, CREATED)) == 1


async def test_an_expired_pending_invitation_is_replaced_silently(
    client: Client, conn: asyncpg.Connection, team: dict[str, str]
) -> None:
    first = await (await _invite(client, team["org"], team["owner"])).json()
    await conn.execute(
        "UPDATE organization_invitations SET expires_at = now() - interval '1 second'"
    )
    response = await _invite(client, team["org"], team["owner"])
    assert response.status == 201, await response.text()
    old = await conn.fetchrow(
        "SELECT revoked_at, revoked_by_user_id FROM organization_invitations WHERE id = $1",
        uuid.UUID(first["invitation"]["id"]),
    )
    assert old is not None and old["revoked_at"] is not None
    assert old["revoked_by_user_id"] is None
    assert await _events(conn, REVOKED) == []
    assert len(await _events(conn, CREATED)) == 2


async def test_concurrent_creations_of_one_invitation_give_one_201_and_one_409(
    client: Client, conn: asyncpg.Connection, team: dict[str, str]
) -> None:
    responses = await asyncio.gather(
        *(_invite(client, team["org"], team["owner"]) for _ in range(2))
    )
    statuses = sorted(response.status for response in responses)
    assert statuses == [201, 409]
    conflict = next(r for r in responses if r.status == 409)
    assert _code(await conflict.json()) == "invitation_already_pending"
    assert await conn.fetchval("SELECT count(*) FROM organization_invitations") == 1
    assert len(await _events(conn, CREATED)) == 1


# --- internal resend ----------------------------------------------------------------------


async def test_resend_issues_a_new_invitation_and_revokes_the_old(
    client: Client, conn: asyncpg.Connection, team: dict[str, str]
) -> None:
    first = (await (await _invite(client, team["org"], team["admin"], role="admin")).json())[
        "invitation"
    ]
    response = await client.post(_resend_path(team["org"], first["id"]), headers=BEARER)
    assert response.status == 201, await response.text()
    body = await response.json()
    _validate(body, "OrganizationInvitationBody")
    second = body["invitation"]
    assert second["id"] != first["id"]
    assert second["invite_url"] != first["invite_url"]
    assert (second["email"], second["role"], second["status"]) == (
        "new@example.com",
        "admin",
        "pending",
    )
    revoked_at = await conn.fetchval(
        "SELECT revoked_at FROM organization_invitations WHERE id = $1", uuid.UUID(first["id"])
    )
    assert revoked_at is not None
    [revoked] = await _events(conn, REVOKED)
    assert revoked["invitation_id"] == first["id"]
    assert revoked["revoked_by_user_id"] is None
    created = await _events(conn, CREATED)
    assert [event["invitation_id"] for event in created] == [first["id"], second["id"]]
    assert created[1]["invited_by_user_id"] == team["admin"]


async def test_resend_refusals(
    client: Client, conn: asyncpg.Connection, team: dict[str, str]
) -> None:
    first = (await (await _invite(client, team["org"], team["owner"])).json())["invitation"]
    response = await client.post(_resend_path(team["org"], str(uuid.uuid4())), headers=BEARER)
    assert (response.status, _code(await response.json())) == (404, "invitation_not_found")
    response = await client.post(_resend_path(str(uuid.uuid4()), first["id"]), headers=BEARER)
    assert (response.status, _code(await response.json())) == (404, "organization_not_found")
    await client.post(_resend_path(team["org"], first["id"]), headers=BEARER)
    response = await client.post(_resend_path(team["org"], first["id"]), headers=BEARER)
    assert (response.status, _code(await response.json())) == (409, "invitation_revoked")
    await conn.execute(
        "UPDATE organization_invitations SET accepted_at = now() WHERE revoked_at IS NULL"
    )
    accepted = await conn.fetchval(
        "SELECT id FROM organization_invitations WHERE accepted_at IS NOT NULL"
    )
    response = await client.post(_resend_path(team["org"], str(accepted)), headers=BEARER)
    assert (response.status, _code(await response.json())) == (409, "invitation_already_accepted")


async def test_resend_refuses_when_the_email_became_a_member(
    client: Client, conn: asyncpg.Connection, team: dict[str, str]
) -> None:
    first = (await (await _invite(client, team["org"], team["owner"])).json())["invitation"]
    newcomer, _ = await _signup(client, "new@example.com")
    await _add_member(conn, team["org"], newcomer, "member")
    response = await client.post(_resend_path(team["org"], first["id"]), headers=BEARER)
    assert (response.status, _code(await response.json())) == (409, "already_member")
    assert await _events(conn, REVOKED) == []


async def test_the_routes_need_the_bearer_token(client: Client, team: dict[str, str]) -> None:
    response = await client.post(
        _create_path(team["org"]),
        json={"actor_user_id": team["owner"], "email": "x@example.com"},
    )
    assert response.status == 401
    response = await client.post(_resend_path(team["org"], str(uuid.uuid4())))
    assert response.status == 401


# --- public list, get, revoke -------------------------------------------------------------


def _list_path(org_id: str) -> str:
    return routes.API_ORGANIZATION_INVITATIONS.format(organizationID=org_id)


def _get_path(org_id: str, invitation_id: str) -> str:
    return routes.API_ORGANIZATION_INVITATION.format(
        organizationID=org_id, invitationID=invitation_id
    )


def _revoke_path(org_id: str, invitation_id: str) -> str:
    return routes.API_ORGANIZATION_INVITATION_REVOKE.format(
        organizationID=org_id, invitationID=invitation_id
    )


async def test_an_owner_lists_reads_and_revokes_invitations(
    client: Client, conn: asyncpg.Connection, team: dict[str, str]
) -> None:
    first = (await (await _invite(client, team["org"], team["owner"])).json())["invitation"]
    await _enter(client, conn, team["owner"], json.loads(team["owner_jar"]), team["org"])
    response = await client.get(_list_path(team["org"]))
    assert response.status == 200, await response.text()
    listed = await response.json()
    _validate(listed, "OrganizationInvitations")
    assert [i["id"] for i in listed["invitations"]] == [first["id"]]
    assert "invite_url" not in listed["invitations"][0]
    response = await client.get(_get_path(team["org"], first["id"]))
    assert response.status == 200, await response.text()
    got = (await response.json())["invitation"]
    assert "invite_url" not in got
    assert got["status"] == "pending"
    response = await client.post(_revoke_path(team["org"], first["id"]), headers=_csrf(client))
    assert response.status == 200, await response.text()
    revoked = (await response.json())["invitation"]
    assert revoked["status"] == "revoked"
    assert "invite_url" not in revoked
    [event] = await _events(conn, REVOKED)
    assert event["invitation_id"] == first["id"]
    assert event["revoked_by_user_id"] == team["owner"]
    response = await client.post(_revoke_path(team["org"], first["id"]), headers=_csrf(client))
    assert (response.status, _code(await response.json())) == (409, "invitation_revoked")
    assert len(await _events(conn, REVOKED)) == 1


async def test_revoke_refuses_accepted_and_expired_invitations(
    client: Client, conn: asyncpg.Connection, team: dict[str, str]
) -> None:
    first = (await (await _invite(client, team["org"], team["owner"])).json())["invitation"]
    await _enter(client, conn, team["owner"], json.loads(team["owner_jar"]), team["org"])
    await conn.execute("UPDATE organization_invitations SET expires_at = now()")
    response = await client.get(_get_path(team["org"], first["id"]))
    assert (await response.json())["invitation"]["status"] == "expired"
    response = await client.post(_revoke_path(team["org"], first["id"]), headers=_csrf(client))
    assert (response.status, _code(await response.json())) == (409, "invitation_expired")
    # accepted wins over expired
    await conn.execute("UPDATE organization_invitations SET accepted_at = now()")
    response = await client.get(_get_path(team["org"], first["id"]))
    assert (await response.json())["invitation"]["status"] == "accepted"
    response = await client.post(_revoke_path(team["org"], first["id"]), headers=_csrf(client))
    assert (response.status, _code(await response.json())) == (409, "invitation_already_accepted")
    assert await _events(conn, REVOKED) == []


async def test_revoke_needs_csrf(
    client: Client, conn: asyncpg.Connection, team: dict[str, str]
) -> None:
    first = (await (await _invite(client, team["org"], team["owner"])).json())["invitation"]
    await _enter(client, conn, team["owner"], json.loads(team["owner_jar"]), team["org"])
    response = await client.post(_revoke_path(team["org"], first["id"]))
    assert response.status == 403
    revoked_at = await conn.fetchval("SELECT revoked_at FROM organization_invitations")
    assert revoked_at is None


async def test_public_refusals(
    client: Client, conn: asyncpg.Connection, team: dict[str, str]
) -> None:
    first = (await (await _invite(client, team["org"], team["owner"])).json())["invitation"]
    await _enter(client, conn, team["member"], json.loads(team["member_jar"]), team["org"])
    for path in (_list_path(team["org"]), _get_path(team["org"], first["id"])):
        response = await client.get(path)
        assert response.status == 403, path
    response = await client.post(_revoke_path(team["org"], first["id"]), headers=_csrf(client))
    assert response.status == 403
    await _enter(client, conn, team["owner"], json.loads(team["owner_jar"]), team["org"])
    response = await client.get(_get_path(team["org"], str(uuid.uuid4())))
    assert (response.status, _code(await response.json())) == (404, "invitation_not_found")
    other = str(uuid.uuid4())
    assert (await client.get(_list_path(other))).status == 403  # not the token's organization
    response = await client.get(_get_path(team["org"], "not-a-uuid"))
    assert response.status == 400
    client.session.cookie_jar.clear()
    assert (await client.get(_list_path(team["org"]))).status == 401


async def test_public_routes_are_404_while_the_flag_is_off(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, **{FLAG: "false"})
    owner, jar = await _signup(client, "owner@example.com")
    org_id = await _team(client, owner)
    await _enter(client, conn, owner, jar, org_id)
    response = await client.get(_list_path(org_id))
    assert (response.status, _code(await response.json())) == (404, "not_found")


def test_status_precedence() -> None:
    from authara_core.organizations.invitation_store import Invitation
    from authara_core.organizations.invitations import status_of

    now = datetime(2026, 12, 3, tzinfo=UTC)
    base = Invitation(
        uuid.uuid4(), now, now, uuid.uuid4(), "a@example.com", "member", "h", None,
        now, None, None, None, None, {},
    )  # fmt: skip
    assert status_of(base, now).value == "expired"  # expires_at <= now
    later = now + timedelta(seconds=1)
    from dataclasses import replace

    assert status_of(replace(base, expires_at=later), now).value == "pending"
    assert status_of(replace(base, revoked_at=now), now).value == "revoked"
    assert status_of(replace(base, revoked_at=now, accepted_at=now), now).value == "accepted"


async def test_a_resend_that_fails_midway_leaves_no_event_and_the_old_invitation_pending(
    client: Client, conn: asyncpg.Connection, team: dict[str, str]
) -> None:
    first = (await (await _invite(client, team["org"], team["owner"])).json())["invitation"]
    # The new row's insert fails after the old one was revoked and its event recorded.
    await conn.execute(
        "CREATE FUNCTION refuse_invitation() RETURNS trigger LANGUAGE plpgsql"
        " AS $$ BEGIN RAISE EXCEPTION 'refused by test'; END $$"
    )
    await conn.execute(
        "CREATE TRIGGER refuse_invitation BEFORE INSERT ON organization_invitations"
        " FOR EACH ROW EXECUTE FUNCTION refuse_invitation()"
    )
    try:
        response = await client.post(_resend_path(team["org"], first["id"]), headers=BEARER)
        assert response.status == 500
    finally:
        await conn.execute("DROP TRIGGER refuse_invitation ON organization_invitations")
        await conn.execute("DROP FUNCTION refuse_invitation()")
    assert await _events(conn, REVOKED) == []
    assert len(await _events(conn, CREATED)) == 1
    revoked_at = await conn.fetchval("SELECT revoked_at FROM organization_invitations")
    assert revoked_at is None
