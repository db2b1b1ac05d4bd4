"""The webhook outbox on a real database: each change writes its events in its transaction.

Every emitting path writes exactly the contract's (§13) `data` in a well-formed envelope; a
refused or rolled-back operation writes none.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import routes
from authara_contract.database import DatabaseSettings
from authara_core.app import build_services, create_app
from authara_core.platform.outbox import Event as Reported
from authara_core.platform.outbox import Outbox
from authara_core.settings import load_settings
from tests.coresupport import WEBHOOK_ENV, FakeClock, core_env
from tests.integration.core.conftest import ClientFactory, signup
from tests.integration.core.internalsupport import BEARER, TOKEN, add_member, create_team
from tests.integration.core.oauthsupport import jar_csrf
from tests.oauthstubs import CLIENT_ID, Account, OidcStandIn, google_stand_in, serving

PASSWORD = "correct horse battery"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
Client = TestClient[Any, Any]
Event = tuple[str, dict[str, Any]]


@pytest.fixture
async def client(aiohttp_client: ClientFactory, db: DatabaseSettings) -> Client:
    env = core_env(
        db, AUTHARA_ORGANIZATION_MODE="multi", AUTHARA_INTERNAL_API_TOKEN=TOKEN, **WEBHOOK_ENV
    )
    return await aiohttp_client(create_app(load_settings(env), deliver_webhooks=False))


async def _events(conn: asyncpg.Connection) -> list[Event]:
    """Return every recorded event as (type, data), checking each row's envelope on the way."""
    rows = await conn.fetch("SELECT * FROM webhook_events")
    found = []
    for row in rows:
        envelope = json.loads(row["payload"])
        assert set(envelope) == {"id", "type", "created_at", "data"}
        assert envelope["id"] == row["id"]
        assert uuid.UUID(row["id"]).version == 4 and str(uuid.UUID(row["id"])) == row["id"]
        assert envelope["type"] == row["event_type"]
        assert RFC3339_UTC.match(envelope["created_at"]), envelope["created_at"]
        stamped = datetime.fromisoformat(envelope["created_at"].replace("Z", "+00:00"))
        assert stamped == row["created_at"] == row["next_attempt_at"]
        assert stamped.tzinfo is not None and stamped.utcoffset() == UTC.utcoffset(None)
        assert (row["status"], row["attempt_count"], row["last_error"]) == ("pending", 0, None)
        assert row["processing_started_at"] is None and row["delivered_at"] is None
        found.append((row["event_type"], envelope["data"]))
    return sorted(found, key=lambda event: json.dumps(event, sort_keys=True))


def _same(actual: list[Event], expected: list[Event]) -> None:
    assert actual == sorted(expected, key=lambda event: json.dumps(event, sort_keys=True))


async def _json_signup(client: Client, email: str) -> Any:
    csrf = await (await client.get(routes.API_CSRF)).json()
    response = await client.post(
        routes.API_SIGNUP_DIRECT,
        json={"email": email, "password": PASSWORD},
        headers={"X-CSRF-Token": csrf["csrf_token"]},
    )
    client.session.cookie_jar.clear()
    return response


async def _user(client: Client, email: str) -> str:
    response = await _json_signup(client, email)
    assert response.status == 201, await response.text()
    user_id: str = (await response.json())["user"]["id"]
    return user_id


async def _personal_org(conn: asyncpg.Connection, user_id: str) -> tuple[str, str]:
    row = await conn.fetchrow(
        "SELECT id, name FROM organizations WHERE created_by_user_id = $1", uuid.UUID(user_id)
    )
    assert row is not None
    return str(row["id"]), row["name"]


def _signup_events(user_id: str, org_id: str, name: str, kind: str = "personal") -> list[Event]:
    return [
        ("user.created", {"user_id": user_id}),
        (
            "organization.created",
            {"organization_id": org_id, "name": name, "kind": kind, "created_by_user_id": user_id},
        ),
        (
            "organization.membership.created",
            {
                "organization_id": org_id,
                "user_id": user_id,
                "role": "owner",
                "is_initial_membership": True,
                "invitation_id": None,
                "metadata": {},
            },
        ),
    ]


def _membership(org_id: str, user_id: str, role: str) -> dict[str, str]:
    return {"organization_id": org_id, "user_id": user_id, "role": role}


# --- signup, every path -------------------------------------------------------------------


async def test_json_signup_records_user_organization_and_membership(
    client: Client, conn: asyncpg.Connection
) -> None:
    user_id = await _user(client, "ada@example.com")

    org_id, name = await _personal_org(conn, user_id)
    _same(await _events(conn), _signup_events(user_id, org_id, name))


async def test_html_signup_records_the_same_events(
    client: Client, conn: asyncpg.Connection
) -> None:
    response = await signup(client, "bob@example.com")
    assert response.status == 303, await response.text()

    user_id = str(await conn.fetchval("SELECT id FROM users WHERE email = 'bob@example.com'"))
    org_id, name = await _personal_org(conn, user_id)
    _same(await _events(conn), _signup_events(user_id, org_id, name))


async def test_single_mode_signup_reports_a_team_organization(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    env = core_env(db, AUTHARA_ORGANIZATION_MODE="single", **WEBHOOK_ENV)
    client = await aiohttp_client(create_app(load_settings(env), deliver_webhooks=False))

    user_id = await _user(client, "ada@example.com")

    org_id, name = await _personal_org(conn, user_id)
    _same(await _events(conn), _signup_events(user_id, org_id, name, kind="team"))


@pytest.fixture
async def google() -> AsyncIterator[OidcStandIn]:
    stand_in = google_stand_in()
    stand_in.account = Account("g-123", "ada@gmail.com")
    async with serving(stand_in):
        yield stand_in


async def test_first_google_login_records_the_signup_events_once(
    aiohttp_client: ClientFactory,
    db: DatabaseSettings,
    google: OidcStandIn,
    conn: asyncpg.Connection,
) -> None:
    env = core_env(
        db,
        **WEBHOOK_ENV,
        AUTHARA_OAUTH_PROVIDERS="google",
        AUTHARA_OAUTH_GOOGLE_CLIENT_ID=CLIENT_ID,
        AUTHARA_OAUTH_GOOGLE_ISSUER=google.url,
    )
    client = await aiohttp_client(create_app(load_settings(env), deliver_webhooks=False))

    for _ in range(2):  # the second login finds the user: nothing new to report
        nonce = (await (await client.get("/auth/api/v1/oauth/google/options")).json())["nonce"]
        await client.get(routes.API_CSRF)
        response = await client.post(
            "/auth/api/v1/oauth/google",
            json={"credential": google.credential(nonce), "nonce": nonce},
            headers={"X-CSRF-Token": jar_csrf(client)},
        )
        assert response.status == 200, await response.text()
        client.session.cookie_jar.clear()

    user_id = str(await conn.fetchval("SELECT id FROM users"))
    org_id, name = await _personal_org(conn, user_id)
    _same(await _events(conn), _signup_events(user_id, org_id, name))


async def test_a_refused_signup_records_nothing(client: Client, conn: asyncpg.Connection) -> None:
    await _user(client, "ada@example.com")
    before = await _events(conn)

    taken = await _json_signup(client, "ada@example.com")

    assert taken.status == 400
    assert "already exists" in (await taken.json())["error"]["message"]
    assert await _events(conn) == before


async def test_a_rolled_back_signup_leaves_no_event(
    db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    settings = load_settings(core_env(db, **WEBHOOK_ENV))
    services = build_services(settings, clock=FakeClock(), oauth_secrets=lambda: "secret")

    async def failing_signup() -> None:
        async with conn.transaction():
            await services.accounts.insert_user_in(conn, "ada@example.com")
            assert len(await _events(conn)) == 3  # written, visible inside the transaction
            raise RuntimeError("a later step of the signup failed after the user")

    with pytest.raises(RuntimeError, match="after the user"):
        await failing_signup()

    assert await conn.fetchval("SELECT count(*) FROM users") == 0
    assert await _events(conn) == []


async def test_recording_joins_the_callers_transaction(conn: asyncpg.Connection) -> None:
    now = datetime(2026, 12, 3, 16, 0, 0, 123456, tzinfo=UTC)
    outbox = Outbox(["user.created"])
    created = Reported("user.created", {"user_id": "x"})
    tx = conn.transaction()
    await tx.start()
    await outbox.record_in(conn, [created], now=now)
    await tx.rollback()
    assert await _events(conn) == []

    async with conn.transaction():
        (event_id,) = await outbox.record_in(conn, [created], now=now)

    payload = json.loads(await conn.fetchval("SELECT payload FROM webhook_events"))
    assert payload == {
        "id": event_id,
        "type": "user.created",
        "created_at": "2026-12-03T16:00:00.123456Z",
        "data": {"user_id": "x"},
    }


# --- the internal API ---------------------------------------------------------------------


async def test_creating_a_team_records_organization_and_initial_membership(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada = await _user(client, "ada@example.com")
    await conn.execute("TRUNCATE webhook_events")

    team = await create_team(client, ada)

    _same(await _events(conn), _signup_events(ada, team, "Acme", kind="team")[1:])


async def test_deleting_a_team_records_each_membership_then_the_organization(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada, bob = await _user(client, "ada@example.com"), await _user(client, "bob@example.com")
    team = await create_team(client, ada)
    await add_member(conn, team, bob, "member")
    await conn.execute("TRUNCATE webhook_events")

    response = await client.delete(
        routes.INTERNAL_ORGANIZATION.format(organization_id=team), headers=BEARER
    )

    assert response.status == 204, await response.text()
    organization = {"organization_id": team, "name": "Acme", "kind": "team",
                    "created_by_user_id": ada}  # fmt: skip
    _same(
        await _events(conn),
        [
            ("organization.membership.deleted", _membership(team, ada, "owner")),
            ("organization.membership.deleted", _membership(team, bob, "member")),
            ("organization.deleted", organization),
        ],
    )


async def test_removing_a_member_records_it_and_the_last_owner_refusal_records_nothing(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada, bob = await _user(client, "ada@example.com"), await _user(client, "bob@example.com")
    team = await create_team(client, ada)
    await add_member(conn, team, bob, "admin")
    await conn.execute("TRUNCATE webhook_events")

    refused = await client.delete(
        routes.INTERNAL_MEMBER.format(organization_id=team, user_id=ada), headers=BEARER
    )
    assert refused.status == 409
    assert await _events(conn) == []

    removed = await client.delete(
        routes.INTERNAL_MEMBER.format(organization_id=team, user_id=bob), headers=BEARER
    )
    assert removed.status == 204, await removed.text()
    _same(
        await _events(conn), [("organization.membership.deleted", _membership(team, bob, "admin"))]
    )


async def test_a_transfer_records_both_changed_memberships(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada, bob = await _user(client, "ada@example.com"), await _user(client, "bob@example.com")
    team = await create_team(client, ada)
    await add_member(conn, team, bob, "member")
    await conn.execute("TRUNCATE webhook_events")
    path = routes.INTERNAL_OWNERSHIP_TRANSFER.format(organization_id=team)

    refused = await client.post(path, json={"from_user_id": bob, "to_user_id": ada}, headers=BEARER)
    assert refused.status == 409
    assert await _events(conn) == []

    response = await client.post(
        path, json={"from_user_id": ada, "to_user_id": bob}, headers=BEARER
    )
    assert response.status == 200, await response.text()
    _same(
        await _events(conn),
        [
            ("organization.membership.updated", _membership(team, bob, "owner")),
            ("organization.membership.updated", _membership(team, ada, "admin")),
        ],
    )


async def test_deleting_a_user_records_what_went_with_them(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada, bob = await _user(client, "ada@example.com"), await _user(client, "bob@example.com")
    team = await create_team(client, ada)
    await add_member(conn, team, bob, "member")
    bob_org, bob_name = await _personal_org(conn, bob)
    await conn.execute("TRUNCATE webhook_events")

    response = await client.delete(routes.INTERNAL_USER.format(user_id=bob), headers=BEARER)

    assert response.status == 204, await response.text()
    personal = {"organization_id": bob_org, "name": bob_name, "kind": "personal",
                "created_by_user_id": bob}  # fmt: skip
    _same(
        await _events(conn),
        [
            ("organization.membership.deleted", _membership(bob_org, bob, "owner")),
            ("organization.deleted", personal),
            ("organization.membership.deleted", _membership(team, bob, "member")),
            ("user.deleted", {"user_id": bob}),
        ],
    )


async def test_a_refused_user_deletion_records_nothing(
    client: Client, conn: asyncpg.Connection
) -> None:
    ada, bob = await _user(client, "ada@example.com"), await _user(client, "bob@example.com")
    team = await create_team(client, ada)
    await add_member(conn, team, bob, "member")
    await conn.execute("TRUNCATE webhook_events")

    response = await client.delete(routes.INTERNAL_USER.format(user_id=ada), headers=BEARER)

    assert response.status == 409  # ada is the last owner of a team with another member
    assert await _events(conn) == []


async def test_only_the_enabled_types_are_recorded(conn: asyncpg.Connection) -> None:
    now = datetime(2026, 12, 3, 16, 0, tzinfo=UTC)
    created, deleted = (
        Reported("user.created", {"user_id": "a"}),
        Reported("user.deleted", {"user_id": "a"}),
    )
    async with conn.transaction():
        assert await Outbox(()).record_in(conn, [created, deleted], now=now) == []
        assert len(await Outbox(["user.deleted"]).record_in(conn, [created, deleted], now=now)) == 1
    assert await _events(conn) == [("user.deleted", {"user_id": "a"})]


async def test_webhooks_off_record_nothing(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await aiohttp_client(create_app(load_settings(core_env(db))))
    await _user(client, "ada@example.com")
    assert await conn.fetchval("SELECT count(*) FROM users") == 1
    assert await _events(conn) == []


async def test_enabled_events_filter_at_publish_time(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    env = core_env(db, AUTHARA_WEBHOOK_ENABLED_EVENTS="user.created", **WEBHOOK_ENV)
    client = await aiohttp_client(create_app(load_settings(env), deliver_webhooks=False))
    user = await _user(client, "ada@example.com")
    assert await _events(conn) == [("user.created", {"user_id": user})]
