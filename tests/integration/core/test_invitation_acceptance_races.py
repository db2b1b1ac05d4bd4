"""Accepting invitations on a real database, continued: one link used at the same moment
many times (or revoked while used), the events an acceptance writes, signup by invitation
code (the JSON API), and what deleting a user does to their invitations.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import aiohttp
import asyncpg
import pytest

from authara_contract import cookies, routes
from authara_contract.database import DatabaseSettings
from authara_core.platform import opaque
from tests.coresupport import FakeClock
from tests.integration.core.conftest import ClientFactory
from tests.integration.core.internalsupport import BEARER, add_member, create_team
from tests.integration.core.invitationsupport import (
    ACCEPTED,
    INVITEE,
    JOINED,
    PASSWORD,
    REVOKED,
    Client,
    anonymous_csrf,
    assert_untouched,
    claims_of,
    events,
    form_csrf,
    invitation_row,
    invite,
    invited_joins,
    inviting_organization,
    jar,
    make_client,
    memberships,
    page_url,
    post_form,
    session_count,
    signup,
    user_count,
)

ACCEPT, SIGNUP, LOGIN = routes.INVITATION_ACCEPT, routes.INVITATION_SIGNUP, routes.INVITATION_LOGIN
BOTH_MODES: Final = pytest.mark.parametrize("mode", ["single", "multi"])
ROUNDS: Final = 4
# The revoke starts this much later in each round of a race, so that rounds meet the
# acceptance at different points of its work (hashing, locks); no outcome is expected.
REVOKE_DELAYS: Final = (0.0, 0.005, 0.01, 0.02, 0.04, 0.08)
OWNER: Final = "owner@example.com"


async def _accepted_once(conn: asyncpg.Connection, token: str, user_id: str) -> None:
    """Check one acceptance by a user: the row, one membership, one event of each kind."""
    row = await invitation_row(conn, token)
    assert row["accepted_at"] is not None
    assert row["revoked_at"] is None
    assert str(row["accepted_by_user_id"]) == user_id
    count = await conn.fetchval(
        "SELECT count(*) FROM organization_memberships WHERE organization_id = $1 AND user_id = $2",
        row["organization_id"],
        uuid.UUID(user_id),
    )
    assert count == 1
    [accepted] = await events(conn, ACCEPTED)
    assert accepted["invitation_id"] == str(row["id"])
    [joined] = await invited_joins(conn)
    assert joined["invitation_id"] == str(row["id"])
    assert joined["user_id"] == user_id


# --- one link, used at the same moment ------------------------------------------------------


@BOTH_MODES
async def test_concurrent_signups_with_one_link_make_one_account(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, mode: str
) -> None:
    client = await make_client(aiohttp_client, db, mode)
    owner, org_id = await inviting_organization(client, conn, mode)
    token = await invite(client, org_id, owner)
    client.session.cookie_jar.clear()
    csrf = await form_csrf(client, page_url(SIGNUP, token))

    async def attempt() -> int:
        response = await post_form(client, SIGNUP, token, password=PASSWORD, csrf=csrf)
        return response.status

    statuses = sorted(await asyncio.gather(*(attempt() for _ in range(ROUNDS))))
    assert statuses.count(303) == 1, statuses
    # The losers saw the invitation accepted, or (racing the account's insert) its email taken.
    assert set(statuses) - {303} <= {409, 422}, statuses
    assert await user_count(conn) == 1
    user_id = str(await conn.fetchval("SELECT id FROM users WHERE email = $1", INVITEE))
    await _accepted_once(conn, token, user_id)


async def test_concurrent_accepts_by_the_signed_in_invitee_accept_once(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    owner, org_id = await inviting_organization(client, conn, "multi")
    token = await invite(client, org_id, owner)
    user = await signup(client, INVITEE)
    csrf = jar(client)[cookies.CSRF.name]

    async def attempt() -> int:
        response = await post_form(client, ACCEPT, token, csrf=csrf)
        return response.status

    statuses = sorted(await asyncio.gather(*(attempt() for _ in range(ROUNDS))))
    assert statuses == [303] + [409] * (ROUNDS - 1), statuses
    await _accepted_once(conn, token, user)
    assert claims_of(client)["org_id"] == org_id


async def test_concurrent_login_accepts_accept_once(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    owner, org_id = await inviting_organization(client, conn, "multi")
    token = await invite(client, org_id, owner)
    user = await signup(client, INVITEE)
    csrf = await anonymous_csrf(client)

    async def attempt() -> int:
        response = await post_form(client, LOGIN, token, password=PASSWORD, csrf=csrf)
        return response.status

    statuses = sorted(await asyncio.gather(*(attempt() for _ in range(ROUNDS))))
    assert statuses == [303] + [409] * (ROUNDS - 1), statuses
    await _accepted_once(conn, token, user)
    # Only the winner's login made a session (one from the signup, one from the winner).
    sessions = await session_count(conn, user)
    assert sessions == 2


@asynccontextmanager
async def _owner_browser(client: Client, org_id: str) -> AsyncIterator[aiohttp.ClientSession]:
    """Yield a second browser, signed in as the owner and switched to the organization."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        csrf = await (await browser.get(client.make_url(routes.API_CSRF))).json()
        response = await browser.post(
            client.make_url(routes.API_LOGIN),
            json={"email": OWNER, "password": PASSWORD},
            headers={"X-CSRF-Token": csrf["csrf_token"]},
        )
        assert response.status == 200, await response.text()
        switched = routes.API_ORGANIZATION_SWITCH.format(organizationID=org_id)
        response = await browser.post(client.make_url(switched), headers=_csrf_of(browser, client))
        assert response.status == 200, await response.text()
        yield browser


def _csrf_of(browser: aiohttp.ClientSession, client: Client) -> dict[str, str]:
    found = browser.cookie_jar.filter_cookies(client.make_url("/"))
    return {"X-CSRF-Token": found[cookies.CSRF.name].value}


async def _revoke_as(
    browser: aiohttp.ClientSession,
    client: Client,
    org_id: str,
    invitation_id: str,
    *,
    delay: float,
) -> tuple[int, dict[str, Any]]:
    await asyncio.sleep(delay)
    path = routes.API_ORGANIZATION_INVITATION_REVOKE.format(
        organizationID=org_id, invitationID=invitation_id
    )
    response = await browser.post(client.make_url(path), headers=_csrf_of(browser, client))
    body: dict[str, Any] = await response.json()
    return response.status, body


@pytest.mark.parametrize("how", ["signup", "login", "accept"])
async def test_a_revoke_racing_an_acceptance_leaves_one_outcome(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, how: str
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    owner, org_id = await inviting_organization(client, conn, "multi", OWNER)
    async with _owner_browser(client, org_id) as owner_browser:
        for round_, delay in enumerate(REVOKE_DELAYS):
            email = f"guest{round_}@example.com"
            token = await invite(client, org_id, owner, email)
            invitation_id = str((await invitation_row(conn, token))["id"])
            if how == "signup":
                await anonymous_csrf(client)
            else:
                await signup(client, email)
            if how == "login":
                await anonymous_csrf(client)
            path = {"signup": SIGNUP, "login": LOGIN, "accept": ACCEPT}[how]
            accepted, (revoked, body) = await asyncio.gather(
                post_form(client, path, token, password=PASSWORD),
                _revoke_as(owner_browser, client, org_id, invitation_id, delay=delay),
            )
            row = await invitation_row(conn, token)
            if revoked == 200:
                assert accepted.status == 410, (round_, await accepted.text())
                assert row["revoked_at"] is not None
                assert row["accepted_at"] is None
            else:
                assert (revoked, body["error"]["code"]) == (409, "invitation_already_accepted")
                assert accepted.status == 303, (round_, await accepted.text())
                assert row["accepted_at"] is not None
                assert row["revoked_at"] is None
            members = await conn.fetchval(
                "SELECT count(*) FROM organization_memberships m JOIN users u"
                " ON u.id = m.user_id WHERE m.organization_id = $1 AND u.email = $2",
                uuid.UUID(org_id),
                email,
            )
            assert members == (0 if row["accepted_at"] is None else 1)
            if how == "signup":
                assert await user_count(conn, email) == (0 if row["accepted_at"] is None else 1)
    accepted_ids = {e["invitation_id"] for e in await events(conn, ACCEPTED)}
    revoked_ids = {e["invitation_id"] for e in await events(conn, REVOKED)}
    assert len(accepted_ids) + len(revoked_ids) == len(REVOKE_DELAYS)
    assert not accepted_ids & revoked_ids
    assert {e["invitation_id"] for e in await invited_joins(conn)} == accepted_ids
    stored = await conn.fetch("SELECT id, accepted_at FROM organization_invitations")
    assert {str(r["id"]) for r in stored if r["accepted_at"] is not None} == accepted_ids


# --- events ---------------------------------------------------------------------------------


@BOTH_MODES
async def test_an_acceptance_writes_its_two_events_once(
    aiohttp_client: ClientFactory,
    db: DatabaseSettings,
    conn: asyncpg.Connection,
    clock: FakeClock,
    mode: str,
) -> None:
    client = await make_client(aiohttp_client, db, mode, clock=clock)
    owner, org_id = await inviting_organization(client, conn, mode)
    metadata = {"seat": 2, "team": {"name": "Blue"}}
    token = await invite(client, org_id, owner, role="admin", metadata=metadata)
    row = await invitation_row(conn, token)
    clock.advance(minutes=5)
    client.session.cookie_jar.clear()
    csrf = await form_csrf(client, page_url(SIGNUP, token))
    response = await post_form(client, SIGNUP, token, password=PASSWORD, csrf=csrf)
    assert response.status == 303, await response.text()
    user = claims_of(client)["sub"]
    [accepted] = await events(conn, ACCEPTED)
    assert accepted == {
        "invitation_id": str(row["id"]),
        "organization_id": org_id,
        "email": INVITEE,
        "role": "admin",
        "metadata": metadata,
        "accepted_by_user_id": user,
        "accepted_at": accepted["accepted_at"],
    }
    stored = (await invitation_row(conn, token))["accepted_at"]
    assert stored == clock.now()
    assert accepted["accepted_at"].startswith(clock.now().strftime("%Y-%m-%dT%H:%M:%S"))
    [joined] = await invited_joins(conn)
    assert joined == {
        "organization_id": org_id,
        "user_id": user,
        "role": "admin",
        "is_initial_membership": False,
        "invitation_id": str(row["id"]),
        "metadata": metadata,
    }
    # Only the organizations a user founds have initial memberships: the invitee's
    # personal one in multi mode, none in single mode.
    initial = [e for e in await events(conn, JOINED) if e["is_initial_membership"]]
    assert [e["user_id"] for e in initial].count(user) == (1 if mode == "multi" else 0)
    assert all(e["invitation_id"] is None and e["metadata"] == {} for e in initial)


async def test_refused_acceptances_write_no_events(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    owner, org_id = await inviting_organization(client, conn, "multi")
    token = await invite(client, org_id, owner)
    before = await conn.fetchval("SELECT count(*) FROM webhook_events")
    await signup(client, "other@example.com")  # writes user.created and its organization
    after_signup = await conn.fetchval("SELECT count(*) FROM webhook_events")
    assert (await post_form(client, ACCEPT, token)).status == 403  # another email
    user = await signup(client, INVITEE)
    after_second = await conn.fetchval("SELECT count(*) FROM webhook_events")
    await add_member(conn, org_id, user, "member")
    assert (await post_form(client, ACCEPT, token)).status == 409  # a member already
    await conn.execute(
        "DELETE FROM organization_memberships WHERE user_id = $1 AND organization_id = $2",
        uuid.UUID(user),
        uuid.UUID(org_id),
    )
    csrf = await anonymous_csrf(client)
    assert (await post_form(client, LOGIN, token, password="wrong one", csrf=csrf)).status == 422
    assert (await post_form(client, SIGNUP, token, password=PASSWORD, csrf=csrf)).status == 422
    assert after_signup > before
    assert await conn.fetchval("SELECT count(*) FROM webhook_events") == after_second
    await assert_untouched(conn, token)


# --- signup by invitation code (JSON) --------------------------------------------------------


async def _signup_with_code(
    client: Client, code: str, email: str = INVITEE, password: str = PASSWORD
) -> Any:
    csrf = await anonymous_csrf(client)
    return await client.post(
        routes.API_SIGNUP_DIRECT,
        json={"email": email, "password": password, "invitation_code": code},
        headers={"X-CSRF-Token": csrf},
    )


@pytest.mark.parametrize("role", ["member", "admin"])
async def test_multi_signup_with_a_code_joins_and_stays_in_the_personal_organization(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, role: str
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    owner, org_id = await inviting_organization(client, conn, "multi")
    token = await invite(client, org_id, owner, role=role)
    response = await _signup_with_code(client, token, email=INVITEE.upper())
    assert response.status == 201, await response.text()
    body = await response.json()
    user = body["user"]["id"]
    personal = next(org for org, kind, _ in await memberships(conn, user) if kind == "personal")
    claims = claims_of(client)
    assert (claims["org_id"], claims["org_role"]) == (personal, "owner")
    assert await memberships(conn, user) == [
        (personal, "personal", "owner"),
        (org_id, "team", role),
    ]
    await _accepted_once(conn, token, user)


@pytest.mark.parametrize("role", ["member", "admin"])
async def test_single_signup_with_a_code_starts_in_the_invited_organization(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, role: str
) -> None:
    client = await make_client(aiohttp_client, db, "single")
    owner, org_id = await inviting_organization(client, conn, "single")
    token = await invite(client, org_id, owner, role=role)
    response = await _signup_with_code(client, token)
    assert response.status == 201, await response.text()
    user = (await response.json())["user"]["id"]
    claims = claims_of(client)
    assert (claims["org_id"], claims["org_role"]) == (org_id, role)
    assert await memberships(conn, user) == [(org_id, "team", role)]
    await _accepted_once(conn, token, user)


@BOTH_MODES
async def test_signup_with_a_code_for_another_email_is_400(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, mode: str
) -> None:
    client = await make_client(aiohttp_client, db, mode)
    owner, org_id = await inviting_organization(client, conn, mode)
    token = await invite(client, org_id, owner)
    response = await _signup_with_code(client, token, email="someone@example.com")
    assert response.status == 400
    assert await response.json() == {
        "error": {
            "code": "invalid_request",
            "message": "This invitation was sent to a different email address.",
        }
    }
    assert await user_count(conn, "someone@example.com") == 0
    assert cookies.ACCESS.name not in jar(client)
    await assert_untouched(conn, token)


@BOTH_MODES
@pytest.mark.parametrize("state", ["accepted", "revoked", "expired", "unknown", "overlong"])
async def test_signup_with_an_unusable_code_is_400(
    aiohttp_client: ClientFactory,
    db: DatabaseSettings,
    conn: asyncpg.Connection,
    clock: FakeClock,
    mode: str,
    state: str,
) -> None:
    client = await make_client(aiohttp_client, db, mode, clock=clock)
    owner, org_id = await inviting_organization(client, conn, mode)
    token = await invite(client, org_id, owner)
    code = token
    users_before = await conn.fetchval("SELECT count(*) FROM users")
    events_before = await conn.fetchval("SELECT count(*) FROM webhook_events")
    if state == "accepted":
        response = await _signup_with_code(client, token)
        assert response.status == 201, await response.text()
        users_before += 1
        events_before = await conn.fetchval("SELECT count(*) FROM webhook_events")
    elif state == "revoked":
        await conn.execute("UPDATE organization_invitations SET revoked_at = now()")
    elif state == "expired":
        clock.advance(hours=168, seconds=1)
    elif state == "unknown":
        code = token[:-1] + ("A" if token[-1] != "A" else "B")
    else:
        code = token + "x" * 300
    email = "late@example.com" if state == "accepted" else INVITEE
    response = await _signup_with_code(client, code, email=email)
    assert response.status == 400, await response.text()
    message = {
        "accepted": "This invitation has already been accepted.",
        "revoked": "This invitation has been withdrawn.",
        "expired": "This invitation has expired. Ask for a new one.",
        "unknown": "This invitation link is not valid. Ask for a new one.",
        "overlong": "This invitation link is not valid. Ask for a new one.",
    }[state]
    assert await response.json() == {"error": {"code": "invalid_request", "message": message}}
    assert cookies.ACCESS.name not in jar(client)
    assert await conn.fetchval("SELECT count(*) FROM users") == users_before
    assert await conn.fetchval("SELECT count(*) FROM webhook_events") == events_before
    if state != "accepted":
        row = await invitation_row(conn, token)
        assert row["accepted_at"] is None


async def test_signup_with_a_code_for_an_existing_email_is_400(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    owner, org_id = await inviting_organization(client, conn, "multi")
    token = await invite(client, org_id, owner)
    await signup(client, INVITEE)
    response = await _signup_with_code(client, token)
    assert response.status == 400
    assert (await response.json())["error"]["message"] == (
        "An account with this email already exists."
    )
    await assert_untouched(conn, token)


async def test_signup_with_a_code_is_rate_limited(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(
        aiohttp_client, db, "single", AUTHARA_RATE_LIMIT_SIGNUP_EMAIL_LIMIT="1"
    )
    owner, org_id = await inviting_organization(client, conn, "single")
    token = await invite(client, org_id, owner)
    response = await _signup_with_code(client, token + "x")  # a wrong code counts too
    assert response.status == 400
    response = await _signup_with_code(client, token)
    assert response.status == 429, await response.text()
    assert (await response.json())["error"]["code"] == "rate_limited"
    assert int(response.headers["Retry-After"]) > 0
    assert await user_count(conn) == 0
    await assert_untouched(conn, token)


async def test_an_empty_invitation_code_is_a_plain_signup(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    owner, org_id = await inviting_organization(client, conn, "multi")
    token = await invite(client, org_id, owner)
    response = await _signup_with_code(client, "")
    assert response.status == 201, await response.text()
    user = (await response.json())["user"]["id"]
    assert [kind for _, kind, _ in await memberships(conn, user)] == ["personal"]
    await assert_untouched(conn, token)


# --- deleting a user ------------------------------------------------------------------------


@pytest.mark.parametrize("renamed", [False, True])
async def test_deleting_a_user_deletes_their_invitations(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, renamed: bool
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    owner, org_id = await inviting_organization(client, conn, "multi")
    other_org = await create_team(client, owner, name="Globex")
    accepted = await invite(client, org_id, owner)
    pending = await invite(client, other_org, owner, INVITEE.upper())
    unrelated = await invite(client, org_id, owner, "someone@example.com")
    response = await _signup_with_code(client, accepted)
    assert response.status == 201, await response.text()
    user = (await response.json())["user"]["id"]
    if renamed:  # the address the invitations went to is no longer theirs
        await conn.execute(
            "UPDATE users SET email = 'renamed@example.com' WHERE id = $1", uuid.UUID(user)
        )
    response = await client.delete(routes.INTERNAL_USER.format(user_id=user), headers=BEARER)
    assert response.status == 204, await response.text()
    assert await conn.fetchval("SELECT count(*) FROM users WHERE id = $1", uuid.UUID(user)) == 0
    left = {token for token in (accepted, pending, unrelated) if await _stored(conn, token)}
    # The one they accepted goes in any case; a pending one only while the address is theirs.
    assert left == ({unrelated, pending} if renamed else {unrelated})
    assert (await invitation_row(conn, unrelated))["accepted_at"] is None


async def _stored(conn: asyncpg.Connection, token: str) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM organization_invitations WHERE token_hash = $1)",
        opaque.hash_token(token),
    )
    return found


async def test_deleting_a_user_deletes_pending_invitations_to_their_email(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    client = await make_client(aiohttp_client, db, "multi")
    owner, org_id = await inviting_organization(client, conn, "multi")
    user = await signup(client, INVITEE)
    token = await invite(client, org_id, owner, INVITEE.upper())
    response = await client.delete(routes.INTERNAL_USER.format(user_id=user), headers=BEARER)
    assert response.status == 204, await response.text()
    assert await conn.fetchval("SELECT count(*) FROM organization_invitations") == 0
    # A later account with the address must be invited anew.
    client.session.cookie_jar.clear()
    response = await client.get(page_url(SIGNUP, token))
    assert response.status == 400
