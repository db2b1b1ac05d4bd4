"""Every access token core issues passes the Go SDK's verifier (authara-go v0.13, reference §15.1).

`go_sdk_accepts` re-implements the SDK's acceptance rules with PyJWT, independently of the
contract's own decoder, and every issuing path's token goes through it: password login,
HTML and JSON signup, OAuth sign-up (redirect flow and Google ID token), cookie and body
refresh, an organization switch (and a refresh after it), invitation signup (page and code),
and a refresh sent server to server exactly as the SDK's RequireAuthWithRefresh sends it.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Mapping
from http.cookies import SimpleCookie
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import aiohttp
import asyncpg
import jwt
import pytest
from aiohttp.test_utils import TestClient
from aiohttp.web import Application

from authara_contract import cookies, routes
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.settings import load_settings
from tests.coresupport import ISSUER, TEST_KEY, TEST_KID, core_env
from tests.integration.core.conftest import csrf_token
from tests.integration.core.oauthsupport import oauth_env, provider_env, sign_in
from tests.oauthstubs import CLIENT_ID, Account, OidcStandIn, google_stand_in, serving

SDK_KEYS: Final = {TEST_KID: base64.b64decode(TEST_KEY)}
SDK_AUDIENCE: Final = "app"
LEEWAY_S: Final = 120
NIL: Final = uuid.UUID(int=0)
EMAIL: Final = "ada@example.com"
PASSWORD: Final = "correct horse battery"
INTERNAL_TOKEN: Final = "internal-token"


def _uuid(value: object) -> uuid.UUID:
    assert isinstance(value, str), value
    return uuid.UUID(value)


def go_sdk_accepts(token: str) -> dict[str, Any]:
    """Verify a token as authara-go does; return its claims or fail the test."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"
    assert header["kid"] in SDK_KEYS
    claims: dict[str, Any] = jwt.decode(
        token,
        SDK_KEYS[header["kid"]],
        algorithms=["HS256"],
        issuer=ISSUER,
        audience=SDK_AUDIENCE,
        leeway=LEEWAY_S,
        options={"require": ["exp", "iss", "aud", "sub"]},
    )
    assert claims["iss"] == ISSUER  # exact, not a prefix
    _uuid(claims["sub"])
    assert _uuid(claims["sid"]) != NIL
    assert _uuid(claims["org_id"]) != NIL
    assert isinstance(claims["org_role"], str) and claims["org_role"].strip()
    roles = claims.get("roles")
    assert roles is None or all(
        isinstance(role, str) and role.startswith("authara:") for role in roles
    )
    return claims


@pytest.fixture
async def corp() -> AsyncIterator[OidcStandIn]:
    stand_in = OidcStandIn()
    async with serving(stand_in):
        yield stand_in


@pytest.fixture
async def google() -> AsyncIterator[OidcStandIn]:
    stand_in = google_stand_in()
    stand_in.account = Account("g-123", "ada@gmail.com")
    async with serving(stand_in):
        yield stand_in


@pytest.fixture
async def client(
    aiohttp_client: Any, db: DatabaseSettings, corp: OidcStandIn, google: OidcStandIn
) -> TestClient[Any, Application]:
    env = oauth_env(
        db,
        {"corp": provider_env("corp", corp.url)},
        AUTHARA_OAUTH_PROVIDERS="corp,google",
        AUTHARA_OAUTH_GOOGLE_CLIENT_ID=CLIENT_ID,
        AUTHARA_OAUTH_GOOGLE_ISSUER=google.url,
    )
    return await aiohttp_client(create_app(load_settings(env)))  # type: ignore[no-any-return]


def _jar(client: TestClient[Any, Application]) -> dict[str, str]:
    found = client.session.cookie_jar.filter_cookies(client.make_url("/"))
    return {name: morsel.value for name, morsel in found.items()}


async def _user(client: TestClient[Any, Application]) -> dict[str, Any]:
    response = await client.get(routes.API_USER)
    assert response.status == 200
    body: dict[str, Any] = await response.json()
    return body


async def _api(
    client: TestClient[Any, Application], path: str, body: Mapping[str, str], status: int
) -> dict[str, Any]:
    token = await csrf_token(client, routes.LOGIN)
    response = await client.post(path, json=body, headers={"X-CSRF-Token": token})
    assert response.status == status, await response.text()
    answer: dict[str, Any] = await response.json()
    assert answer["access_token"] == _jar(client)[cookies.ACCESS.name]
    return answer


def _organization(claims: Mapping[str, Any], user: Mapping[str, Any]) -> None:
    """The token's organization is the one /user reports, and the user owns it."""
    assert claims["sub"] == user["id"]
    assert claims["org_id"] == user["organization"]["id"]
    assert claims["org_role"] == user["organization"]["role"] == "owner"


async def test_html_signup_token(client: TestClient[Any, Application]) -> None:
    token = await csrf_token(client, routes.SIGNUP)
    response = await client.post(
        routes.SIGNUP,
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert response.status == 303

    claims = go_sdk_accepts(_jar(client)[cookies.ACCESS.name])

    _organization(claims, await _user(client))


async def test_json_signup_and_password_login_tokens(
    client: TestClient[Any, Application],
) -> None:
    credentials = {"email": EMAIL, "password": PASSWORD}
    signed_up = await _api(client, routes.API_SIGNUP_DIRECT, credentials, 201)
    client.session.cookie_jar.clear()
    logged_in = await _api(client, routes.API_LOGIN, credentials, 200)

    first = go_sdk_accepts(signed_up["access_token"])
    second = go_sdk_accepts(logged_in["access_token"])

    assert second["sid"] != first["sid"]
    assert second["org_id"] == first["org_id"]  # the personal organization, both times
    _organization(second, await _user(client))


async def test_oauth_signup_token(client: TestClient[Any, Application]) -> None:
    response = await sign_in(client, "corp")
    assert response.status == 303, await response.text()

    claims = go_sdk_accepts(_jar(client)[cookies.ACCESS.name])

    _organization(claims, await _user(client))


async def test_google_id_token_signup_token(
    client: TestClient[Any, Application], google: OidcStandIn
) -> None:
    options = await client.get(routes.API_GOOGLE_OPTIONS)
    nonce = (await options.json())["nonce"]
    csrf = (await (await client.get(routes.API_CSRF)).json())["csrf_token"]
    response = await client.post(
        routes.API_GOOGLE_LOGIN,
        json={"credential": google.credential(nonce), "nonce": nonce},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status == 200, await response.text()

    claims = go_sdk_accepts((await response.json())["access_token"])

    _organization(claims, await _user(client))


async def test_cookie_and_body_refresh_tokens(client: TestClient[Any, Application]) -> None:
    issued = await _api(
        client, routes.API_SIGNUP_DIRECT, {"email": EMAIL, "password": PASSWORD}, 201
    )
    by_body = await client.post(
        routes.API_TOKENS_REFRESH, json={"refresh_token": issued["refresh_token"]}
    )
    assert by_body.status == 200
    body_claims = go_sdk_accepts((await by_body.json())["access_token"])
    csrf = _jar(client)[cookies.CSRF.name]
    by_cookie = await client.post(routes.API_SESSIONS_REFRESH, headers={"X-CSRF-Token": csrf})
    assert by_cookie.status == 200, await by_cookie.text()

    cookie_claims = go_sdk_accepts(by_cookie.cookies[cookies.ACCESS.name].value)

    original = go_sdk_accepts(issued["access_token"])
    assert body_claims["org_id"] == cookie_claims["org_id"] == original["org_id"]
    assert body_claims["sid"] == cookie_claims["sid"] == original["sid"]


async def test_server_to_server_refresh_as_require_auth_with_refresh_sends_it(
    client: TestClient[Any, Application],
) -> None:
    await _api(client, routes.API_SIGNUP_DIRECT, {"email": EMAIL, "password": PASSWORD}, 201)
    browser = _jar(client)
    # What the app received from the browser: its whole Cookie header, access token expired
    # or not (the SDK refreshes whenever its fast path fails).
    cookie_header = "; ".join(f"{name}={value}" for name, value in browser.items())

    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as app_server,
        app_server.post(
            client.make_url(routes.API_SESSIONS_REFRESH).with_query(audience=SDK_AUDIENCE),
            headers={"Cookie": cookie_header, "X-CSRF-Token": browser[cookies.CSRF.name]},
            skip_auto_headers=("User-Agent",),
        ) as response,
    ):
        assert response.status in (200, 204), await response.text()
        set_cookies = response.headers.getall("Set-Cookie")

    assert set_cookies
    jar: SimpleCookie = SimpleCookie()
    for line in set_cookies:
        jar.load(line)
    access = jar[cookies.ACCESS.name].value
    assert access
    claims = go_sdk_accepts(access)
    assert claims["org_id"] == go_sdk_accepts(browser[cookies.ACCESS.name])["org_id"]


async def _join_team(db: DatabaseSettings, user_id: str) -> uuid.UUID:
    conn = await asyncpg.connect(db.url(), server_settings={"search_path": db.schema})
    try:
        team: uuid.UUID = await conn.fetchval(
            "INSERT INTO organizations (name, kind) VALUES ('Acme', 'team') RETURNING id"
        )
        await conn.execute(
            "INSERT INTO organization_memberships (organization_id, user_id, role)"
            " VALUES ($1, $2, 'member')",
            team,
            uuid.UUID(user_id),
        )
    finally:
        await conn.close()
    return team


async def test_organization_switch_tokens(aiohttp_client: Any, db: DatabaseSettings) -> None:
    """A switched session's tokens (the switch's own and a refresh after it) pass the SDK."""
    env = core_env(db, AUTHARA_ORGANIZATION_MODE="multi")
    client = await aiohttp_client(create_app(load_settings(env)))
    issued = await _api(
        client, routes.API_SIGNUP_DIRECT, {"email": EMAIL, "password": PASSWORD}, 201
    )
    team = await _join_team(db, issued["user"]["id"])
    csrf = {"X-CSRF-Token": _jar(client)[cookies.CSRF.name]}

    switched = await client.post(
        routes.API_ORGANIZATION_SWITCH.replace("{organizationID}", str(team)), headers=csrf
    )
    assert switched.status == 200, await switched.text()
    claims = go_sdk_accepts((await switched.json())["access_token"])
    refreshed = await client.post(routes.API_SESSIONS_REFRESH, headers=csrf)
    assert refreshed.status == 200

    after = go_sdk_accepts(refreshed.cookies[cookies.ACCESS.name].value)
    assert (claims["org_id"], claims["org_role"]) == (str(team), "member")
    assert (after["org_id"], after["org_role"]) == (str(team), "member")
    assert claims["sid"] == after["sid"] == go_sdk_accepts(issued["access_token"])["sid"]


async def _invitation_token(
    client: TestClient[Any, Application], org: str, owner: str, email: str
) -> str:
    response = await client.post(
        routes.INTERNAL_INVITATIONS.format(organization_id=org),
        json={"actor_user_id": owner, "email": email, "role": "admin"},
        headers={"Authorization": f"Bearer {INTERNAL_TOKEN}"},
    )
    assert response.status == 201, await response.text()
    url = urlsplit((await response.json())["invitation"]["invite_url"])
    return parse_qs(url.query)["token"][0]


@pytest.mark.parametrize("mode", ["single", "multi"])
async def test_invitation_tokens(aiohttp_client: Any, db: DatabaseSettings, mode: str) -> None:
    """Signing up on an invitation page, or by invitation code, issues tokens the SDK takes."""
    env = core_env(db, AUTHARA_ORGANIZATION_MODE=mode, AUTHARA_INTERNAL_API_TOKEN=INTERNAL_TOKEN)
    client = await aiohttp_client(create_app(load_settings(env)))
    owner = await _api(
        client, routes.API_SIGNUP_DIRECT, {"email": EMAIL, "password": PASSWORD}, 201
    )
    org = go_sdk_accepts(owner["access_token"])["org_id"]
    if mode == "multi":  # invitations go to a team; a personal organization takes none
        org = await _team_of(client, owner["user"]["id"])

    client.session.cookie_jar.clear()
    token = await _invitation_token(client, org, owner["user"]["id"], "grace@example.com")
    csrf = await csrf_token(client, f"{routes.INVITATION_SIGNUP}?token={token}")
    response = await client.post(
        routes.INVITATION_SIGNUP,
        data={"csrf_token": csrf, "token": token, "password": PASSWORD},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    claims = go_sdk_accepts(_jar(client)[cookies.ACCESS.name])
    assert (claims["org_id"], claims["org_role"]) == (org, "admin")

    client.session.cookie_jar.clear()
    code = await _invitation_token(client, org, owner["user"]["id"], "alan@example.com")
    issued = await _api(
        client,
        routes.API_SIGNUP_DIRECT,
        {"email": "alan@example.com", "password": PASSWORD, "invitation_code": code},
        201,
    )
    go_sdk_accepts(issued["access_token"])  # in the default organization, as upstream


async def _team_of(client: TestClient[Any, Application], owner: str) -> str:
    response = await client.post(
        routes.INTERNAL_ORGANIZATIONS,
        json={"name": "Acme", "created_by_user_id": owner},
        headers={"Authorization": f"Bearer {INTERNAL_TOKEN}"},
    )
    assert response.status == 201, await response.text()
    org: str = (await response.json())["organization"]["id"]
    return org


def test_the_verifier_refuses_what_the_sdk_refuses() -> None:
    """The re-implemented rules can fail: a token without org_id, or with a blank org_role."""
    base = {
        "iss": ISSUER,
        "sub": str(uuid.uuid4()),
        "aud": ["app"],
        "iat": 1,
        "exp": 2**40,
        "sid": str(uuid.uuid4()),
        "org_id": str(uuid.uuid4()),
        "org_role": "member",
        "roles": None,
    }
    key = SDK_KEYS[TEST_KID]
    go_sdk_accepts(jwt.encode(base, key, headers={"kid": TEST_KID}))
    for bad in (
        {"org_id": None},
        {"org_id": str(NIL)},
        {"org_role": " "},
        {"sid": str(NIL)},
        {"roles": ["admin"]},
        {"iss": ISSUER + "/"},
        {"aud": ["admin"]},
    ):
        token = jwt.encode({**base, **bad}, key, headers={"kid": TEST_KID})
        with pytest.raises((AssertionError, jwt.PyJWTError)):
            go_sdk_accepts(token)
    without = {name: value for name, value in base.items() if name != "org_id"}
    with pytest.raises((AssertionError, KeyError)):
        go_sdk_accepts(jwt.encode(without, key, headers={"kid": TEST_KID}))
