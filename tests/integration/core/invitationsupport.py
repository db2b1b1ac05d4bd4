"""Shared by the invitation-acceptance tests: a core per mode, accounts, invitations, reads."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

import asyncpg
import jwt
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from authara_contract import cookies, headers, routes
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.platform import opaque
from authara_core.settings import load_settings
from tests.coresupport import WEBHOOK_ENV, FakeClock, core_env
from tests.integration.core.conftest import ClientFactory
from tests.integration.core.internalsupport import BEARER, TOKEN, create_team

Client = TestClient[Any, Any]
PASSWORD: Final = "correct horse battery"
INVITEE: Final = "new@example.com"
ACCEPTED: Final = "organization.invitation.accepted"
JOINED: Final = "organization.membership.created"
REVOKED: Final = "organization.invitation.revoked"
CSRF_FIELD: Final = re.compile(r'name="csrf_token" value="([^"]+)"')
HTMX: Final = {headers.HX_REQUEST: "true"}
FLAG: Final = "AUTHARA_PUBLIC_ORGANIZATION_MANAGEMENT_ENABLED"


async def make_client(
    aiohttp_client: ClientFactory,
    db: DatabaseSettings,
    mode: str,
    *,
    clock: FakeClock | None = None,
    **env: str,
) -> Client:
    """Serve core in an organization mode, with the internal API and public management on."""
    overrides = {
        "AUTHARA_ORGANIZATION_MODE": mode,
        "AUTHARA_INTERNAL_API_TOKEN": TOKEN,
        FLAG: "true",
    } | env
    return await aiohttp_client(
        create_app(
            load_settings(core_env(db, **WEBHOOK_ENV | overrides)),
            clock=clock,
            deliver_webhooks=False,
        )
    )


def jar(client: Client) -> dict[str, str]:
    """Return the client's cookies by name."""
    found = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    return {name: morsel.value for name, morsel in found.items()}


def claims_of(client: Client) -> dict[str, Any]:
    """Decode the access cookie the client holds (the signature is core's business)."""
    claims: dict[str, Any] = jwt.decode(
        jar(client)[cookies.ACCESS.name], options={"verify_signature": False}
    )
    return claims


def csrf_header(client: Client) -> dict[str, str]:
    """Return the double-submit header for the client's CSRF cookie."""
    return {"X-CSRF-Token": jar(client)[cookies.CSRF.name]}


async def signup(client: Client, email: str) -> str:
    """Sign up through the JSON API in a fresh jar (the client is then signed in); return the id."""
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


async def first_organization(conn: asyncpg.Connection, user_id: str) -> str:
    """Return the id of the only organization a user belongs to."""
    found = await conn.fetch(
        "SELECT organization_id FROM organization_memberships WHERE user_id = $1",
        uuid.UUID(user_id),
    )
    assert len(found) == 1, found
    return str(found[0]["organization_id"])


async def inviting_organization(
    client: Client, conn: asyncpg.Connection, mode: str, owner_email: str = "owner@example.com"
) -> tuple[str, str]:
    """Sign up an owner and return (owner id, an organization they may invite to).

    Multi mode: a team made through the internal API; single mode: the owner's own team.
    """
    owner = await signup(client, owner_email)
    if mode == "multi":
        return owner, await create_team(client, owner)
    return owner, await first_organization(conn, owner)


async def invite(client: Client, org_id: str, actor: str, email: str = INVITEE, **body: Any) -> str:
    """Invite an email through the internal API; return the link's token."""
    response = await client.post(
        routes.INTERNAL_INVITATIONS.format(organization_id=org_id),
        json={"actor_user_id": actor, "email": email} | body,
        headers=BEARER,
    )
    assert response.status == 201, await response.text()
    url = urlsplit((await response.json())["invitation"]["invite_url"])
    token: str = parse_qs(url.query)["token"][0]
    return token


async def insert_invitation(
    conn: asyncpg.Connection, org_id: str, email: str = INVITEE, *, role: str = "member"
) -> str:
    """Write a pending invitation straight into the table; return its token."""
    token = opaque.new_token()
    await conn.execute(
        "INSERT INTO organization_invitations (organization_id, email, role, token_hash,"
        " expires_at) VALUES ($1, $2, $3, $4, $5)",
        uuid.UUID(org_id),
        email,
        role,
        opaque.hash_token(token),
        datetime.now(UTC) + timedelta(days=7),
    )
    return token


async def invitation_row(conn: asyncpg.Connection, token: str) -> asyncpg.Record:
    """Return the invitation a token opens, as stored."""
    row = await conn.fetchrow(
        "SELECT * FROM organization_invitations WHERE token_hash = $1", opaque.hash_token(token)
    )
    assert row is not None
    return row


async def events(conn: asyncpg.Connection, event_type: str) -> list[dict[str, Any]]:
    """Return the `data` of the outbox's events of a type, oldest first."""
    rows = await conn.fetch(
        "SELECT payload FROM webhook_events WHERE event_type = $1 ORDER BY created_at, id",
        event_type,
    )
    return [json.loads(row["payload"])["data"] for row in rows]


async def invited_joins(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """Return the membership.created events of acceptances (not of first organizations)."""
    return [event for event in await events(conn, JOINED) if event["invitation_id"]]


async def memberships(conn: asyncpg.Connection, user_id: str) -> list[tuple[str, str, str]]:
    """Return a user's memberships as (organization id, kind, role), by kind then id."""
    rows = await conn.fetch(
        "SELECT o.id, o.kind, m.role FROM organization_memberships m"
        " JOIN organizations o ON o.id = m.organization_id WHERE m.user_id = $1"
        " ORDER BY o.kind, o.id",
        uuid.UUID(user_id),
    )
    return [(str(r["id"]), r["kind"], r["role"]) for r in rows]


async def user_count(conn: asyncpg.Connection, email: str = INVITEE) -> int:
    """Count the accounts with an email."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM users WHERE lower(email) = lower($1)", email
    )
    return count


async def assert_untouched(conn: asyncpg.Connection, token: str) -> None:
    """Check a refused acceptance wrote nothing: still pending, no acceptance events."""
    row = await invitation_row(conn, token)
    assert row["accepted_at"] is None
    assert row["accepted_by_user_id"] is None
    assert await events(conn, ACCEPTED) == []
    assert await invited_joins(conn) == []
    count = await conn.fetchval(
        "SELECT count(*) FROM organization_memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.organization_id = $1 AND lower(u.email) = lower($2)",
        row["organization_id"],
        row["email"],
    )
    assert count == 0


def page_url(path: str, token: str) -> str:
    """Return an invitation page's URL for a token."""
    return f"{path}?{urlencode({routes.INVITATION_TOKEN_PARAM: token})}"


async def form_csrf(client: Client, path: str) -> str:
    """Load a page and return the CSRF token its forms carry."""
    response = await client.get(path)
    assert response.status == 200, await response.text()
    found = CSRF_FIELD.search(await response.text())
    assert found is not None
    return found.group(1)


async def anonymous_csrf(client: Client) -> str:
    """Drop every cookie and take a fresh CSRF token (an anonymous browser)."""
    client.session.cookie_jar.clear()
    body = await (await client.get(routes.API_CSRF)).json()
    token: str = body["csrf_token"]
    return token


async def post_form(
    client: Client,
    path: str,
    token: str,
    *,
    password: str | None = None,
    csrf: str | None = None,
    extra_headers: dict[str, str] | None = None,
) -> ClientResponse:
    """Post an invitation form with the client's CSRF cookie (or the given token)."""
    data = {routes.INVITATION_TOKEN_PARAM: token}
    if password is not None:
        data["password"] = password
    data["csrf_token"] = csrf if csrf is not None else jar(client)[cookies.CSRF.name]
    return await client.post(path, data=data, headers=extra_headers, allow_redirects=False)


async def switch(client: Client, org_id: str) -> None:
    """Switch the signed-in session to an organization (multi mode)."""
    response = await client.post(
        routes.API_ORGANIZATION_SWITCH.format(organizationID=org_id), headers=csrf_header(client)
    )
    assert response.status == 200, await response.text()


async def revoke(client: Client, org_id: str, invitation_id: str) -> ClientResponse:
    """Revoke an invitation through the public API as the signed-in manager."""
    return await client.post(
        routes.API_ORGANIZATION_INVITATION_REVOKE.format(
            organizationID=org_id, invitationID=invitation_id
        ),
        headers=csrf_header(client),
    )


async def invited(
    client: Client, conn: asyncpg.Connection, mode: str, **body: Any
) -> tuple[str, str, str]:
    """Make an inviting organization, invite INVITEE and forget the cookies.

    Return (owner id, organization id, the link's token).
    """
    owner, org_id = await inviting_organization(client, conn, mode)
    token = await invite(client, org_id, owner, **body)
    client.session.cookie_jar.clear()
    return owner, org_id, token


async def session_count(conn: asyncpg.Connection, user_id: str) -> int:
    """Count a user's sessions."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM sessions WHERE user_id = $1", uuid.UUID(user_id)
    )
    return count


async def session_organization(conn: asyncpg.Connection, session_id: str) -> str:
    """Return a session's active organization, as stored."""
    found = await conn.fetchval(
        "SELECT active_organization_id FROM sessions WHERE id = $1", uuid.UUID(session_id)
    )
    return str(found)
