"""The gateway withholds a revoked session's identity (contract §5.6), against a real Redis.

Core's side is stood in for by what the contract says core does: SET the key with a TTL, then
PUBLISH the same revocation on the channel.
"""

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from authara_contract import revocation
from authara_contract.claims import Audience
from authara_contract.revocation import Revocation
from authara_contract.tokens import AccessClaims, decode_access_token
from authara_gateway.keys import REVOCATION_COUNTERS_KEY
from authara_gateway.revocation import RevocationCounters, Revocations
from tests.integration.gateway.support import (
    IDENTITY,
    ISSUER,
    KEYS,
    WAIT,
    Control,
    MakeGateway,
    access_token,
)
from tests.redissupport import RedisProcess

ACCESS_TTL: Final = 600.0
# The contract: a revocation reaches every gateway within one second.
PROPAGATION: Final = 1.0

Gateway = TestClient[web.Request, web.Application]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    with RedisProcess.started(tmp_path / "redis") as server:
        yield server


@pytest.fixture
async def writer(redis_server: RedisProcess) -> AsyncIterator[Redis]:
    client = redis_server.settings().client()
    try:
        yield client
    finally:
        await client.aclose()


def decode(token: str) -> AccessClaims:
    return decode_access_token(token, keys=KEYS, issuer=ISSUER, audiences=(Audience.APP,))


async def revoke(writer: Redis, entry: Revocation, *, publish: bool = True) -> None:
    """Do what core does after its transaction commits."""
    await writer.set(entry.key, entry.value, px=entry.ttl_ms)
    if publish:
        await writer.publish(revocation.CHANNEL, entry.message())


def counters(gateway: Gateway) -> RevocationCounters:
    return gateway.app[REVOCATION_COUNTERS_KEY]


async def user_seen(gateway: Gateway, control: Control, token: str) -> str | None:
    """Request an app page with the token; return the user id the app received, if any."""
    control.seen.clear()
    response = await gateway.get("/dashboard", headers={"Cookie": f"authara_access={token}"})
    assert response.status == 200
    return control.only().headers.get("X-Authara-User-Id")


async def wait_until_served_from_memory(gateway: Gateway, control: Control, token: str) -> None:
    """Poll until a request is answered from memory: the subscription is up."""
    deadline = time.monotonic() + WAIT
    while True:
        before = counters(gateway).hits
        await user_seen(gateway, control, token)
        if counters(gateway).hits > before:
            return
        assert time.monotonic() < deadline, "the gateway never subscribed to revocations"
        await asyncio.sleep(0.02)


async def anonymous_within(gateway: Gateway, control: Control, token: str, seconds: float) -> float:
    """Poll until the token's identity is withheld; return how long it took."""
    start = time.monotonic()
    while await user_seen(gateway, control, token) is not None:
        assert time.monotonic() - start < seconds, f"identity still passed after {seconds}s"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def test_a_published_revocation_makes_the_token_anonymous_within_a_second(
    make_gateway: MakeGateway, control: Control, redis_server: RedisProcess, writer: Redis
) -> None:
    gateway = await make_gateway(identity=IDENTITY, cache=redis_server.settings())
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    token = access_token(user_id=user_id, session_id=session_id)
    other = access_token()  # another session of someone else
    assert await user_seen(gateway, control, token) == str(user_id)
    await wait_until_served_from_memory(gateway, control, token)
    await user_seen(gateway, control, other)

    now = datetime.now(UTC)
    await revoke(writer, Revocation.cutoff(revocation.session_key(session_id), now, ACCESS_TTL))

    await anonymous_within(gateway, control, token, PROPAGATION)
    assert await user_seen(gateway, control, other) is not None
    assert counters(gateway).revoked >= 1
    assert counters(gateway).fail_open == 0


async def test_a_revocation_written_before_the_gateway_started_is_seen(
    make_gateway: MakeGateway, control: Control, redis_server: RedisProcess, writer: Redis
) -> None:
    now = datetime.now(UTC)
    before = now - timedelta(seconds=10)
    session_id, user_id = uuid.uuid4(), uuid.uuid4()
    by_session = access_token(session_id=session_id)
    by_token, kept = access_token(), access_token()
    by_user = access_token(user_id=user_id, now=before)
    await revoke(
        writer,
        Revocation.cutoff(revocation.session_key(session_id), now, ACCESS_TTL),
        publish=False,
    )
    token_entry = Revocation.token(by_token, now + timedelta(minutes=10), now)
    assert token_entry is not None
    await revoke(writer, token_entry, publish=False)
    cutoff = now - timedelta(seconds=5)
    await revoke(
        writer, Revocation.cutoff(revocation.user_key(user_id), cutoff, ACCESS_TTL), publish=False
    )
    # Issued after the user's cutoff: a new login is not revoked.
    later = access_token(user_id=user_id, now=now)

    gateway = await make_gateway(identity=IDENTITY, cache=redis_server.settings())

    for revoked in (by_session, by_token, by_user):
        assert await user_seen(gateway, control, revoked) is None
        assert await user_seen(gateway, control, revoked) is None  # from memory too
    assert await user_seen(gateway, control, kept) is not None
    assert await user_seen(gateway, control, later) == str(user_id)
    assert counters(gateway).misses >= 5


async def test_redis_down_fails_open_counted_and_recovers_without_restart(
    make_gateway: MakeGateway,
    control: Control,
    redis_server: RedisProcess,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = await make_gateway(identity=IDENTITY, cache=redis_server.settings())
    known = access_token()
    await wait_until_served_from_memory(gateway, control, known)

    with caplog.at_level(logging.WARNING, logger="authara_gateway.revocation"):
        redis_server.kill()
        fresh = access_token()
        for token in (fresh, known, fresh, access_token()):
            assert await user_seen(gateway, control, token) is not None  # open: app audience
        assert counters(gateway).fail_open >= 3
        assert counters(gateway).outages == 1
        unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(unreachable) == 1  # once per outage, not once per request

        redis_server.start()  # the same port, empty; the gateway keeps running
        await wait_until_served_from_memory(gateway, control, known)
    assert any("reachable again" in r.getMessage() for r in caplog.records)

    client = redis_server.settings().client()
    try:
        session_id, user_id = uuid.uuid4(), uuid.uuid4()
        token = access_token(user_id=user_id, session_id=session_id)
        assert await user_seen(gateway, control, token) == str(user_id)
        now = datetime.now(UTC)
        await revoke(client, Revocation.cutoff(revocation.session_key(session_id), now, 60.0))
        await anonymous_within(gateway, control, token, WAIT)
    finally:
        await client.aclose()


async def test_the_noop_provider_never_consults_redis(
    make_gateway: MakeGateway, control: Control, redis_server: RedisProcess, writer: Redis
) -> None:
    user_id, session_id = uuid.uuid4(), uuid.uuid4()
    token = access_token(user_id=user_id, session_id=session_id)
    now = datetime.now(UTC)
    await revoke(writer, Revocation.cutoff(revocation.session_key(session_id), now, ACCESS_TTL))

    gateway = await make_gateway(identity=IDENTITY)  # cache=None: AUTHARA_CACHE_PROVIDER=noop

    assert await user_seen(gateway, control, token) == str(user_id)
    assert REVOCATION_COUNTERS_KEY not in gateway.app
    info = await writer.info("clients")
    assert info["connected_clients"] == 1  # only this test's own client


async def test_a_foreign_message_on_the_channel_is_ignored(
    make_gateway: MakeGateway, control: Control, redis_server: RedisProcess, writer: Redis
) -> None:
    gateway = await make_gateway(identity=IDENTITY, cache=redis_server.settings())
    token = access_token()
    await wait_until_served_from_memory(gateway, control, token)

    await writer.publish(revocation.CHANNEL, b"not json")
    await writer.publish(revocation.CHANNEL, '{"key": "other:thing", "value": "1", "ttl_ms": 5}')
    sentinel_session = uuid.uuid4()
    sentinel = access_token(session_id=sentinel_session)
    await user_seen(gateway, control, sentinel)
    now = datetime.now(UTC)
    await revoke(writer, Revocation.cutoff(revocation.session_key(sentinel_session), now, 60.0))
    await anonymous_within(gateway, control, sentinel, WAIT)  # messages are processed in order

    assert await user_seen(gateway, control, token) is not None


async def test_bounded_memory_never_forgets_a_revocation_silently(
    redis_server: RedisProcess, writer: Redis
) -> None:
    # Two keys and two tokens at most: a third revocation pushes the first out of memory,
    # and the token it revoked must then be read from Redis again, not pass.
    checker = Revocations(redis_server.settings().client(), max_tokens=2, max_keys=2)
    checker.start()
    try:
        sessions = [uuid.uuid4() for _ in range(3)]
        tokens = [access_token(session_id=session) for session in sessions]
        claims = [decode(t) for t in tokens]
        deadline = time.monotonic() + WAIT
        while not checker.subscribed:
            assert time.monotonic() < deadline, "never subscribed"
            await asyncio.sleep(0.01)
        assert not await checker.look_up(tokens[0], claims[0])
        assert checker.known(tokens[0]) is False

        now = datetime.now(UTC)
        for session in sessions:
            await revoke(writer, Revocation.cutoff(revocation.session_key(session), now, 60.0))
        # The third message evicts the first revocation from memory, and with it everything
        # memory answered from: the token is unknown again instead of passing.
        deadline = time.monotonic() + WAIT
        while checker.known(tokens[0]) is not None:
            assert time.monotonic() < deadline, "memory still answers after an eviction"
            await asyncio.sleep(0.01)
        for token, claim in zip(tokens, claims, strict=True):
            assert await checker.is_revoked(token, claim)
    finally:
        await checker.close()


async def test_a_stalled_redis_costs_one_bounded_lookup_then_fails_open_until_it_answers(
    make_gateway: MakeGateway, control: Control, redis_server: RedisProcess
) -> None:
    gateway = await make_gateway(identity=IDENTITY, cache=redis_server.settings())
    known = access_token()
    await wait_until_served_from_memory(gateway, control, known)

    redis_server.pause()  # connections stay open, nothing answers
    try:
        for _ in range(3):  # the first lookup times out (bounded), the others do not wait
            assert await user_seen(gateway, control, access_token()) is not None
        assert counters(gateway).outages == 1
        assert counters(gateway).fail_open == 3
    finally:
        redis_server.resume()

    await wait_until_served_from_memory(gateway, control, known)
    client = redis_server.settings().client()
    try:
        session_id = uuid.uuid4()
        token = access_token(session_id=session_id)
        assert await user_seen(gateway, control, token) is not None
        now = datetime.now(UTC)
        await revoke(client, Revocation.cutoff(revocation.session_key(session_id), now, 60.0))
        await anonymous_within(gateway, control, token, WAIT)
    finally:
        await client.aclose()
