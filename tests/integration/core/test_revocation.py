"""Access-token revocation in Redis (contract §5.6): every revocation path writes the contract's
key with the right TTL and publishes it, after its commit; `identify` refuses a revoked token;
Redis down: admin tokens fail closed (503), app tokens fail open (counted), writes never fail
the request; the noop provider keeps today's behaviour. A real redis-server per test.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from authara_contract import cookies
from authara_contract.claims import Audience
from authara_contract.database import DatabaseSettings
from authara_contract.revocation import (
    CHANNEL,
    TOKEN_MARK,
    Revocation,
    membership_key,
    nanoseconds,
    session_key,
    token_key,
    user_key,
)
from authara_core.admin.audit import CLI
from authara_core.app import (
    REVOCATION_STATS_KEY,
    SERVICES_KEY,
    Services,
    build_services,
    create_app,
)
from authara_core.oauth.secrets import new_secret
from authara_core.platform.errors import (
    PasskeySignInFailed,
    RefreshTokenReused,
    RevocationUnavailable,
    Unauthorized,
)
from authara_core.platform.revocation import (
    FAILED_CLOSED,
    FAILED_OPEN,
    PROBE_INTERVAL_S,
    REVOKED,
    VALID,
    WRITE_FAILED,
    Revoker,
)
from authara_core.sessions.service import IssuedSession
from authara_core.settings import load_settings
from tests.coresupport import PUBLIC_URL, FakeClock, core_env
from tests.integration.core.challengesupport import NEW_PASSWORD, PASSWORD, code_for
from tests.integration.core.internalsupport import add_member
from tests.passkeysupport import SoftAuthenticator
from tests.redissupport import RedisProcess

IP = "192.0.2.7"
ACCESS_TTL_MS = 10 * 60 * 1000  # the default AUTHARA_ACCESS_TOKEN_TTL_MINUTES
ENV = {
    "AUTHARA_CHALLENGE_ENABLED": "true",
    "AUTHARA_REFRESH_TOKEN_ROTATION_INTERVAL": "always",
    "AUTHARA_REFRESH_TOKEN_REUSE_GRACE": "0",
}
BIN = Path(sys.executable).parent


@pytest.fixture
def redis_server(tmp_path: Path) -> AsyncIterator[RedisProcess]:
    with RedisProcess.started(tmp_path) as server:
        yield server


@asynccontextmanager
async def running(env: dict[str, str], clock: FakeClock) -> AsyncIterator[Services]:
    services = build_services(load_settings(env), clock=clock, oauth_secrets=new_secret)
    await services.database.open()
    try:
        await services.organizations.pin_mode()
        yield services
    finally:
        await services.database.close()
        services.hasher.close()
        if services.cache is not None:
            await services.cache.aclose()


@pytest.fixture
async def app(
    db: DatabaseSettings, clock: FakeClock, redis_server: RedisProcess
) -> AsyncIterator[Services]:
    async with running(core_env(db, **ENV, **redis_server.environ()), clock) as services:
        yield services


@pytest.fixture
async def redis_client(redis_server: RedisProcess) -> AsyncIterator[Redis]:
    client = redis_server.settings().client()
    yield client
    await client.aclose()


class Published:
    """The revocations published on the contract's channel since the watch began."""

    def __init__(self, client: Redis) -> None:
        self._pubsub = client.pubsub()
        self.seen: list[Revocation] = []

    async def start(self) -> None:
        await self._pubsub.subscribe(CHANNEL)
        # The confirmation: the server has registered the subscription.
        confirmation = await self._pubsub.get_message(timeout=5)
        assert confirmation is not None
        assert confirmation["type"] == "subscribe"

    async def keys(self, count: int) -> set[str]:
        """Wait (5 s at most) until `count` revocations arrived; return their keys."""
        async with asyncio.timeout(5):
            while len(self.seen) < count:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                if message is not None:
                    decoded = Revocation.from_message(message["data"])
                    assert decoded is not None
                    self.seen.append(decoded)
        return {revocation.key for revocation in self.seen}

    async def close(self) -> None:
        await self._pubsub.aclose()


@pytest.fixture
async def published(redis_client: Redis) -> AsyncIterator[Published]:
    watch = Published(redis_client)
    await watch.start()
    yield watch
    await watch.close()


async def signup(app: Services, email: str = "ada@example.com") -> IssuedSession:
    return await app.accounts.signup(
        email=email, password=PASSWORD, audience=Audience.APP, user_agent="t", client_ip=IP
    )


async def another_session(app: Services, issued: IssuedSession) -> IssuedSession:
    async with app.database.transaction() as conn:
        return await app.sessions.start_in(conn, issued.user, audience=Audience.APP, user_agent="t")


async def assert_cutoff(
    client: Redis, published: Published, key: str, clock: FakeClock, *, count: int = 1
) -> None:
    """The key holds the cutoff (now, in ns) for one access-token lifetime, and was published."""
    assert key in await published.keys(count)
    assert await client.get(key) == str(nanoseconds(clock.now())).encode()
    assert ACCESS_TTL_MS - 5000 < await client.pttl(key) <= ACCESS_TTL_MS
    [message] = [revocation for revocation in published.seen if revocation.key == key]
    assert message.ttl_ms == ACCESS_TTL_MS


async def test_logout_revokes_the_token_for_its_remaining_life_and_its_session(
    app: Services, clock: FakeClock, redis_client: Redis, published: Published
) -> None:
    issued = await signup(app)
    assert await app.sessions.identify(issued.access_token, audiences=(Audience.APP,))
    clock.advance(minutes=4)
    claims = app.sessions.verify(issued.access_token, audiences=(Audience.APP,))
    await app.sessions.logout(
        refresh_token=issued.refresh_token, access_token=issued.access_token, claims=claims
    )
    token = token_key(issued.access_token)
    assert await published.keys(2) == {token, session_key(issued.session_id)}
    assert await redis_client.get(token) == TOKEN_MARK.encode()
    remaining_ms = 6 * 60 * 1000  # ten minutes of life, four gone
    assert remaining_ms - 5000 < await redis_client.pttl(token) <= remaining_ms
    await assert_cutoff(redis_client, published, session_key(issued.session_id), clock, count=2)
    with pytest.raises(Unauthorized):
        await app.sessions.identify(issued.access_token, audiences=(Audience.APP,))
    assert app.revoker.stats.checks[VALID] == 1
    assert app.revoker.stats.checks[REVOKED] == 1


async def test_revoking_one_own_session_revokes_only_its_tokens(
    app: Services, clock: FakeClock, redis_client: Redis, published: Published
) -> None:
    mine = await signup(app)
    other = await another_session(app, mine)
    claims = await app.sessions.identify(mine.access_token, audiences=(Audience.APP,))
    await app.sessions.revoke_session(claims, other.session_id)
    await assert_cutoff(redis_client, published, session_key(other.session_id), clock)
    with pytest.raises(Unauthorized):
        await app.sessions.identify(other.access_token, audiences=(Audience.APP,))
    assert await app.sessions.identify(mine.access_token, audiences=(Audience.APP,))


async def test_revoking_the_other_sessions_revokes_each_of_them(
    app: Services, clock: FakeClock, redis_client: Redis, published: Published
) -> None:
    mine = await signup(app)
    others = [await another_session(app, mine) for _ in range(2)]
    claims = await app.sessions.identify(mine.access_token, audiences=(Audience.APP,))
    assert await app.sessions.revoke_other_sessions(claims) == 2
    keys = await published.keys(2)
    assert keys == {session_key(other.session_id) for other in others}
    for other in others:
        await assert_cutoff(redis_client, published, session_key(other.session_id), clock, count=2)
        with pytest.raises(Unauthorized):
            await app.sessions.identify(other.access_token, audiences=(Audience.APP,))
    assert await app.sessions.identify(mine.access_token, audiences=(Audience.APP,))


async def test_refresh_token_reuse_revokes_the_session_tokens(
    app: Services, clock: FakeClock, redis_client: Redis, published: Published
) -> None:
    issued = await signup(app)
    successor = await app.sessions.refresh(issued.refresh_token, audience=Audience.APP)
    with pytest.raises(RefreshTokenReused):
        await app.sessions.refresh(issued.refresh_token, audience=Audience.APP)
    await assert_cutoff(redis_client, published, session_key(issued.session_id), clock)
    with pytest.raises(Unauthorized):  # the thief's fresh access token too
        await app.sessions.identify(successor.access_token, audiences=(Audience.APP,))


async def test_password_change_revokes_the_other_sessions_and_set_password_the_user(
    app: Services, clock: FakeClock, redis_client: Redis, published: Published
) -> None:
    mine = await signup(app)
    other = await another_session(app, mine)
    ended = await app.self_service.change_password(
        user_id=mine.user.id,
        session_id=mine.session_id,
        current=PASSWORD,
        new=NEW_PASSWORD,
        confirmation=NEW_PASSWORD,
        client_ip=IP,
    )
    assert ended == 1
    await assert_cutoff(redis_client, published, session_key(other.session_id), clock)
    assert await app.sessions.identify(mine.access_token, audiences=(Audience.APP,))

    await app.self_service.set_password(
        user_id=mine.user.id, session_id=mine.session_id, password=PASSWORD, client_ip=IP
    )
    await assert_cutoff(redis_client, published, user_key(mine.user.id), clock, count=2)
    with pytest.raises(Unauthorized):
        await app.sessions.identify(mine.access_token, audiences=(Audience.APP,))


async def test_password_reset_revokes_the_user(
    app: Services, conn, clock: FakeClock, redis_client: Redis, published: Published
) -> None:
    issued = await signup(app)
    challenge_id = await app.challenges.start_password_reset(
        email="ada@example.com", new_password=NEW_PASSWORD, client_ip=IP
    )
    code = await code_for(conn, app.mail_composers, clock.now(), challenge_id)
    await app.challenges.verify_password_reset(challenge_id, code, client_ip=IP)
    await assert_cutoff(redis_client, published, user_key(issued.user.id), clock)
    with pytest.raises(Unauthorized):
        await app.sessions.identify(issued.access_token, audiences=(Audience.APP,))
    clock.advance(seconds=1)  # a cutoff covers its whole second (upstream's iat precision)
    again = await app.accounts.login(
        email="ada@example.com",
        password=NEW_PASSWORD,
        audience=Audience.APP,
        user_agent="t",
        client_ip=IP,
    )
    assert await app.sessions.identify(again.access_token, audiences=(Audience.APP,))


@pytest.mark.parametrize("action", ["disable", "end_session", "end_sessions", "revoke_role"])
async def test_admin_actions_revoke(
    app: Services, clock: FakeClock, redis_client: Redis, published: Published, action: str
) -> None:
    issued = await signup(app)
    user_id = issued.user.id
    if action == "disable":
        assert await app.admin.disable_user(user_id, actor=CLI) == 1
        key = user_key(user_id)
    elif action == "end_session":
        await app.admin.end_user_session(user_id, issued.session_id, actor=CLI)
        key = session_key(issued.session_id)
    elif action == "end_sessions":
        assert await app.admin.end_user_sessions(user_id, actor=CLI) == 1
        key = user_key(user_id)
    else:
        assert await app.admin.grant_user_role(user_id, "auditor", actor=CLI)
        assert await app.admin.revoke_user_role(user_id, "auditor", actor=CLI) == 1
        key = user_key(user_id)
    await assert_cutoff(redis_client, published, key, clock)
    with pytest.raises(Unauthorized):
        await app.sessions.identify(issued.access_token, audiences=(Audience.APP,))


async def test_account_deletion_revokes_the_user(
    app: Services, clock: FakeClock, redis_client: Redis, published: Published
) -> None:
    issued = await signup(app)
    await app.self_service.delete_account(
        user_id=issued.user.id, session_id=issued.session_id, password=PASSWORD, client_ip=IP
    )
    await assert_cutoff(redis_client, published, user_key(issued.user.id), clock)


async def test_the_cli_revokes_what_it_ends(
    db: DatabaseSettings,
    app: Services,
    redis_server: RedisProcess,
    redis_client: Redis,
    published: Published,
) -> None:
    issued = await signup(app)
    env = core_env(db, **redis_server.environ())
    done = await asyncio.to_thread(
        subprocess.run,
        [str(BIN / "authara-core"), "admin", "set-password", "ada@example.com"],
        env={"PATH": "/usr/bin:/bin", **env},
        input=NEW_PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "1 session(s) ended" in done.stdout
    key = user_key(issued.user.id)
    assert await published.keys(1) == {key}
    assert ACCESS_TTL_MS - 60_000 < await redis_client.pttl(key) <= ACCESS_TTL_MS
    with pytest.raises(Unauthorized):  # the CLI's cutoff is the real time, after this token
        await app.sessions.identify(issued.access_token, audiences=(Audience.APP,))


async def test_redis_down_admin_fails_closed_app_fails_open_writes_never_fail(
    app: Services, clock: FakeClock, redis_server: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    user = await signup(app)
    boss = await signup(app, "boss@example.com")
    assert await app.admin.grant_user_role(boss.user.id, "admin", actor=CLI)
    clock.advance(seconds=1)
    async with app.database.transaction() as conn:
        admin = await app.sessions.start_in(
            conn, boss.user, audience=Audience.ADMIN, user_agent="t"
        )
    assert await app.sessions.identify(admin.access_token, audiences=(Audience.ADMIN,))

    redis_server.kill()
    for _ in range(2):
        claims = await app.sessions.identify(user.access_token, audiences=(Audience.APP,))
        assert claims.user_id == user.user.id
        with pytest.raises(RevocationUnavailable):
            await app.sessions.identify(admin.access_token, audiences=(Audience.ADMIN,))
    stats = app.revoker.stats
    assert stats.checks[FAILED_OPEN] == 2
    assert stats.checks[FAILED_CLOSED] == 2
    outage_lines = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(outage_lines) == 1  # one warning per outage, not one per request

    # Revoking still works in the database; the Redis write is logged and counted.
    other = await another_session(app, user)
    await app.sessions.revoke_session(
        app.sessions.verify(user.access_token, audiences=(Audience.APP,)), other.session_id
    )
    assert stats.writes[WRITE_FAILED] == 1

    redis_server.start()  # empty, same port: no restart of core
    async with asyncio.timeout(10):  # the next probe (at most a second away) finds it back
        while True:
            try:
                assert await app.sessions.identify(admin.access_token, audiences=(Audience.ADMIN,))
                break
            except RevocationUnavailable:
                await asyncio.sleep(0.1)
    assert stats.checks[VALID] >= 2
    assert any("Redis is back" in r.getMessage() for r in caplog.records)


async def test_membership_removal_and_organization_deletion_revoke_memberships(
    db: DatabaseSettings,
    conn,
    clock: FakeClock,
    redis_server: RedisProcess,
    redis_client: Redis,
    published: Published,
) -> None:
    env = core_env(db, **ENV, **redis_server.environ(), AUTHARA_ORGANIZATION_MODE="multi")
    async with running(env, clock) as app:
        ada, bob = await signup(app, "ada@example.com"), await signup(app, "bob@example.com")
        management = app.organization_management
        team, _ = await management.create_team(name="Acme", created_by=ada.user.id)
        other, _ = await management.create_team(name="Other", created_by=ada.user.id)
        for organization in (team, other):
            await add_member(conn, str(organization.id), str(bob.user.id), "member")
        await management.remove_member(team.id, bob.user.id)
        await assert_cutoff(redis_client, published, membership_key(bob.user.id, team.id), clock)
        await management.delete_organization(other.id)
        keys = await published.keys(3)
        assert membership_key(ada.user.id, other.id) in keys
        assert membership_key(bob.user.id, other.id) in keys


async def _mget_calls(client: Redis) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_mget", {}).get("calls", 0))


async def test_a_stalled_redis_is_asked_once_a_second_not_on_every_check(
    app: Services, clock: FakeClock, redis_server: RedisProcess, redis_client: Redis
) -> None:
    issued = await signup(app)
    claims = app.sessions.verify(issued.access_token, audiences=(Audience.APP,))
    ticks = [100.0]
    client = redis_server.settings().client()
    revoker = Revoker(
        client, clock=clock, access_ttl=timedelta(minutes=10), monotonic=lambda: ticks[0]
    )
    try:
        assert not await revoker.is_revoked(issued.access_token, claims, fail_closed=False)
        before = await _mget_calls(redis_client)
        redis_server.pause()
        try:
            for _ in range(5):  # the first times out; the next four do not ask Redis
                assert not await revoker.is_revoked(issued.access_token, claims, fail_closed=False)
            with pytest.raises(RevocationUnavailable):
                await revoker.is_revoked(issued.access_token, claims, fail_closed=True)
        finally:
            redis_server.resume()
        assert await _mget_calls(redis_client) == before + 1  # what the paused server received
        assert revoker.stats.checks[FAILED_OPEN] == 5
        assert revoker.stats.checks[FAILED_CLOSED] == 1
        ticks[0] += PROBE_INTERVAL_S
        assert not await revoker.is_revoked(issued.access_token, claims, fail_closed=True)
        assert revoker.stats.checks[VALID] == 2
    finally:
        await client.aclose()


async def test_noop_provider_keeps_tokens_valid_until_they_expire(
    db: DatabaseSettings, clock: FakeClock
) -> None:
    async with running(core_env(db, **ENV), clock) as app:
        assert not app.revoker.enabled
        issued = await signup(app)
        claims = app.sessions.verify(issued.access_token, audiences=(Audience.APP,))
        await app.sessions.logout(
            refresh_token=issued.refresh_token, access_token=issued.access_token, claims=claims
        )
        assert await app.sessions.identify(issued.access_token, audiences=(Audience.APP,))
        assert not app.revoker.stats.checks


# Over HTTP: core's own API refuses a logged-out token; admin pages answer 503 without Redis.


@pytest.fixture
async def http(
    aiohttp_client, db: DatabaseSettings, clock: FakeClock, redis_server: RedisProcess
) -> TestClient:
    settings = load_settings(core_env(db, **redis_server.environ()))
    return await aiohttp_client(create_app(settings, clock=clock, send_mail=False))


async def _api_signup(http: TestClient, email: str) -> dict[str, str]:
    token = (await (await http.get("/auth/api/v1/csrf")).json())["csrf_token"]
    response = await http.post(
        "/auth/api/v1/signup/direct",
        json={"email": email, "password": PASSWORD},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 201
    body = await response.json()
    return {"access": body["access_token"], "refresh": body["refresh_token"], "csrf": token}


async def test_http_logout_makes_the_access_token_useless_at_once(
    http: TestClient, redis_server: RedisProcess
) -> None:
    tokens = await _api_signup(http, "ada@example.com")
    user = await http.get("/auth/api/v1/user")
    assert user.status == 200
    csrf = http.session.cookie_jar.filter_cookies(http.make_url("/"))[cookies.CSRF.name].value
    logout = await http.post("/auth/api/v1/sessions/logout", headers={"X-CSRF-Token": csrf})
    assert logout.status == 204
    http.session.cookie_jar.clear()
    replay = {"Cookie": f"{cookies.ACCESS.name}={tokens['access']}"}
    after = await http.get("/auth/api/v1/user", headers=replay)
    assert after.status == 401
    stats = http.app[REVOCATION_STATS_KEY]
    assert stats.checks[REVOKED] == 1

    redis_server.kill()  # fail open for the app audience: the (revoked) token is accepted
    during = await http.get("/auth/api/v1/user", headers=replay)
    assert during.status == 200
    assert stats.checks[FAILED_OPEN] == 1


async def test_http_admin_console_answers_503_while_redis_is_down(
    http: TestClient, redis_server: RedisProcess
) -> None:
    await _api_signup(http, "boss@example.com")
    services = http.app[SERVICES_KEY]
    await services.admin.grant("boss@example.com", "admin")
    refresh_token = _current_refresh(http)
    http.session.cookie_jar.clear()
    refreshed = await http.post(
        "/auth/api/v1/tokens/refresh",
        json={"refresh_token": refresh_token, "audience": "admin"},
    )
    assert refreshed.status == 200
    admin_token = (await refreshed.json())["access_token"]
    headers = {"Cookie": f"{cookies.ACCESS.name}={admin_token}"}
    assert (await http.get("/auth/admin", headers=headers, allow_redirects=False)).status == 200
    redis_server.kill()
    refused = await http.get("/auth/admin", headers=headers, allow_redirects=False)
    assert refused.status == 503
    assert refused.headers["Retry-After"] == "5"


def _current_refresh(http: TestClient) -> str:
    return http.session.cookie_jar.filter_cookies(http.make_url("/"))[cookies.REFRESH.name].value


async def test_a_passkey_clone_revokes_the_user(
    app: Services, clock: FakeClock, redis_client: Redis, published: Published
) -> None:
    issued = await signup(app)
    authenticator = SoftAuthenticator(origin=PUBLIC_URL, rp_id=urlsplit(PUBLIC_URL).hostname or "")
    opened = await app.passkeys.registration_options(issued.user.id)
    await app.passkeys.register(
        user_id=issued.user.id,
        challenge_id=opened.challenge_id,
        credential=authenticator.register(opened.options),
        name=None,
        platform_hint=None,
        user_agent="t",
    )

    async def sign_in(sign_count: int) -> IssuedSession:
        options = await app.passkeys.authentication_options(client_ip=IP)
        return await app.passkeys.authenticate(
            challenge_id=options.challenge_id,
            credential=authenticator.assertion(options.options, sign_count=sign_count),
            audience=Audience.APP,
            user_agent="t",
            client_ip=IP,
        )

    await sign_in(10)
    with pytest.raises(PasskeySignInFailed):
        await sign_in(5)  # the counter went backwards: a copy of the key
    await assert_cutoff(redis_client, published, user_key(issued.user.id), clock)
    with pytest.raises(Unauthorized):
        await app.sessions.identify(issued.access_token, audiences=(Audience.APP,))
