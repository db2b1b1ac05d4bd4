"""What a session left open elsewhere must not be able to do, and races around ending sessions.

- Changes no password confirms (PUT /users/password, adding a password) need a recent
  sign-in, like deleting an account without a password: otherwise an old session could set
  a password, sign in fresh with it, and delete or take over the account.
- A signed-out browser whose access token lives on sees no one's sessions.
- A password change drops pending password resets (one verified later would undo it).
- Ending a session while it refreshes waits instead of deadlocking.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg

from authara_contract import cookies, routes
from authara_contract.database import DatabaseSettings
from authara_core.sessions import store as session_store
from tests.coresupport import FakeClock
from tests.integration.core.conftest import ClientFactory
from tests.integration.core.oauthsupport import jar_csrf, sign_in
from tests.integration.core.test_account_self_service import (
    NEW_PASSWORD,
    PASSWORD,
    _browser,
    _login,
    _post,
    _refresh,
    _signed_up,
)
from tests.integration.core.test_account_self_service import env as account_env

env = account_env  # the fixture: an OIDC provider "corp", webhooks recorded

OTHER_PASSWORD: Final = "someone else's password"
PASSWORD_ROW: Final = (
    "SELECT p.password_hash FROM auth_providers p JOIN users u ON u.id = p.user_id"
    " WHERE u.email = $1 AND p.provider = 'password'"
)


async def _put_password(client: Any, password: str) -> Any:
    return await client.put(
        routes.API_USER_PASSWORD,
        json={"password": password},
        headers={"X-CSRF-Token": jar_csrf(client)},
    )


async def test_put_users_password_needs_a_recent_sign_in(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    before = await conn.fetchval(PASSWORD_ROW, "ada@example.com")
    clock.advance(minutes=11)
    assert await _refresh(client) == 200  # a live session, signed in 11 minutes ago
    stale = await _put_password(client, OTHER_PASSWORD)
    assert stale.status == 403
    assert (await stale.json())["error"]["code"] == "forbidden"
    assert await conn.fetchval(PASSWORD_ROW, "ada@example.com") == before
    fresh = await _browser(aiohttp_client, env, clock)
    assert await _login(fresh, "ada@example.com", OTHER_PASSWORD) == 422
    assert await _login(fresh, "ada@example.com", PASSWORD) == 303
    assert (await _put_password(fresh, NEW_PASSWORD)).status == 204  # just signed in: allowed


async def test_adding_a_password_needs_a_recent_sign_in(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    assert (await sign_in(client, "corp")).status == 303  # an OAuth-only account
    clock.advance(minutes=11)
    assert await _refresh(client) == 200
    added = await _post(
        client,
        routes.PASSWORD_LINK,
        {"password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
    )
    assert added.status == 303 and added.headers["Location"] == routes.ACCOUNT
    page = await (await client.get(routes.ACCOUNT)).text()
    assert "sign in again" in page and 'data-testid="sign-in-again"' in page
    assert await conn.fetchval(PASSWORD_ROW, "lin@example.com") is None


async def test_a_signed_out_browser_cannot_list_sessions(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock
) -> None:
    laptop = await _browser(aiohttp_client, env, clock)
    await _signed_up(laptop)
    phone = await _browser(aiohttp_client, env, clock)
    assert await _login(phone, "ada@example.com", PASSWORD) == 303
    done = await phone.post(
        routes.API_SESSIONS_REVOKE_OTHERS, headers={"X-CSRF-Token": jar_csrf(phone)}
    )
    assert (await done.json())["revoked"] == 1
    listed = await laptop.get(routes.API_SESSIONS)  # its access token has not expired
    assert listed.status == 401
    assert (await listed.json())["error"]["code"] == "unauthorized"
    page = await laptop.get(routes.ACCOUNT, allow_redirects=False)
    assert page.status == 303 and page.headers["Location"].startswith(routes.LOGIN)
    assert (await phone.get(routes.API_SESSIONS)).status == 200


async def test_changing_the_password_drops_pending_resets(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    started = await client.post(
        routes.API_PASSWORD_RESET_CHALLENGES,
        json={"email": "ada@example.com", "new_password": OTHER_PASSWORD},
        headers={"X-CSRF-Token": jar_csrf(client)},
    )
    assert started.status == 202
    assert await conn.fetchval("SELECT count(*) FROM pending_password_resets") == 1
    changed = await _post(
        client,
        routes.PASSWORD_CHANGE,
        {
            "current_password": PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm_password": NEW_PASSWORD,
        },
    )
    assert changed.status == 303
    assert await conn.fetchval("SELECT count(*) FROM pending_password_resets") == 0


async def test_ending_a_session_while_it_refreshes_waits_instead_of_deadlocking(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, db: DatabaseSettings
) -> None:
    """The refresh holds its token and then touches its session; the revocation waits."""
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    server = {"search_path": db.schema}
    refresher = await asyncpg.connect(db.url(), server_settings=server)
    revoker = await asyncpg.connect(db.url(), server_settings=server)
    try:
        token_hash, session_id, user_id = await refresher.fetchrow(
            "SELECT t.token_hash, s.id, s.user_id"
            " FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id"
        )
        now = datetime.now(UTC) + timedelta(minutes=5)
        refresh = refresher.transaction()
        await refresh.start()
        assert await session_store.lock_refresh_token(refresher, token_hash) is not None

        async def revoke() -> bool:
            async with revoker.transaction():
                return await session_store.revoke_own_session(
                    revoker, user_id=user_id, session_id=session_id, now=now
                )

        revoking = asyncio.create_task(revoke())
        await asyncio.sleep(0.3)  # the revocation is now waiting for the token's lock
        assert not revoking.done()
        await session_store.touch_session(
            refresher, session_id, now, resolution=timedelta(minutes=1)
        )
        await refresh.commit()
        assert await revoking is True
        assert await refresher.fetchval("SELECT count(*) FROM refresh_tokens") == 0
    finally:
        await refresher.close()
        await revoker.close()


async def test_two_last_admins_deleting_themselves_at_once_leave_one(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    ada = await _browser(aiohttp_client, env, clock)
    await _signed_up(ada, "ada@example.com")
    grace = await _browser(aiohttp_client, env, clock)
    await _signed_up(grace, "grace@example.com")
    await conn.execute(
        "INSERT INTO user_platform_roles (user_id, role_id)"
        " SELECT u.id, r.id FROM users u, platform_roles r WHERE r.name = 'admin'"
    )
    answers = await asyncio.gather(
        _post(ada, routes.ACCOUNT_DELETE, {"password": PASSWORD}),
        _post(grace, routes.ACCOUNT_DELETE, {"password": PASSWORD}),
    )
    assert sorted(answer.headers["Location"] for answer in answers) == [
        routes.ACCOUNT,  # refused, back to the account page
        routes.ACCOUNT_DELETED,
    ]
    assert await conn.fetchval("SELECT count(*) FROM users") == 1


def _drop_access_cookie(client: Any) -> None:
    """What the browser does once the access token expires: it stops sending it."""
    client.session.cookie_jar.clear(lambda morsel: morsel.key == cookies.ACCESS.name)


async def test_a_form_posted_after_the_access_token_expired_is_not_lost(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    _drop_access_cookie(client)
    renamed = await _post(client, routes.USERNAME_CHANGE, {"username": "ada_after_a_pause"})
    assert renamed.status == 303 and renamed.headers["Location"] == routes.ACCOUNT
    assert renamed.cookies[cookies.ACCESS.name].value  # the renewed session's cookies
    assert renamed.cookies[cookies.REFRESH.name].value
    assert await conn.fetchval("SELECT username FROM users") == "ada_after_a_pause"
    _drop_access_cookie(client)
    page = await client.get(routes.ACCOUNT, allow_redirects=False)
    assert page.status == 200 and "ada_after_a_pause" in await page.text()


async def test_a_form_posted_with_a_dead_session_goes_to_the_login_page_signed_out(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    await conn.execute("UPDATE sessions SET revoked_at = now()")
    _drop_access_cookie(client)
    refused = await _post(client, routes.USERNAME_CHANGE, {"username": "never_applied"})
    assert refused.status == 303 and refused.headers["Location"].startswith(routes.LOGIN)
    assert refused.cookies[cookies.REFRESH.name].value == ""  # cleared
    assert await conn.fetchval("SELECT username FROM users") != "never_applied"


async def test_deleting_after_the_access_token_expired_still_signs_out(
    aiohttp_client: ClientFactory, env: dict[str, str], clock: FakeClock, conn: asyncpg.Connection
) -> None:
    """The renewed session's cookies must not undo the deletion's cleared ones."""
    client = await _browser(aiohttp_client, env, clock)
    await _signed_up(client)
    _drop_access_cookie(client)
    deleted = await _post(client, routes.ACCOUNT_DELETE, {"password": PASSWORD})
    assert deleted.status == 303 and deleted.headers["Location"] == routes.ACCOUNT_DELETED
    assert deleted.cookies[cookies.ACCESS.name].value == ""
    assert deleted.cookies[cookies.REFRESH.name].value == ""
    assert await conn.fetchval("SELECT count(*) FROM users") == 0
