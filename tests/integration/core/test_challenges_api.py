"""The email challenge routes of the JSON API on a real database; every answer is checked
against the schemas the OpenAPI document declares.
"""

from __future__ import annotations

import uuid
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import asyncpg
import jsonschema
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from authara_contract import routes
from authara_contract.database import DatabaseSettings
from authara_core.app import SERVICES_KEY, create_app
from authara_core.platform.openapi import SCHEMAS
from authara_core.settings import load_settings
from tests.coresupport import FakeClock, core_env
from tests.integration.core.challengesupport import (
    CHALLENGE_ON,
    NEW_PASSWORD,
    PASSWORD,
    code_for,
    jobs,
    wrong,
)
from tests.integration.core.conftest import ClientFactory
from tests.integration.core.internalsupport import BEARER, TOKEN, create_team

Client = TestClient[Any, Any]
INVALID_CODE: Final = "Invalid or expired verification code."


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": {"schemas": SCHEMAS}},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


STARTED: Final = _validator("ChallengeStarted")
SESSION: Final = _validator("AuthSession")
ERROR: Final = _validator("Error")


async def _client(
    aiohttp_client: ClientFactory, db: DatabaseSettings, clock: FakeClock, **env: str
) -> Client:
    return await aiohttp_client(
        create_app(load_settings(core_env(db, **env)), clock=clock, send_mail=False)
    )


async def _call(
    client: Client, path: str, body: Any, status: int, code: str | None = None
) -> ClientResponse:
    """POST with the CSRF token; check the status and that the body matches its schema."""
    csrf = (await (await client.get(routes.API_CSRF)).json())["csrf_token"]
    response = await client.post(path, json=body, headers={"X-CSRF-Token": csrf})
    assert response.status == status, await response.text()
    if status >= 400:
        error = await response.json()
        ERROR.validate(error)
        if code is not None:
            assert error["error"]["code"] == code
    elif status == 202:
        STARTED.validate(await response.json())
    elif status == 201:
        SESSION.validate(await response.json())
    else:
        assert await response.read() == b""
    return response


async def _code(client: Client, conn: asyncpg.Connection, challenge_id: str) -> str:
    services = client.app[SERVICES_KEY]
    return await code_for(conn, services.mail_composers, services.clock.now(), challenge_id)


async def _signed_up(
    client: Client, conn: asyncpg.Connection, email: str, **extra: str
) -> dict[str, Any]:
    started = await _call(
        client, routes.API_SIGNUP_CHALLENGES, {"email": email, "password": PASSWORD, **extra}, 202
    )
    challenge_id = (await started.json())["challenge_id"]
    code = await _code(client, conn, challenge_id)
    body = {"challenge_id": challenge_id, "code": code}
    done = await _call(client, routes.API_SIGNUP_CHALLENGE_VERIFY, body, 201)
    session: dict[str, Any] = await done.json()
    return session


async def test_signup_by_code_answers_the_same_for_a_taken_email_and_signs_in_once(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    client = await _client(aiohttp_client, db, clock, **CHALLENGE_ON)
    direct = {"email": "ada@example.com", "password": PASSWORD}
    await _call(client, routes.API_SIGNUP_DIRECT, direct, 404, "not_found")
    session = await _signed_up(client, conn, "Ada@Example.com")
    assert session["user"]["email"] == "ada@example.com"
    assert (await client.get(routes.API_USER)).status == 200  # the cookies are set too
    client.session.cookie_jar.clear()
    sent_before = await jobs(conn)
    taken = await _call(client, routes.API_SIGNUP_CHALLENGES, direct, 202)
    assert await jobs(conn) == sent_before
    fresh = await _call(
        client,
        routes.API_SIGNUP_CHALLENGES,
        {"email": "bob@example.com", "password": PASSWORD},
        202,
    )
    assert taken.headers.getall("Set-Cookie", []) == fresh.headers.getall("Set-Cookie", []) == []
    assert set(await taken.json()) == set(await fresh.json()) == {"challenge_id"}
    assert taken.headers["Content-Type"] == fresh.headers["Content-Type"]
    challenge_id = (await fresh.json())["challenge_id"]
    code = await _code(client, conn, challenge_id)
    verify = routes.API_SIGNUP_CHALLENGE_VERIFY
    for bad in (
        {"challenge_id": challenge_id, "code": "12345"},
        {"challenge_id": "x", "code": code},
    ):
        await _call(client, verify, bad, 400, "invalid_request")
    for refused in (
        {"challenge_id": challenge_id, "code": wrong(code)},
        {"challenge_id": (await taken.json())["challenge_id"], "code": code},
        {"challenge_id": str(uuid.uuid4()), "code": code},
    ):
        response = await _call(client, verify, refused, 400, "invalid_request")
        assert (await response.json())["error"]["message"] == INVALID_CODE
    await _call(client, verify, {"challenge_id": challenge_id, "code": code}, 201)
    again = await _call(client, verify, {"challenge_id": challenge_id, "code": code}, 400)
    assert (await again.json())["error"]["message"] == INVALID_CODE
    admin = f"{routes.API_SIGNUP_CHALLENGES}?audience=admin"
    await _call(client, admin, {"email": "cy@example.com", "password": PASSWORD}, 400)


async def test_with_challenges_off_signup_routes_are_404_and_password_reset_works(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    client = await _client(aiohttp_client, db, clock)
    signup = {"email": "ada@example.com", "password": PASSWORD}
    await _call(client, routes.API_SIGNUP_CHALLENGES, signup, 404, "not_found")
    verify = {"challenge_id": str(uuid.uuid4()), "code": "123456"}
    await _call(client, routes.API_SIGNUP_CHALLENGE_VERIFY, verify, 404, "not_found")
    old = await (await _call(client, routes.API_SIGNUP_DIRECT, signup, 201)).json()
    reset = routes.API_PASSWORD_RESET_CHALLENGES
    unknown = await _call(
        client, reset, {"email": "x@example.com", "new_password": NEW_PASSWORD}, 202
    )
    assert await jobs(conn) == []
    known = await _call(
        client, reset, {"email": "ada@example.com", "new_password": NEW_PASSWORD}, 202
    )
    assert unknown.headers.getall("Set-Cookie", []) == known.headers.getall("Set-Cookie", [])
    await _call(client, reset, {"email": "ada@example.com", "new_password": "short"}, 400)
    await _call(client, reset, {"email": "not an email", "new_password": NEW_PASSWORD}, 400)
    challenge_id = (await known.json())["challenge_id"]
    code = await _code(client, conn, challenge_id)
    verify_reset = routes.API_PASSWORD_RESET_CHALLENGE_VERIFY
    opaque = (await unknown.json())["challenge_id"]
    await _call(client, verify_reset, {"challenge_id": opaque, "code": code}, 400)
    await _call(client, verify_reset, {"challenge_id": challenge_id, "code": code}, 204)
    refreshed = await client.post(
        routes.API_TOKENS_REFRESH, json={"refresh_token": old["refresh_token"]}
    )
    assert refreshed.status == 401
    login = routes.API_LOGIN
    await _call(client, login, {"email": "ada@example.com", "password": PASSWORD}, 401)
    csrf = (await (await client.get(routes.API_CSRF)).json())["csrf_token"]
    signed_in = await client.post(
        login,
        json={"email": "ada@example.com", "password": NEW_PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert signed_in.status == 200


async def test_resend_is_204_whatever_the_state_and_sends_only_for_real_challenges(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    client = await _client(aiohttp_client, db, clock)
    reset = routes.API_PASSWORD_RESET_CHALLENGES
    await _call(
        client, routes.API_SIGNUP_DIRECT, {"email": "a@example.com", "password": PASSWORD}, 201
    )
    real = await _call(client, reset, {"email": "a@example.com", "new_password": NEW_PASSWORD}, 202)
    opaque = await _call(
        client, reset, {"email": "b@example.com", "new_password": NEW_PASSWORD}, 202
    )
    clock.advance(seconds=30)
    for response in (real, opaque):
        body = {"challenge_id": (await response.json())["challenge_id"]}
        await _call(client, routes.API_CHALLENGE_RESEND, body, 204)
        await _call(client, routes.API_CHALLENGE_RESEND, body, 204)  # too soon: still 204
    await _call(client, routes.API_CHALLENGE_RESEND, {"challenge_id": str(uuid.uuid4())}, 204)
    await _call(client, routes.API_CHALLENGE_RESEND, {"challenge_id": "nope"}, 400)
    await _call(client, routes.API_CHALLENGE_RESEND, {}, 400)
    assert [job["to_email"] for job in await jobs(conn)] == ["a@example.com"] * 2


async def test_signup_by_code_with_an_invitation_code_joins_the_organization(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    env = {
        **CHALLENGE_ON,
        "AUTHARA_ORGANIZATION_MODE": "multi",
        "AUTHARA_INTERNAL_API_TOKEN": TOKEN,
    }
    client = await _client(aiohttp_client, db, clock, **env)
    owner = (await _signed_up(client, conn, "owner@example.com"))["user"]["id"]
    org_id = await create_team(client, owner)
    invited = await client.post(
        routes.INTERNAL_INVITATIONS.format(organization_id=org_id),
        json={"actor_user_id": owner, "email": "new@example.com"},
        headers=BEARER,
    )
    url = urlsplit((await invited.json())["invitation"]["invite_url"])
    token = parse_qs(url.query)["token"][0]
    client.session.cookie_jar.clear()
    start = routes.API_SIGNUP_CHALLENGES
    bad = {"email": "new@example.com", "password": PASSWORD, "invitation_code": "bogus"}
    await _call(client, start, bad, 400, "invalid_request")
    # An existing email gets its opaque challenge without the code being looked at.
    await _call(client, start, {**bad, "email": "owner@example.com"}, 202)
    elsewhere = {"email": "else@example.com", "password": PASSWORD, "invitation_code": token}
    await _call(client, start, elsewhere, 400, "invalid_request")
    session = await _signed_up(client, conn, "new@example.com", invitation_code=token)
    role = await conn.fetchval(
        "SELECT role FROM organization_memberships WHERE organization_id = $1 AND user_id = $2",
        uuid.UUID(org_id),
        uuid.UUID(session["user"]["id"]),
    )
    assert role == "member"
    assert await conn.fetchval("SELECT accepted_at FROM organization_invitations") is not None


async def test_the_challenge_routes_are_rate_limited(
    aiohttp_client: ClientFactory, db: DatabaseSettings, clock: FakeClock
) -> None:
    env = {
        "AUTHARA_RATE_LIMIT_PASSWORD_RESET_IP_LIMIT": "2",
        "AUTHARA_RATE_LIMIT_CHALLENGE_VERIFY_IP_LIMIT": "1",
        "AUTHARA_RATE_LIMIT_CHALLENGE_RESEND_IP_LIMIT": "1",
    }
    client = await _client(aiohttp_client, db, clock, **env)
    reset = routes.API_PASSWORD_RESET_CHALLENGES
    for email, status in (("a@example.com", 202), ("b@example.com", 202), ("c@example.com", 429)):
        response = await _call(
            client, reset, {"email": email, "new_password": NEW_PASSWORD}, status
        )
    assert "Retry-After" in response.headers
    body = {"challenge_id": str(uuid.uuid4()), "code": "123456"}
    await _call(client, routes.API_PASSWORD_RESET_CHALLENGE_VERIFY, body, 400)
    await _call(client, routes.API_PASSWORD_RESET_CHALLENGE_VERIFY, body, 429, "rate_limited")
    resend = {"challenge_id": body["challenge_id"]}
    await _call(client, routes.API_CHALLENGE_RESEND, resend, 204)
    await _call(client, routes.API_CHALLENGE_RESEND, resend, 429, "rate_limited")
