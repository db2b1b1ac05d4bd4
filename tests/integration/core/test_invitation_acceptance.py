"""Accepting invitations on a real database: the invitation pages (accept, signup, login)
in every mode, single use under concurrency, events, and signup by invitation code.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

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
from tests.integration.core.internalsupport import BEARER, TOKEN, create_team

Client = TestClient[Any, Any]
PASSWORD: Final = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


async def _client(aiohttp_client: ClientFactory, db: DatabaseSettings, mode: str) -> Client:
    env = {"AUTHARA_ORGANIZATION_MODE": mode, "AUTHARA_INTERNAL_API_TOKEN": TOKEN}
    return await aiohttp_client(create_app(load_settings(core_env(db, **env))))


def _jar(client: Client) -> dict[str, str]:
    found = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    return {name: morsel.value for name, morsel in found.items()}


def _claims(client: Client) -> dict[str, Any]:
    token = _jar(client)[cookies.ACCESS.name]
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def _signup(client: Client, email: str) -> str:
    client.session.cookie_jar.clear()
    csrf = await (await client.get(routes.API_CSRF)).json()
    response = await client.post(
        routes.API_SIGNUP_DIRECT,
        json={"email": email, "password": PASSWORD},
        headers={"X-CSRF-Token": csrf["csrf_token"]},
    )
    assert response.status == 201, await response.text()
    user_id: str = (await response.json())["user"]["id"]
    return user_id


async def _invite(client: Client, org_id: str, actor: str, email: str, **body: Any) -> str:
    response = await client.post(
        routes.INTERNAL_INVITATIONS.format(organization_id=org_id),
        json={"actor_user_id": actor, "email": email} | body,
        headers=BEARER,
    )
    assert response.status == 201, await response.text()
    url = urlsplit((await response.json())["invitation"]["invite_url"])
    token: str = parse_qs(url.query)["token"][0]
    return token


async def _events(conn: asyncpg.Connection, event_type: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT payload FROM webhook_events WHERE event_type = $1 ORDER BY created_at, id",
        event_type,
    )
    return [json.loads(row["payload"])["data"] for row in rows]


async def _form_csrf(client: Client, path: str) -> str:
    response = await client.get(path)
    assert response.status == 200, await response.text()
    found = CSRF_FIELD.search(await response.text())
    assert found is not None
    return found.group(1)


async def test_multi_invitee_signs_up_on_the_page_and_lands_in_the_organization(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await _client(aiohttp_client, db, "multi")
    owner = await _signup(client, "owner@example.com")
    org_id = await create_team(client, owner)
    token = await _invite(client, org_id, owner, "new@example.com", metadata={"seat": 2})
    client.session.cookie_jar.clear()
    landing = await client.get(routes.INVITATION_ACCEPT, params={"token": token})
    assert landing.status == 200
    page = await landing.text()
    assert "Join Acme" in page
    assert "new@example.com" in page
    signup_path = f"{routes.INVITATION_SIGNUP}?token={token}"
    csrf = await _form_csrf(client, signup_path)
    response = await client.post(
        routes.INVITATION_SIGNUP,
        data={"csrf_token": csrf, "token": token, "password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    assert response.headers["Location"] == "/"
    claims = _claims(client)
    assert claims["org_id"] == org_id
    assert claims["org_role"] == "member"
    memberships = await conn.fetch(
        "SELECT o.kind, m.role FROM organization_memberships m"
        " JOIN organizations o ON o.id = m.organization_id WHERE m.user_id = $1 ORDER BY o.kind",
        uuid.UUID(claims["sub"]),
    )
    assert [(r["kind"], r["role"]) for r in memberships] == [
        ("personal", "owner"),
        ("team", "member"),
    ]
    [accepted] = await _events(conn, "organization.invitation.accepted")
    assert accepted["accepted_by_user_id"] == claims["sub"]
    assert accepted["organization_id"] == org_id
    [joined] = [
        e for e in await _events(conn, "organization.membership.created") if e["invitation_id"]
    ]
    assert joined == {
        "organization_id": org_id,
        "user_id": claims["sub"],
        "role": "member",
        "is_initial_membership": False,
        "invitation_id": accepted["invitation_id"],
        "metadata": {"seat": 2},
    }
    again = await client.get(routes.INVITATION_SIGNUP, params={"token": token})
    assert again.status == 410


@pytest.mark.parametrize("mode", ["single", "multi"])
async def test_two_concurrent_signups_with_one_link_make_one_account(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, mode: str
) -> None:
    import asyncio

    client = await _client(aiohttp_client, db, mode)
    owner = await _signup(client, "owner@example.com")
    org_id = (
        await create_team(client, owner)
        if mode == "multi"
        else str(
            await conn.fetchval(
                "SELECT organization_id FROM organization_memberships WHERE user_id = $1",
                uuid.UUID(owner),
            )
        )
    )
    token = await _invite(client, org_id, owner, "new@example.com")
    client.session.cookie_jar.clear()
    csrf = await _form_csrf(client, f"{routes.INVITATION_SIGNUP}?token={token}")

    async def attempt() -> int:
        response = await client.post(
            routes.INVITATION_SIGNUP,
            data={"csrf_token": csrf, "token": token, "password": PASSWORD},
            allow_redirects=False,
        )
        return response.status

    statuses = sorted(await asyncio.gather(*(attempt() for _ in range(4))))
    assert statuses[0] == 303
    assert statuses.count(303) == 1, statuses
    assert set(statuses[1:]) <= {409, 422}, statuses
    count = await conn.fetchval("SELECT count(*) FROM users WHERE email = 'new@example.com'")
    assert count == 1
