"""Email challenge pages on a real database: signup verification, password reset (with
challenges on or off), email change, the verify page's refusals, resend, invitation signup,
and the rate limits. Codes come from the composers the mail worker runs.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import asyncpg
import jwt
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from authara_contract import cookies, routes
from authara_contract.database import DatabaseSettings
from authara_core.app import SERVICES_KEY, create_app
from authara_core.settings import load_settings
from tests.coresupport import WEBHOOK_ENV, FakeClock, core_env
from tests.integration.core.challengesupport import (
    CHALLENGE_ID,
    CHALLENGE_ON,
    NEW_PASSWORD,
    PASSWORD,
    UUID_TEXT,
    code_for,
    jobs,
    wrong,
)
from tests.integration.core.conftest import ClientFactory, csrf_token
from tests.integration.core.internalsupport import BEARER, TOKEN, create_team

Client = TestClient[Any, Any]
VERIFY_SIGNUP: Final = routes.VERIFY_CHALLENGE.format(action="signup")
VERIFY_RESET: Final = routes.VERIFY_CHALLENGE.format(action="password-reset")
VERIFY_EMAIL: Final = routes.VERIFY_CHALLENGE.format(action="email-change")
HTMX: Final = {"HX-Request": "true"}


async def _client(
    aiohttp_client: ClientFactory, db: DatabaseSettings, clock: FakeClock, **env: str
) -> Client:
    settings = load_settings(core_env(db, **env))
    return await aiohttp_client(
        create_app(settings, clock=clock, send_mail=False, deliver_webhooks=False)
    )


def _jar(client: Client) -> dict[str, str]:
    found = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    return {name: morsel.value for name, morsel in found.items()}


async def _code(client: Client, conn: asyncpg.Connection, challenge_id: str) -> str:
    services = client.app[SERVICES_KEY]
    return await code_for(conn, services.mail_composers, services.clock.now(), challenge_id)


async def _opened(response: ClientResponse) -> str:
    """Check an answer is the verify page and return its challenge id."""
    page = await response.text()
    assert response.status == 200, page
    found = CHALLENGE_ID.search(page)
    assert found is not None, page
    assert 'autocomplete="one-time-code"' in page and 'inputmode="numeric"' in page
    assert '<label for="code">' in page
    return found.group(1)


async def _post(client: Client, path: str, data: dict[str, str], **kwargs: Any) -> ClientResponse:
    token = _jar(client).get(cookies.CSRF.name) or await csrf_token(client, routes.LOGIN)
    return await client.post(
        path, data={"csrf_token": token, **data}, allow_redirects=False, **kwargs
    )


async def _start_signup(client: Client, email: str, **kwargs: Any) -> ClientResponse:
    return await _post(
        client,
        f"{routes.SIGNUP}?return_to=/private",
        {"email": email, "password": PASSWORD},
        **kwargs,
    )


async def _signed_up(client: Client, conn: asyncpg.Connection, email: str) -> None:
    """Sign up through the verify page; the client holds the new session."""
    challenge_id = await _opened(await _start_signup(client, email))
    code = await _code(client, conn, challenge_id)
    response = await _post(
        client, f"{VERIFY_SIGNUP}?return_to=/private", {"challenge_id": challenge_id, "code": code}
    )
    assert response.status == 303, await response.text()


async def _invite(client: Client, org_id: str, actor: str, email: str) -> str:
    response = await client.post(
        routes.INTERNAL_INVITATIONS.format(organization_id=org_id),
        json={"actor_user_id": actor, "email": email},
        headers=BEARER,
    )
    assert response.status == 201, await response.text()
    url = urlsplit((await response.json())["invitation"]["invite_url"])
    token: str = parse_qs(url.query)["token"][0]
    return token


def _same_answer(first: ClientResponse, second: ClientResponse, texts: tuple[str, str]) -> None:
    """Compare two answers with their challenge ids (and the typed emails) blanked out."""
    assert first.status == second.status
    assert first.headers.getall("Set-Cookie", []) == second.headers.getall("Set-Cookie", [])
    skip = {"Date", "Content-Length", "X-Request-Id"}
    assert {k for k in first.headers if k not in skip} == {
        k for k in second.headers if k not in skip
    }
    assert UUID_TEXT.sub("ID", texts[0]) == UUID_TEXT.sub("ID", texts[1])


async def test_signup_verification_looks_the_same_for_a_taken_email_and_signs_in_once(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    client = await _client(aiohttp_client, db, clock, **CHALLENGE_ON)
    await _signed_up(client, conn, "ada@example.com")
    client.session.cookie_jar.clear()
    await csrf_token(client, routes.SIGNUP)
    sent_before = await jobs(conn)
    taken = await _start_signup(client, "ada@example.com", headers=HTMX)
    taken_text = await taken.text()
    assert await jobs(conn) == sent_before  # nothing is sent to an address that has an account
    fresh = await _start_signup(client, "bob@example.com", headers=HTMX)
    fresh_text = await fresh.text()
    _same_answer(taken, fresh, (taken_text, fresh_text.replace("bob@", "ada@")))
    challenge_id = await _opened(fresh)
    push = urlsplit(fresh.headers["HX-Push-Url"])
    assert push.path == VERIFY_SIGNUP
    assert parse_qs(push.query) == {"challenge_id": [challenge_id], "return_to": ["/private"]}
    assert (fresh.headers["HX-Retarget"], fresh.headers["HX-Reswap"]) == ("#body", "innerHTML")
    assert fresh.headers["Cache-Control"] == "no-store"
    assert (await client.get(fresh.headers["HX-Push-Url"])).status == 200  # a reload works
    code = await _code(client, conn, challenge_id)
    refused = await _post(
        client,
        f"{VERIFY_SIGNUP}?return_to=/private",
        {"challenge_id": challenge_id, "code": wrong(code)},
    )
    assert refused.status == 422
    assert "That code is not right" in await refused.text()
    assert cookies.ACCESS.name not in _jar(client)
    done = await _post(
        client,
        f"{VERIFY_SIGNUP}?return_to=/private",
        {"challenge_id": challenge_id, "code": f" {code[:3]} {code[3:]}"},
    )
    # A new account is offered a passkey first, then goes on to return_to.
    assert done.status == 303
    assert done.headers["Location"] == "/auth/passkeys/setup?return_to=%2Fprivate"
    claims = jwt.decode(_jar(client)[cookies.ACCESS.name], options={"verify_signature": False})
    email = await conn.fetchval("SELECT email FROM users WHERE id = $1", uuid.UUID(claims["sub"]))
    assert email == "bob@example.com"
    again = await _post(client, VERIFY_SIGNUP, {"challenge_id": challenge_id, "code": code})
    assert again.status == 422
    assert "already been used" in await again.text()


async def test_the_verify_page_refuses_bad_input_with_a_message(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    client = await _client(aiohttp_client, db, clock, **CHALLENGE_ON)
    challenge_id = await _opened(await _start_signup(client, "ada@example.com"))
    assert (await client.get("/auth/verify-challenge/unlock")).status == 400
    assert (await client.get(VERIFY_SIGNUP, params={"challenge_id": "nope"})).status == 400
    page = await client.get("/auth/verify-challenge/SIGNUP", params={"challenge_id": challenge_id})
    assert page.status == 200  # the action is case-insensitive
    cases = [
        ({"challenge_id": "not-a-uuid", "code": "123456"}, "This verification is not valid"),
        ({"challenge_id": challenge_id, "code": "12a456"}, "Enter the 6-digit code"),
        ({"challenge_id": challenge_id, "code": "12345"}, "Enter the 6-digit code"),
        ({"challenge_id": challenge_id, "code": "١٢٣٤٥٦"}, "Enter the 6-digit code"),
        ({"challenge_id": str(uuid.uuid4()), "code": "123456"}, "This verification is not valid"),
    ]
    for data, message in cases:
        response = await _post(client, VERIFY_SIGNUP, data)
        assert response.status == 422, data
        assert message in await response.text(), data
    # A signup challenge at the reset page is unknown there, and stays usable.
    other = await _post(client, VERIFY_RESET, {"challenge_id": challenge_id, "code": "123456"})
    assert other.status == 422
    code = await _code(client, conn, challenge_id)
    for _ in range(5):
        await _post(client, VERIFY_SIGNUP, {"challenge_id": challenge_id, "code": wrong(code)})
    locked = await _post(client, VERIFY_SIGNUP, {"challenge_id": challenge_id, "code": code})
    assert locked.status == 422
    assert "Too many wrong codes" in await locked.text()
    late = await _opened(await _start_signup(client, "bob@example.com"))
    late_code = await _code(client, conn, late)
    clock.advance(minutes=31)
    expired = await _post(client, VERIFY_SIGNUP, {"challenge_id": late, "code": late_code})
    assert expired.status == 422
    assert "This verification has expired" in await expired.text()
    assert await conn.fetchval("SELECT count(*) FROM users") == 0


async def test_password_reset_works_with_challenges_off_and_signs_every_session_out(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    client = await _client(aiohttp_client, db, clock)
    login = await client.get(routes.LOGIN, params={"return_to": "/private"})
    assert (
        'href="/auth/password-reset?return_to=%2Fprivate">Forgot password?</a>'
        in await login.text()
    )
    # Without challenges: signup is direct, and the email-change and signup verify pages are 404.
    token = await csrf_token(client, routes.SIGNUP)
    direct = await client.post(
        routes.SIGNUP,
        data={"csrf_token": token, "email": "ada@example.com", "password": PASSWORD},
        allow_redirects=False,
    )
    assert direct.status == 303
    old_refresh = _jar(client)[cookies.REFRESH.name]
    assert (await client.get(routes.EMAIL_CHANGE)).status == 404
    assert (
        await client.get(VERIFY_SIGNUP, params={"challenge_id": str(uuid.uuid4())})
    ).status == 404
    form = await client.get(routes.PASSWORD_RESET, params={"return_to": "/private"})
    assert form.status == 200
    assert 'autocomplete="new-password"' in await form.text()
    reset = f"{routes.PASSWORD_RESET}?return_to=/private"
    unknown = await _post(client, reset, {"email": "ada@example.org", "new_password": NEW_PASSWORD})
    unknown_text = await unknown.text()
    assert await jobs(conn) == []
    known = await _post(client, reset, {"email": "ada@example.com", "new_password": NEW_PASSWORD})
    known_text = await known.text()
    _same_answer(unknown, known, (unknown_text, known_text.replace(".com", ".org")))
    assert [job["template"] for job in await jobs(conn)] == ["password_reset_code"]
    bad = await _post(client, reset, {"email": "ada@example.com", "new_password": "short"})
    assert bad.status == 422
    challenge_id = await _opened(known)
    code = await _code(client, conn, challenge_id)
    done = await _post(
        client, f"{VERIFY_RESET}?return_to=/private", {"challenge_id": challenge_id, "code": code}
    )
    assert done.status == 303
    assert done.headers["Location"] == "/auth/login?return_to=%2Fprivate"
    cleared = {m.key: m["max-age"] for m in done.cookies.values()}
    assert cleared[cookies.ACCESS.name] == cleared[cookies.REFRESH.name] == "0"
    shown = await client.get(done.headers["Location"])
    assert "Your password has been reset" in await shown.text()
    refreshed = await client.post(routes.API_TOKENS_REFRESH, json={"refresh_token": old_refresh})
    assert refreshed.status == 401
    for password, status in ((PASSWORD, 422), (NEW_PASSWORD, 303)):
        attempt = await _post(
            client, routes.LOGIN, {"email": "ada@example.com", "password": password}
        )
        assert attempt.status == status


async def test_email_change_keeps_the_old_address_until_the_new_one_is_verified(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    client = await _client(aiohttp_client, db, clock, **CHALLENGE_ON, **WEBHOOK_ENV)
    await _signed_up(client, conn, "taken@example.com")
    client.session.cookie_jar.clear()
    anonymous = await client.get(routes.EMAIL_CHANGE, allow_redirects=False)
    assert anonymous.status == 303
    assert anonymous.headers["Location"] == "/auth/login?return_to=%2Fauth%2Femail-change"
    await _signed_up(client, conn, "ada@example.com")
    account = await client.get(routes.ACCOUNT)
    assert f'href="{routes.EMAIL_CHANGE}">Change email</a>' in await account.text()
    page = await client.get(routes.EMAIL_CHANGE)
    assert 'data-testid="current-email">ada@example.com<' in await page.text()
    for new_email, message in (("ada@example.com", "already your email"), ("nope", "valid email")):
        refused = await _post(client, routes.EMAIL_CHANGE, {"new_email": new_email})
        assert refused.status == 422
        assert message in await refused.text()
    sent_before = await jobs(conn)
    taken = await _post(client, routes.EMAIL_CHANGE, {"new_email": "taken@example.com"})
    taken_text = await taken.text()
    assert await jobs(conn) == sent_before
    free = await _post(client, routes.EMAIL_CHANGE, {"new_email": "Ada.New@example.com"})
    free_text = await free.text()
    _same_answer(taken, free, (taken_text, free_text.replace("ada.new@", "taken@")))
    challenge_id = await _opened(free)
    code = await _code(client, conn, challenge_id)
    # Until the code comes back, the old address is the account's and signs in.
    assert await conn.fetchval("SELECT count(*) FROM users WHERE email = 'ada@example.com'") == 1
    client.session.cookie_jar.clear()
    login = await _post(client, routes.LOGIN, {"email": "ada@example.com", "password": PASSWORD})
    assert login.status == 303
    updated = (
        "SELECT payload->'data'->>'user_id' FROM webhook_events WHERE event_type = 'user.updated'"
    )
    assert await conn.fetch(updated) == []
    done = await _post(client, VERIFY_EMAIL, {"challenge_id": challenge_id, "code": code})
    assert done.status == 303 and done.headers["Location"] == routes.ACCOUNT
    user_id = await conn.fetchval("SELECT id FROM users WHERE email = 'ada.new@example.com'")
    assert [row[0] for row in await conn.fetch(updated)] == [str(user_id)]
    account = await client.get(routes.ACCOUNT)
    text = await account.text()
    assert 'data-testid="account-email">ada.new@example.com<' in text
    assert "Your email address is now ada.new@example.com." in text


async def test_resend_answers_with_the_verify_page_and_what_happened(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    client = await _client(aiohttp_client, db, clock, **CHALLENGE_ON)
    await _signed_up(client, conn, "ada@example.com")
    client.session.cookie_jar.clear()
    real = await _opened(await _start_signup(client, "bob@example.com"))
    opaque = await _opened(await _start_signup(client, "ada@example.com"))
    form = {"action": "signup", "return_to": "/private"}
    answers: dict[str, list[str]] = {real: [], opaque: []}
    for seconds in (0, 30, 30, 30, 30):
        clock.advance(seconds=seconds)
        for challenge_id in (real, opaque):
            response = await _post(
                client, routes.RESEND_CHALLENGE, {"challenge_id": challenge_id, **form}
            )
            assert response.status == 200
            answers[challenge_id].append(UUID_TEXT.sub("ID", await response.text()))
    assert answers[real] == answers[opaque]
    toasts = [re.search(r'data-testid="flash">([^<]+)<', text) for text in answers[real]]
    assert [t.group(1) if t else None for t in toasts] == [
        "Please wait a little before asking for a new code.",
        "A new verification code has been sent.",
        "A new verification code has been sent.",
        "A new verification code has been sent.",
        "No more codes can be sent for this verification. Please start again.",
    ]
    assert [job["to_email"] for job in await jobs(conn)][-3:] == ["bob@example.com"] * 3
    assert (await _post(client, routes.RESEND_CHALLENGE, {"challenge_id": "x"})).status == 400
    unknown = await _post(client, routes.RESEND_CHALLENGE, {"challenge_id": str(uuid.uuid4())})
    assert unknown.status == 200
    assert "This verification is not valid" in await unknown.text()


async def test_invitation_signup_is_verified_by_email_then_joins_the_organization(
    aiohttp_client: ClientFactory, db: DatabaseSettings, conn: asyncpg.Connection, clock: FakeClock
) -> None:
    env = {
        **CHALLENGE_ON,
        "AUTHARA_ORGANIZATION_MODE": "multi",
        "AUTHARA_INTERNAL_API_TOKEN": TOKEN,
    }
    client = await _client(aiohttp_client, db, clock, **env)
    await _signed_up(client, conn, "owner@example.com")
    owner = await conn.fetchval("SELECT id FROM users")
    org_id = await create_team(client, str(owner))
    token = await _invite(client, org_id, str(owner), "new@example.com")
    client.session.cookie_jar.clear()
    await csrf_token(client, f"{routes.INVITATION_SIGNUP}?token={token}")
    opened = await _post(client, routes.INVITATION_SIGNUP, {"token": token, "password": PASSWORD})
    challenge_id = await _opened(opened)
    assert "new@example.com" in await opened.text()
    assert await conn.fetchval("SELECT accepted_at FROM organization_invitations") is None
    code = await _code(client, conn, challenge_id)
    done = await _post(
        client, f"{VERIFY_SIGNUP}?return_to=/", {"challenge_id": challenge_id, "code": code}
    )
    assert done.status == 303 and done.headers["Location"] == "/"
    claims = jwt.decode(_jar(client)[cookies.ACCESS.name], options={"verify_signature": False})
    assert (claims["org_id"], claims["org_role"]) == (org_id, "member")
    assert await conn.fetchval("SELECT accepted_at FROM organization_invitations") is not None
    # An invited address that has an account is refused, as without challenges.
    await _signed_up(client, conn, "other@example.com")
    other = await _invite(client, org_id, str(owner), "other@example.com")
    client.session.cookie_jar.clear()
    await csrf_token(client, f"{routes.INVITATION_SIGNUP}?token={other}")
    taken = await _post(client, routes.INVITATION_SIGNUP, {"token": other, "password": PASSWORD})
    assert taken.status == 422
    assert "An account with this email already exists." in await taken.text()


async def test_reset_verify_and_resend_are_rate_limited(
    aiohttp_client: ClientFactory, db: DatabaseSettings, clock: FakeClock
) -> None:
    env = {
        "AUTHARA_RATE_LIMIT_PASSWORD_RESET_EMAIL_LIMIT": "1",
        "AUTHARA_RATE_LIMIT_CHALLENGE_VERIFY_IP_LIMIT": "2",
        "AUTHARA_RATE_LIMIT_CHALLENGE_RESEND_IP_LIMIT": "1",
    }
    client = await _client(aiohttp_client, db, clock, **env)
    body = {"email": "ada@example.com", "new_password": NEW_PASSWORD}
    challenge_id = await _opened(await _post(client, routes.PASSWORD_RESET, body))
    limited = await _post(client, routes.PASSWORD_RESET, body)
    assert limited.status == 429 and "Retry-After" in limited.headers
    assert "Too many attempts" in await limited.text()
    verify = {"challenge_id": challenge_id, "code": "000000"}
    statuses = [(await _post(client, VERIFY_RESET, verify)).status for _ in range(3)]
    assert statuses == [422, 422, 429]
    resend = {"challenge_id": challenge_id, "action": "password-reset"}
    statuses = [(await _post(client, routes.RESEND_CHALLENGE, resend)).status for _ in range(2)]
    assert statuses == [200, 429]
