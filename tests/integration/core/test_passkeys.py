"""Passkeys through core's HTTP surface, driven by a software authenticator (tests/passkeysupport).

Every route, HTML and JSON: register (options, finish), sign in with a discoverable credential
(options, finish), the account page's list, rename and delete with the last-method guard, the
setup page after signup. Every bad input is a 4xx with its documented code and starts no
session: a replayed or expired challenge, another origin or RP ID, a tampered signature, an
unknown credential, a challenge of the other kind, a body over 128 KiB, no user verification,
and a signature counter that went backwards (the passkey is flagged and the event audited).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import cookies, routes
from authara_contract.database import DatabaseSettings
from authara_core.app import SERVICES_KEY, create_app
from authara_core.settings import load_settings
from tests.coresupport import PUBLIC_URL, WEBHOOK_ENV, FakeClock, core_env
from tests.integration.core.conftest import csrf_token
from tests.integration.core.oauthsupport import forget_session, jar_csrf
from tests.passkeysupport import SoftAuthenticator, b64url

Client = TestClient[Any, Any]
PASSWORD = "correct horse battery"
MAC_CHROME = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
RP_ID = urlsplit(PUBLIC_URL).hostname or ""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 15, 12, 0, tzinfo=UTC))


@pytest.fixture
async def client(aiohttp_client: Any, db: DatabaseSettings, clock: FakeClock) -> Client:
    settings = load_settings(core_env(db, **WEBHOOK_ENV))
    return await aiohttp_client(create_app(settings, clock=clock, deliver_webhooks=False))


@pytest.fixture
def authenticator() -> SoftAuthenticator:
    return SoftAuthenticator(origin=PUBLIC_URL, rp_id=RP_ID)


def _headers(client: Client, **extra: str) -> dict[str, str]:
    return {"X-CSRF-Token": jar_csrf(client), **extra}


async def _signup(client: Client, email: str = "ada@example.com") -> None:
    await client.get(routes.API_CSRF)
    response = await client.post(
        routes.API_SIGNUP_DIRECT,
        json={"email": email, "password": PASSWORD},
        headers=_headers(client),
    )
    assert response.status == 201, await response.text()


async def _post(client: Client, path: str, body: Any = None, **headers: str):
    return await client.post(path, json=body or {}, headers=_headers(client, **headers))


async def _register(
    client: Client, authenticator: SoftAuthenticator, **knobs: Any
) -> tuple[int, Any]:
    started = await _post(client, routes.API_PASSKEY_REGISTER_OPTIONS)
    assert started.status == 200, await started.text()
    options = await started.json()
    credential = authenticator.register(options["options"], **knobs)
    response = await _post(
        client,
        routes.API_PASSKEY_REGISTER_FINISH,
        {"challenge_id": options["challenge_id"], "credential": credential},
        **{"User-Agent": MAC_CHROME},
    )
    body = None if response.status == 204 else await response.json()
    return response.status, body


async def _sign_in_options(client: Client, path: str = routes.API_PASSKEY_AUTHENTICATE_OPTIONS):
    await client.get(routes.API_CSRF)
    response = await _post(client, path)
    assert response.status == 200, await response.text()
    return await response.json()


async def _sign_in(
    client: Client, authenticator: SoftAuthenticator, **knobs: Any
) -> tuple[int, Any]:
    options = await _sign_in_options(client)
    credential = authenticator.assertion(options["options"], **knobs)
    response = await _post(
        client,
        routes.API_PASSKEY_AUTHENTICATE_FINISH,
        {"challenge_id": options["challenge_id"], "credential": credential},
    )
    return response.status, await response.json()


async def _sessions(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM sessions"))


def _refused(status: int, body: Any, *, expected: int = 401, code: str = "unauthorized") -> None:
    assert (status, body["error"]["code"]) == (expected, code), body


# Registration


async def test_registration_options_ask_for_a_discoverable_verified_credential(
    client: Client, authenticator: SoftAuthenticator
) -> None:
    await _signup(client)
    response = await _post(client, routes.API_PASSKEY_REGISTER_OPTIONS)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = await response.json()
    public_key = body["options"]["publicKey"]
    assert public_key["rp"]["id"] == RP_ID
    assert public_key["user"]["name"] == "ada@example.com"
    assert public_key["authenticatorSelection"]["residentKey"] == "required"
    assert public_key["authenticatorSelection"]["userVerification"] == "required"
    assert public_key["attestation"] == "none"
    assert public_key["timeout"] == 300_000
    assert public_key["excludeCredentials"] == []
    assert len(public_key["challenge"]) >= 43

    assert (await _register(client, authenticator))[0] == 204
    again = await (await _post(client, routes.API_PASSKEY_REGISTER_OPTIONS)).json()
    excluded = again["options"]["publicKey"]["excludeCredentials"]
    assert [c["id"] for c in excluded] == [b64url(authenticator.credentials[0].credential_id)]
    assert excluded[0]["transports"] == ["hybrid", "internal"]


async def test_register_stores_the_credential_with_a_readable_name(
    client: Client, authenticator: SoftAuthenticator, conn: asyncpg.Connection
) -> None:
    await _signup(client)
    status, _ = await _register(client, authenticator)
    assert status == 204
    row = await conn.fetchrow("SELECT * FROM passkeys")
    assert bytes(row["credential_id"]) == authenticator.credentials[0].credential_id
    assert row["name"] == "Chrome on macOS • Jan 2026"
    assert list(row["transports"]) == ["hybrid", "internal"]
    assert row["aaguid"] == "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4"
    assert row["attestation_format"] == "none"
    assert (row["backup_eligible"], row["backup_state"], row["user_verified"]) == (
        True,
        True,
        True,
    )
    listed = await (await client.get(routes.API_PASSKEYS)).json()
    assert [p["name"] for p in listed["passkeys"]] == ["Chrome on macOS • Jan 2026"]
    assert listed["passkeys"][0]["synced"] is True
    events = await conn.fetch(
        "SELECT event_type FROM webhook_events WHERE event_type = 'user.updated'"
    )
    assert len(events) == 1


async def test_the_same_credential_twice_is_409(
    client: Client, authenticator: SoftAuthenticator
) -> None:
    await _signup(client)
    started = await (await _post(client, routes.API_PASSKEY_REGISTER_OPTIONS)).json()
    credential = authenticator.register(started["options"])
    first = await _post(
        client,
        routes.API_PASSKEY_REGISTER_FINISH,
        {"challenge_id": started["challenge_id"], "credential": credential},
    )
    assert first.status == 204
    second = await (await _post(client, routes.API_PASSKEY_REGISTER_OPTIONS)).json()
    again = authenticator.register(second["options"], again=authenticator.credentials[0])
    response = await _post(
        client,
        routes.API_PASSKEY_REGISTER_FINISH,
        {"challenge_id": second["challenge_id"], "credential": again},
    )
    _refused(response.status, await response.json(), expected=409, code="passkey_already_exists")


@pytest.mark.parametrize(
    "knobs",
    [
        {"origin": "https://evil.example"},
        {"rp_id": "evil.example"},
        {"uv": False},
        {"kind": "webauthn.get"},
    ],
    ids=["other-origin", "other-rp-id", "no-user-verification", "wrong-client-data-type"],
)
async def test_a_registration_that_does_not_verify_is_422(
    client: Client, authenticator: SoftAuthenticator, conn: asyncpg.Connection, knobs: Any
) -> None:
    await _signup(client)
    status, body = await _register(client, authenticator, **knobs)
    _refused(status, body, expected=422, code="passkey_registration_invalid")
    assert await conn.fetchval("SELECT count(*) FROM passkeys") == 0


async def test_a_registration_challenge_is_single_use_and_expires(
    client: Client, authenticator: SoftAuthenticator, clock: FakeClock
) -> None:
    await _signup(client)
    started = await (await _post(client, routes.API_PASSKEY_REGISTER_OPTIONS)).json()
    credential = authenticator.register(started["options"])
    body = {"challenge_id": started["challenge_id"], "credential": credential}
    assert (await _post(client, routes.API_PASSKEY_REGISTER_FINISH, body)).status == 204
    replay = await _post(client, routes.API_PASSKEY_REGISTER_FINISH, body)
    _refused(replay.status, await replay.json(), expected=422, code="passkey_registration_invalid")

    late = await (await _post(client, routes.API_PASSKEY_REGISTER_OPTIONS)).json()
    clock.advance(minutes=5, seconds=1)
    expired = await _post(
        client,
        routes.API_PASSKEY_REGISTER_FINISH,
        {
            "challenge_id": late["challenge_id"],
            "credential": authenticator.register(late["options"]),
        },
    )
    _refused(
        expired.status, await expired.json(), expected=422, code="passkey_registration_invalid"
    )


async def test_registration_needs_a_signed_in_user_and_csrf(client: Client) -> None:
    await client.get(routes.API_CSRF)
    anonymous = await _post(client, routes.API_PASSKEY_REGISTER_OPTIONS)
    _refused(anonymous.status, await anonymous.json())
    await _signup(client)
    no_csrf = await client.post(routes.API_PASSKEY_REGISTER_OPTIONS, json={})
    _refused(no_csrf.status, await no_csrf.json(), expected=403, code="forbidden")


async def test_a_sign_in_challenge_cannot_register(
    client: Client, authenticator: SoftAuthenticator
) -> None:
    await _signup(client)
    registration = await (await _post(client, routes.API_PASSKEY_REGISTER_OPTIONS)).json()
    sign_in = await _sign_in_options(client)
    credential = authenticator.register(registration["options"])
    response = await _post(
        client,
        routes.API_PASSKEY_REGISTER_FINISH,
        {"challenge_id": sign_in["challenge_id"], "credential": credential},
    )
    _refused(
        response.status, await response.json(), expected=422, code="passkey_registration_invalid"
    )


# Sign-in


async def test_sign_in_with_a_passkey_and_no_email(
    client: Client, authenticator: SoftAuthenticator, conn: asyncpg.Connection
) -> None:
    await _signup(client)
    await _register(client, authenticator)
    forget_session(client)
    options = await _sign_in_options(client)
    public_key = options["options"]["publicKey"]
    assert public_key["rpId"] == RP_ID
    assert public_key["userVerification"] == "required"
    assert public_key["allowCredentials"] == []

    credential = authenticator.assertion(options["options"])
    response = await _post(
        client,
        routes.API_PASSKEY_AUTHENTICATE_FINISH,
        {"challenge_id": options["challenge_id"], "credential": credential},
    )
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["user"]["email"] == "ada@example.com"
    assert cookies.ACCESS.name in response.cookies and cookies.REFRESH.name in response.cookies
    me = await client.get(routes.API_USER)
    assert (await me.json())["email"] == "ada@example.com"
    row = await conn.fetchrow("SELECT sign_count, last_used_at FROM passkeys")
    assert row["sign_count"] == 1 and row["last_used_at"] is not None


async def test_the_admin_audience_needs_a_role(
    client: Client, authenticator: SoftAuthenticator
) -> None:
    await _signup(client)
    await _register(client, authenticator)
    forget_session(client)
    options = await _sign_in_options(client)
    response = await client.post(
        routes.API_PASSKEY_AUTHENTICATE_FINISH,
        params={"audience": "admin"},
        json={
            "challenge_id": options["challenge_id"],
            "credential": authenticator.assertion(options["options"]),
        },
        headers=_headers(client),
    )
    _refused(response.status, await response.json(), expected=403, code="forbidden")


@pytest.mark.parametrize(
    "knobs",
    [
        {"origin": "https://evil.example"},
        {"rp_id": "evil.example"},
        {"tamper": True},
        {"uv": False},
        {"kind": "webauthn.create"},
        {"user_handle": b"someone else...."},
        {"unknown": True},
    ],
    ids=[
        "other-origin",
        "other-rp-id",
        "tampered-signature",
        "no-user-verification",
        "wrong-client-data-type",
        "other-user-handle",
        "unknown-credential",
    ],
)
async def test_an_assertion_that_does_not_verify_is_401_and_starts_no_session(
    client: Client,
    authenticator: SoftAuthenticator,
    conn: asyncpg.Connection,
    knobs: dict[str, Any],
) -> None:
    await _signup(client)
    await _register(client, authenticator)
    forget_session(client)
    before = await _sessions(conn)
    if knobs.pop("unknown", False):
        knobs["credential"] = authenticator.stranger()
    status, body = await _sign_in(client, authenticator, **knobs)
    _refused(status, body)
    assert body["error"]["message"] == "Passkey sign-in failed."
    assert await _sessions(conn) == before


async def test_a_sign_in_challenge_is_single_use_and_expires(
    client: Client, authenticator: SoftAuthenticator, clock: FakeClock
) -> None:
    await _signup(client)
    await _register(client, authenticator)
    forget_session(client)
    options = await _sign_in_options(client)
    body = {
        "challenge_id": options["challenge_id"],
        "credential": authenticator.assertion(options["options"]),
    }
    assert (await _post(client, routes.API_PASSKEY_AUTHENTICATE_FINISH, body)).status == 200
    forget_session(client)
    body["credential"] = authenticator.assertion(options["options"])  # a fresh counter
    replay = await _post(client, routes.API_PASSKEY_AUTHENTICATE_FINISH, body)
    _refused(replay.status, await replay.json())

    late = await _sign_in_options(client)
    clock.advance(minutes=5, seconds=1)
    expired = await _post(
        client,
        routes.API_PASSKEY_AUTHENTICATE_FINISH,
        {
            "challenge_id": late["challenge_id"],
            "credential": authenticator.assertion(late["options"]),
        },
    )
    _refused(expired.status, await expired.json())


async def test_a_registration_challenge_cannot_sign_in(
    client: Client, authenticator: SoftAuthenticator
) -> None:
    await _signup(client)
    await _register(client, authenticator)
    registration = await (await _post(client, routes.API_PASSKEY_REGISTER_OPTIONS)).json()
    forget_session(client)
    response = await _post(
        client,
        routes.API_PASSKEY_AUTHENTICATE_FINISH,
        {
            "challenge_id": registration["challenge_id"],
            "credential": authenticator.assertion(registration["options"]),
        },
    )
    _refused(response.status, await response.json())


async def test_a_counter_that_goes_backwards_flags_the_passkey(
    client: Client, authenticator: SoftAuthenticator, conn: asyncpg.Connection
) -> None:
    await _signup(client)
    await _register(client, authenticator)
    forget_session(client)
    assert (await _sign_in(client, authenticator, sign_count=10))[0] == 200
    forget_session(client)
    before = await _sessions(conn)

    status, body = await _sign_in(client, authenticator, sign_count=5)

    _refused(status, body)
    assert await _sessions(conn) == before
    # A copy may have signed in already: every session of the owner is ended.
    assert before > 0
    assert await conn.fetchval("SELECT count(*) FROM sessions WHERE revoked_at IS NULL") == 0
    row = await conn.fetchrow("SELECT id, user_id, clone_warning, sign_count FROM passkeys")
    assert row["clone_warning"] is True and row["sign_count"] == 10
    event = await conn.fetchrow(
        "SELECT actor_label, target_user_id, metadata FROM admin_audit_events"
        " WHERE action = 'security.passkey_clone_detected'"
    )
    assert event["actor_label"] == "system" and event["target_user_id"] == row["user_id"]
    assert '"received_sign_count": 5' in event["metadata"]
    assert f'"sessions_ended": {before}' in event["metadata"]
    # A flagged passkey signs in no more, whatever its counter says.
    _refused(*await _sign_in(client, authenticator, sign_count=50))
    # Its owner sees why on the account page.
    login = await _post(
        client, routes.API_LOGIN, {"email": "ada@example.com", "password": PASSWORD}
    )
    assert login.status == 200
    html = await (await client.get(routes.ACCOUNT)).text()
    assert 'data-testid="clone-warning"' in html and "may have been copied" in html


async def test_bad_bodies_are_4xx(client: Client, authenticator: SoftAuthenticator) -> None:
    await _signup(client)
    await _register(client, authenticator)
    options = await _sign_in_options(client)
    huge = {
        "challenge_id": options["challenge_id"],
        "credential": {"id": "x" * (128 * 1024), "rawId": "x", "type": "public-key"},
    }
    too_big = await _post(client, routes.API_PASSKEY_AUTHENTICATE_FINISH, huge)
    assert too_big.status == 413
    assert (await too_big.json())["error"]["code"] == "invalid_request"
    for body in (
        {"challenge_id": "not-a-uuid", "credential": {}},
        {"challenge_id": options["challenge_id"]},
        {"challenge_id": options["challenge_id"], "credential": "text"},
    ):
        response = await _post(client, routes.API_PASSKEY_AUTHENTICATE_FINISH, body)
        _refused(response.status, await response.json(), expected=400, code="invalid_request")
    garbage = await _post(
        client,
        routes.API_PASSKEY_AUTHENTICATE_FINISH,
        {"challenge_id": options["challenge_id"], "credential": {"id": 1, "response": []}},
    )
    _refused(garbage.status, await garbage.json())
    page = await _post(client, routes.PASSKEY_AUTHENTICATE_FINISH, huge)
    assert page.status == 413 and page.content_type == "application/json"


async def test_sign_in_options_and_finish_are_rate_limited_apart(
    aiohttp_client: Any, db: DatabaseSettings, authenticator: SoftAuthenticator
) -> None:
    env = core_env(db, AUTHARA_RATE_LIMIT_PASSKEY_LOGIN_IP_LIMIT="2")
    client = await aiohttp_client(create_app(load_settings(env)))
    await client.get(routes.API_CSRF)
    first = await _sign_in_options(client)
    await _sign_in_options(client, routes.PASSKEY_AUTHENTICATE_OPTIONS)
    third = await _post(client, routes.API_PASSKEY_AUTHENTICATE_OPTIONS)
    _refused(third.status, await third.json(), expected=429, code="rate_limited")
    body = {"challenge_id": first["challenge_id"], "credential": {"id": "x"}}
    for _ in range(2):  # its own bucket: refused as a bad credential, not as too many
        response = await _post(client, routes.API_PASSKEY_AUTHENTICATE_FINISH, body)
        assert response.status == 401
    limited = await _post(client, routes.API_PASSKEY_AUTHENTICATE_FINISH, body)
    _refused(limited.status, await limited.json(), expected=429, code="rate_limited")


# The pages


async def test_signup_offers_the_passkey_setup_page(client: Client) -> None:
    token = await csrf_token(client, "/auth/signup")
    response = await client.post(
        "/auth/signup?return_to=/private",
        data={"email": "ada@example.com", "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303
    assert response.headers["Location"] == "/auth/passkeys/setup?return_to=%2Fprivate"
    page = await client.get(response.headers["Location"])
    html = await page.text()
    assert page.status == 200
    assert 'data-testid="add-passkey"' in html and "/auth/static/passkeys.js" in html
    assert '<a href="/private" data-testid="skip-passkey">' in html
    assert "Passkeys need JavaScript" in html  # the <noscript> explanation
    forget_session(client)
    anonymous = await client.get(routes.PASSKEY_SETUP, allow_redirects=False)
    assert anonymous.status == 303


async def test_the_login_page_offers_passkey_autofill(client: Client) -> None:
    html = await (await client.get("/auth/login?return_to=/private")).text()
    assert 'autocomplete="username webauthn"' in html
    assert 'data-options-url="/auth/passkeys/authenticate/options"' in html
    assert 'data-return-to="/private"' in html
    assert re.search(r'<script src="/auth/static/passkeys.js" defer></script>', html)
    script = await client.get("/auth/static/passkeys.js")
    assert script.status == 200
    assert "parseCreationOptionsFromJSON" in await script.text()


async def test_the_pages_register_and_sign_in(
    client: Client, authenticator: SoftAuthenticator, conn: asyncpg.Connection
) -> None:
    await _signup(client)
    started = await (await _post(client, routes.PASSKEY_REGISTER_OPTIONS)).json()
    finish = await _post(
        client,
        routes.PASSKEY_REGISTER_FINISH,
        {
            "challenge_id": started["challenge_id"],
            "credential": authenticator.register(started["options"]),
            "platform_hint": "macOS",
            "return_to": "/private",
        },
        **{"User-Agent": MAC_CHROME},
    )
    assert finish.status == 200
    assert await finish.json() == {"ok": True, "return_to": "/private"}
    forget_session(client)

    options = await _sign_in_options(client, routes.PASSKEY_AUTHENTICATE_OPTIONS)
    response = await _post(
        client,
        routes.PASSKEY_AUTHENTICATE_FINISH,
        {
            "challenge_id": options["challenge_id"],
            "credential": authenticator.assertion(options["options"]),
            "return_to": "//evil.example/x",
        },
    )
    assert response.status == 200
    assert await response.json() == {"ok": True, "return_to": "/"}
    assert cookies.ACCESS.name in response.cookies
    forget_session(client)
    options = await _sign_in_options(client, routes.PASSKEY_AUTHENTICATE_OPTIONS)
    failed = await _post(
        client,
        routes.PASSKEY_AUTHENTICATE_FINISH,
        {
            "challenge_id": options["challenge_id"],
            "credential": authenticator.assertion(options["options"], tamper=True),
        },
    )
    assert failed.status == 422 and failed.content_type == "application/json"
    assert (await failed.json())["error"] == {
        "code": "invalid_request",
        "message": "Passkey sign-in failed.",
    }
    no_csrf = await client.post(routes.PASSKEY_AUTHENTICATE_OPTIONS, json={})
    assert no_csrf.status == 403 and no_csrf.content_type == "application/json"


async def test_register_finish_can_answer_the_account_section(
    client: Client, authenticator: SoftAuthenticator
) -> None:
    await _signup(client)
    started = await (await _post(client, routes.PASSKEY_REGISTER_OPTIONS)).json()
    response = await _post(
        client,
        routes.PASSKEY_REGISTER_FINISH,
        {
            "challenge_id": started["challenge_id"],
            "credential": authenticator.register(started["options"]),
        },
        **{"X-Authara-Response": "linked-providers-section", "User-Agent": MAC_CHROME},
    )
    assert response.status == 200 and response.content_type == "text/html"
    html = await response.text()
    assert '<section id="passkeys"' in html and "Chrome on macOS • Jan 2026" in html
    assert "<html" not in html


async def test_the_account_page_lists_renames_and_deletes_passkeys(
    client: Client, authenticator: SoftAuthenticator, conn: asyncpg.Connection
) -> None:
    await _signup(client)
    await _register(client, authenticator)
    html = await (await client.get(routes.ACCOUNT)).text()
    assert "Chrome on macOS • Jan 2026" in html and 'data-testid="passkey"' in html
    passkey_id = await conn.fetchval("SELECT id FROM passkeys")
    token = jar_csrf(client)
    renamed = await client.post(
        routes.PASSKEY_RENAME.format(passkeyID=passkey_id),
        data={"name": "  Work   laptop ", "csrf_token": token},
        allow_redirects=False,
    )
    assert renamed.status == 303
    assert await conn.fetchval("SELECT name FROM passkeys") == "Work laptop"
    blank = await client.post(
        routes.PASSKEY_RENAME.format(passkeyID=passkey_id),
        data={"name": "   ", "csrf_token": token},
    )
    assert blank.status == 422
    deleted = await client.post(
        routes.PASSKEY_DELETE.format(passkeyID=passkey_id),
        data={"csrf_token": token},
        allow_redirects=False,
    )
    assert deleted.status == 303 and deleted.headers["Location"] == routes.ACCOUNT
    assert await conn.fetchval("SELECT count(*) FROM passkeys") == 0
    missing = await client.post(
        routes.PASSKEY_DELETE.format(passkeyID=passkey_id), data={"csrf_token": token}
    )
    assert missing.status == 404


async def test_the_last_way_to_sign_in_cannot_be_deleted(
    client: Client, authenticator: SoftAuthenticator, conn: asyncpg.Connection
) -> None:
    await _signup(client)
    await _register(client, authenticator)
    token = jar_csrf(client)
    # With a passkey, the password is no longer the only way in: it can go.
    unlinked = await client.post(
        routes.PROVIDER_UNLINK.format(provider="password"),
        data={"csrf_token": token},
        allow_redirects=False,
    )
    assert unlinked.status == 303
    assert await conn.fetchval("SELECT count(*) FROM auth_providers") == 0
    passkey_id = await conn.fetchval("SELECT id FROM passkeys")

    page = await client.post(
        routes.PASSKEY_DELETE.format(passkeyID=passkey_id), data={"csrf_token": token}
    )
    assert page.status == 422
    assert "This passkey is your only way to sign in" in await page.text()
    api = await client.delete(
        routes.API_PASSKEY.format(passkeyID=passkey_id), headers=_headers(client)
    )
    _refused(api.status, await api.json(), expected=422, code="invalid_request")
    assert await conn.fetchval("SELECT count(*) FROM passkeys") == 1


async def test_a_passkey_flagged_as_a_clone_is_no_way_in_for_the_last_method_guards(
    client: Client, authenticator: SoftAuthenticator, conn: asyncpg.Connection
) -> None:
    await _signup(client)
    await _register(client, authenticator)
    await conn.execute("UPDATE passkeys SET clone_warning = true")
    token = jar_csrf(client)
    # The flagged passkey signs in no more: the password stays the only way in.
    unlinked = await client.post(
        routes.PROVIDER_UNLINK.format(provider="password"), data={"csrf_token": token}
    )
    assert unlinked.status == 200  # back on the account page, with the reason
    assert await conn.fetchval("SELECT count(*) FROM auth_providers") == 1

    # A good passkey besides the flagged one: the password can go, the good passkey cannot.
    await _register(client, SoftAuthenticator(origin=PUBLIC_URL, rp_id=RP_ID))
    good = await conn.fetchval("SELECT id FROM passkeys WHERE NOT clone_warning")
    flagged = await conn.fetchval("SELECT id FROM passkeys WHERE clone_warning")
    unlinked = await client.post(
        routes.PROVIDER_UNLINK.format(provider="password"),
        data={"csrf_token": token},
        allow_redirects=False,
    )
    assert unlinked.status == 303
    refused = await client.delete(
        routes.API_PASSKEY.format(passkeyID=good), headers=_headers(client)
    )
    _refused(refused.status, await refused.json(), expected=422, code="invalid_request")
    gone = await client.delete(
        routes.API_PASSKEY.format(passkeyID=flagged), headers=_headers(client)
    )
    assert gone.status == 204
    assert await conn.fetchval("SELECT id FROM passkeys") == good


async def test_the_api_manages_only_ones_own_passkeys(
    client: Client, authenticator: SoftAuthenticator, conn: asyncpg.Connection
) -> None:
    await _signup(client, "grace@example.com")
    await _register(client, authenticator)
    graces = await conn.fetchval("SELECT id FROM passkeys")
    forget_session(client)
    await _signup(client, "ada@example.com")
    other = SoftAuthenticator(origin=PUBLIC_URL, rp_id=RP_ID)
    await _register(client, other)
    for response in (
        await client.patch(
            routes.API_PASSKEY.format(passkeyID=graces),
            json={"name": "Mine now"},
            headers=_headers(client),
        ),
        await client.delete(routes.API_PASSKEY.format(passkeyID=graces), headers=_headers(client)),
    ):
        _refused(response.status, await response.json(), expected=404, code="not_found")
    mine = (await (await client.get(routes.API_PASSKEYS)).json())["passkeys"][0]["id"]
    renamed = await client.patch(
        routes.API_PASSKEY.format(passkeyID=mine),
        json={"name": "Phone"},
        headers=_headers(client),
    )
    assert renamed.status == 200 and (await renamed.json())["name"] == "Phone"
    bad_id = await client.delete(
        routes.API_PASSKEY.format(passkeyID="nope"), headers=_headers(client)
    )
    assert bad_id.status == 400
    gone = await client.delete(routes.API_PASSKEY.format(passkeyID=mine), headers=_headers(client))
    assert gone.status == 204
    assert await conn.fetchval("SELECT count(*) FROM passkeys") == 1


async def test_expired_challenges_are_cleaned_up(
    aiohttp_client: Any, db: DatabaseSettings, clock: FakeClock, conn: asyncpg.Connection
) -> None:
    app = create_app(load_settings(core_env(db)), clock=clock)
    client = await aiohttp_client(app)
    await _sign_in_options(client)
    clock.advance(minutes=6)
    assert await app[SERVICES_KEY].passkeys.cleanup() == 1
    assert await conn.fetchval("SELECT count(*) FROM webauthn_challenges") == 0


async def test_the_page_routes_answering_json_refuse_an_anonymous_caller_with_an_envelope(
    client: Client,
) -> None:
    # passkeys.js parses the answer: a redirect to the login page would be unreadable HTML.
    await client.get(routes.API_CSRF)
    for path in (routes.PASSKEY_REGISTER_OPTIONS, routes.PASSKEY_REGISTER_FINISH):
        response = await client.post(path, json={}, headers=_headers(client), allow_redirects=False)
        assert response.status == 401, path
        assert (await response.json())["error"]["code"] == "unauthorized"
    client.session.cookie_jar.update_cookies({cookies.REFRESH.name: "not-a-token"})
    refused = await _post(client, routes.PASSKEY_REGISTER_OPTIONS)
    assert refused.status == 401
    assert (await refused.json())["error"]["code"] == "unauthorized"
