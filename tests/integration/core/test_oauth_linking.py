"""Linking: an email collision asks the existing account to prove itself; link and unlink."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import cookies
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.settings import load_settings
from tests.coresupport import FakeClock
from tests.integration.core.oauthsupport import (
    PASSWORD,
    at_provider,
    continue_url,
    counts,
    forget_session,
    jar_csrf,
    oauth_env,
    password_signup,
    provider_env,
    query_of,
    session_cookies,
    sign_in,
)
from tests.oauthstubs import Account, OidcStandIn, serving

LINK_ID = re.compile(r'name="link_id" value="([^"]+)"')


@pytest.fixture
async def corp() -> AsyncIterator[OidcStandIn]:
    stand_in = OidcStandIn(account=Account("corp-ada", "ada@example.com"))
    async with serving(stand_in):
        yield stand_in


@pytest.fixture
async def acme() -> AsyncIterator[OidcStandIn]:
    stand_in = OidcStandIn(account=Account("acme-ada", "ada@example.com"))
    async with serving(stand_in):
        yield stand_in


@pytest.fixture
def env(db: DatabaseSettings, corp: OidcStandIn, acme: OidcStandIn) -> dict[str, str]:
    return oauth_env(
        db,
        {
            "corp": provider_env("corp", corp.url),
            "acme": provider_env("acme", acme.url, DISPLAY_NAME="Acme SSO"),
        },
        AUTHARA_RATE_LIMIT_LOGIN_EMAIL_LIMIT="3",
    )


@pytest.fixture
async def client(aiohttp_client, env: dict[str, str], clock: FakeClock):
    return await aiohttp_client(create_app(load_settings(env), clock=clock))


async def _collide(client: TestClient[Any, Any], provider: str = "corp") -> str:
    """Sign in with a provider whose email has a password account; return the link page URL."""
    response = await sign_in(client, provider, return_to="/private")
    assert response.status == 303
    location = response.headers["Location"]
    assert location.startswith("/auth/provider-links/confirm?")
    assert session_cookies(response) == set()
    return location


async def _confirm(client: TestClient[Any, Any], link_page: str, password: str):
    page = await client.get(link_page)
    assert page.status == 200
    return await client.post(
        "/auth/provider-links/confirm",
        data={
            "link_id": query_of(link_page)["link_id"],
            "password": password,
            "csrf_token": jar_csrf(client),
        },
        allow_redirects=False,
    )


async def _me(client: TestClient[Any, Any]) -> str:
    response = await client.get("/auth/api/v1/user")
    assert response.status == 200
    return (await response.json())["id"]


async def test_existing_email_links_only_after_the_password(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    await password_signup(client, "ada@example.com")
    owner = await _me(client)
    forget_session(client)
    link_page = await _collide(client)

    page = await client.get(link_page)
    html = await page.text()
    assert 'data-testid="link-email">ada@example.com<' in html
    assert LINK_ID.search(html).group(1) == query_of(link_page)["link_id"]
    assert await counts(conn) == (1, 0, 1)  # nothing linked yet, no new session

    wrong = await _confirm(client, link_page, "not the password")
    assert wrong.status == 422
    assert "Invalid password." in await wrong.text()
    assert await counts(conn) == (1, 0, 1)

    right = await _confirm(client, link_page, PASSWORD)
    assert right.status == 303
    assert right.headers["Location"] == "/private"
    assert session_cookies(right) == {cookies.ACCESS.name, cookies.REFRESH.name}
    assert await _me(client) == owner
    assert await counts(conn) == (1, 1, 2)

    # The next sign-in with that provider goes straight in.
    forget_session(client)
    again = await sign_in(client, "corp")
    assert again.headers["Location"] == "/private"
    assert await _me(client) == owner


async def test_a_used_link_cannot_be_confirmed_again(client: TestClient[Any, Any]) -> None:
    await password_signup(client, "ada@example.com")
    forget_session(client)
    link_page = await _collide(client)
    assert (await _confirm(client, link_page, PASSWORD)).status == 303
    forget_session(client)

    replay = await client.get(link_page, allow_redirects=False)

    assert replay.status == 303
    assert replay.headers["Location"] == "/auth/login"
    page = await client.get("/auth/login")
    assert "This link request is invalid or has expired" in await page.text()


async def test_the_link_page_belongs_to_the_browser_that_signed_in(
    client: TestClient[Any, Any], aiohttp_client, env: dict[str, str], conn: asyncpg.Connection
) -> None:
    await password_signup(client, "ada@example.com")
    forget_session(client)
    link_page = await _collide(client)
    other = await aiohttp_client(create_app(load_settings(env)))
    await other.get("/auth/oauth/corp/start", allow_redirects=False)  # its own binding cookie
    assert cookies.OAUTH_FLOW.name in {m.key for m in other.session.cookie_jar}

    response = await other.get(link_page, allow_redirects=False)
    assert response.status == 303
    token = (await other.get("/auth/login")).cookies[cookies.CSRF.name].value
    post = await other.post(
        "/auth/provider-links/confirm",
        data={"link_id": query_of(link_page)["link_id"], "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert post.status == 303 and post.headers["Location"] == "/auth/login"
    assert await counts(conn) == (1, 0, 1)


async def test_an_expired_link_is_refused(
    client: TestClient[Any, Any], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    await password_signup(client, "ada@example.com")
    forget_session(client)
    link_page = await _collide(client)
    await client.get(link_page)
    clock.advance(minutes=11)
    response = await client.post(
        "/auth/provider-links/confirm",
        data={
            "link_id": query_of(link_page)["link_id"],
            "password": PASSWORD,
            "csrf_token": jar_csrf(client),
        },
        allow_redirects=False,
    )
    assert response.status == 303 and response.headers["Location"] == "/auth/login"
    assert await counts(conn) == (1, 0, 1)


async def test_confirming_with_a_password_counts_as_a_login_attempt(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    await password_signup(client, "ada@example.com")
    forget_session(client)
    link_page = await _collide(client)
    statuses = [(await _confirm(client, link_page, f"wrong {n}")).status for n in range(3)]
    blocked = await _confirm(client, link_page, PASSWORD)

    assert statuses == [422, 422, 422]
    assert blocked.status == 429
    assert "Too many attempts" in await blocked.text()
    assert int(blocked.headers["Retry-After"]) >= 1
    assert await counts(conn) == (1, 0, 1)


async def test_confirming_needs_csrf(client: TestClient[Any, Any]) -> None:
    await password_signup(client, "ada@example.com")
    forget_session(client)
    link_page = await _collide(client)
    response = await client.post(
        "/auth/provider-links/confirm",
        data={"link_id": query_of(link_page)["link_id"], "password": PASSWORD},
    )
    assert response.status == 403


async def test_an_already_linked_provider_can_prove_ownership(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    assert (await sign_in(client, "corp")).status == 303  # account made through corp
    owner = await _me(client)
    forget_session(client)
    link_page = await _collide(client, "acme")
    html = await (await client.get(link_page)).text()
    assert 'name="password"' not in html  # the account has no password
    assert "Sign in with Corp instead" in html

    proof = await client.post(
        "/auth/provider-links/confirm",
        data={
            "link_id": query_of(link_page)["link_id"],
            "provider": "corp",
            "csrf_token": jar_csrf(client),
        },
    )
    assert proof.status == 200  # "Continuing to Corp…" (a form may not redirect off-site)
    callback = await at_provider(continue_url(await proof.text()))
    done = await client.get(callback, allow_redirects=False)

    assert done.status == 303 and done.headers["Location"] == "/private"
    assert await _me(client) == owner
    rows = await conn.fetch("SELECT provider FROM auth_providers ORDER BY provider")
    assert [r["provider"] for r in rows] == ["acme", "corp"]


async def test_proof_with_an_identity_of_someone_else_is_refused(
    client: TestClient[Any, Any], corp: OidcStandIn, conn: asyncpg.Connection
) -> None:
    assert (await sign_in(client, "corp")).status == 303
    forget_session(client)
    link_page = await _collide(client, "acme")
    await client.get(link_page)
    proof = await client.post(
        "/auth/provider-links/confirm",
        data={
            "link_id": query_of(link_page)["link_id"],
            "provider": "corp",
            "csrf_token": jar_csrf(client),
        },
    )
    corp.account = Account("corp-mallory", "mallory@example.com")
    done = await client.get(await at_provider(continue_url(await proof.text())))

    assert done.status == 403
    assert "not linked to the account you are linking" in await done.text()
    assert await counts(conn) == (1, 1, 1)


async def test_account_page_needs_a_session(client: TestClient[Any, Any]) -> None:
    response = await client.get("/auth/account", allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/auth/login?return_to=%2Fauth%2Faccount"


async def test_link_a_provider_from_the_account_page(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    await password_signup(client, "grace@example.com")
    page = await (await client.get("/auth/account")).text()
    assert 'data-testid="account-email">grace@example.com<' in page
    assert "Link Corp" in page and "Link Acme SSO" in page

    started = await client.post("/auth/oauth/corp/link", data={"csrf_token": jar_csrf(client)})
    assert started.status == 200
    callback = await at_provider(continue_url(await started.text()))
    done = await client.get(callback, allow_redirects=False)

    assert done.status == 303 and done.headers["Location"] == "/auth/account"
    assert session_cookies(done) == set()  # the current session goes on
    account = await (await client.get("/auth/account")).text()
    assert "Corp is now linked." in account
    assert 'data-testid="method-corp"' in account and "Link Corp" not in account
    # The provider's email differs from the account's: an explicit link does not care.
    assert await counts(conn) == (1, 1, 1)


async def test_linking_needs_csrf_and_a_session(client: TestClient[Any, Any]) -> None:
    refused = await client.post("/auth/oauth/corp/link", data={})
    assert refused.status == 403
    await client.get("/auth/login")
    anonymous = await client.post(
        "/auth/oauth/corp/link", data={"csrf_token": jar_csrf(client)}, allow_redirects=False
    )
    assert anonymous.status == 303
    assert anonymous.headers["Location"].startswith("/auth/login")


async def test_an_identity_of_another_account_cannot_be_linked(
    client: TestClient[Any, Any], aiohttp_client, env: dict[str, str], conn: asyncpg.Connection
) -> None:
    assert (await sign_in(client, "corp")).status == 303  # corp-ada belongs to ada
    other = await aiohttp_client(create_app(load_settings(env)))
    await password_signup(other, "grace@example.com")
    started = await other.post("/auth/oauth/corp/link", data={"csrf_token": jar_csrf(other)})

    done = await other.get(await at_provider(continue_url(await started.text())))

    assert done.status == 409
    assert "already linked to another" in await done.text()
    assert await counts(conn) == (2, 1, 2)


async def test_a_link_flow_dies_with_its_session(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    await password_signup(client, "grace@example.com")
    started = await client.post("/auth/oauth/corp/link", data={"csrf_token": jar_csrf(client)})
    await conn.execute("UPDATE sessions SET revoked_at = now()")

    done = await client.get(await at_provider(continue_url(await started.text())))

    assert done.status == 401
    assert await counts(conn) == (1, 0, 1)


async def test_unlink_refuses_the_last_method_and_allows_others(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    assert (await sign_in(client, "corp")).status == 303
    await client.get("/auth/account")

    refused = await client.post(
        "/auth/providers/corp/unlink", data={"csrf_token": jar_csrf(client)}, allow_redirects=False
    )
    assert refused.status == 303 and refused.headers["Location"] == "/auth/account"
    page = await (await client.get("/auth/account")).text()
    assert "You cannot remove your only way to sign in." in page
    assert await counts(conn) == (1, 1, 1)

    started = await client.post("/auth/oauth/acme/link", data={"csrf_token": jar_csrf(client)})
    await client.get(await at_provider(continue_url(await started.text())))
    removed = await client.post(
        "/auth/providers/corp/unlink", data={"csrf_token": jar_csrf(client)}, allow_redirects=False
    )
    assert removed.status == 303 and removed.headers["Location"] == "/auth/account"
    page = await (await client.get("/auth/account")).text()
    assert "Corp was removed." in page
    rows = await conn.fetch("SELECT provider FROM auth_providers")
    assert [r["provider"] for r in rows] == ["acme"]


async def test_unlink_password_when_a_provider_remains(
    client: TestClient[Any, Any], conn: asyncpg.Connection
) -> None:
    await password_signup(client, "ada@example.com")
    started = await client.post("/auth/oauth/corp/link", data={"csrf_token": jar_csrf(client)})
    await client.get(await at_provider(continue_url(await started.text())))

    removed = await client.post(
        "/auth/providers/password/unlink",
        data={"csrf_token": jar_csrf(client)},
        allow_redirects=False,
    )
    assert removed.status == 303
    last = await client.post("/auth/providers/corp/unlink", data={"csrf_token": jar_csrf(client)})
    assert last.status == 200 and str(last.url).endswith("/auth/account")  # after a 303
    assert "You cannot remove your only way to sign in." in await last.text()
    assert [r["provider"] for r in await conn.fetch("SELECT provider FROM auth_providers")] == [
        "corp"
    ]


async def test_unlink_of_something_not_linked_is_404(client: TestClient[Any, Any]) -> None:
    await password_signup(client, "ada@example.com")
    response = await client.post(
        "/auth/providers/acme/unlink", data={"csrf_token": jar_csrf(client)}
    )
    assert response.status == 404
