"""Rate limits shared through Redis (contract §9): one counter per key for every replica and
worker, upstream's key names and fixed window; per-process counting while Redis is down, one
warning per outage, Redis probed at most once a second, shared again without a restart.
A real redis-server per test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from authara_contract.database import DatabaseSettings
from authara_core.app import RATE_LIMIT_STATS_KEY, create_app
from authara_core.platform.ratelimit import (
    PROBE_INTERVAL_S,
    Limit,
    MemoryRateLimiter,
    RedisRateLimiter,
    redis_key,
)
from authara_core.settings import load_settings
from tests.coresupport import FakeClock, core_env
from tests.redissupport import RedisProcess

FIVE_A_MINUTE = Limit(5, timedelta(minutes=1))


class Ticks:
    """A monotonic clock the test moves (the limiter's probe interval)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisProcess]:
    with RedisProcess.started(tmp_path) as server:
        yield server


@pytest.fixture
async def client(redis_server: RedisProcess) -> AsyncIterator[Redis]:
    connection = redis_server.settings().client()
    yield connection
    await connection.aclose()


def limiter(client: Redis, ticks: Ticks, *, workers: int = 1) -> RedisRateLimiter:
    fallback = MemoryRateLimiter(FakeClock(), cleanup_every=100, max_entries=1000)
    return RedisRateLimiter(client, fallback, workers=workers, monotonic=ticks)


async def test_one_counter_per_key_with_upstreams_name_and_window(client: Redis) -> None:
    limits = limiter(client, Ticks())
    assert [await limits.hit("login:ip", "192.0.2.1", FIVE_A_MINUTE) for _ in range(5)] == [
        None
    ] * 5
    resets_in = await limits.hit("login:ip", "192.0.2.1", FIVE_A_MINUTE)
    assert resets_in is not None
    assert 55 < resets_in <= 60
    key = redis_key("login:ip", "192.0.2.1")
    assert key == "authara:ratelimit:login:ip:192.0.2.1"
    assert await client.get(key) == b"6"  # blocked attempts count too (upstream's script)
    assert 55_000 < await client.pttl(key) <= 60_000
    # Another key, and the same key in another limiter (another replica): one counter.
    assert await limits.hit("login:ip", "192.0.2.2", FIVE_A_MINUTE) is None
    assert await limiter(client, Ticks()).hit("login:ip", "192.0.2.1", FIVE_A_MINUTE)
    assert limits.stats.redis_hits == 7
    assert limits.stats.fallback_hits == 0


async def test_fallback_counts_per_process_probes_once_a_second_and_recovers(
    client: Redis, redis_server: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    ticks = Ticks()
    limits = limiter(client, ticks, workers=2)  # falling back, each worker counts half
    assert await limits.hit("login:ip", "a", FIVE_A_MINUTE) is None
    redis_server.kill()
    outcomes = [await limits.hit("login:ip", "a", FIVE_A_MINUTE) for _ in range(3)]
    assert outcomes[:2] == [None, None]  # 5 // 2 = 2 per process
    assert outcomes[2] is not None
    assert limits.stats.degraded
    assert limits.stats.outages == 1
    assert limits.stats.fallback_hits == 3
    warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1

    redis_server.start()  # back (empty), but no hit may try it before the probe interval
    ticks.now += PROBE_INTERVAL_S / 2
    assert await limits.hit("login:ip", "a", FIVE_A_MINUTE) is not None
    assert limits.stats.fallback_hits == 4
    assert limits.stats.redis_hits == 1
    ticks.now += PROBE_INTERVAL_S
    assert await limits.hit("login:ip", "a", FIVE_A_MINUTE) is None  # Redis's fresh counter
    assert not limits.stats.degraded
    assert limits.stats.redis_hits == 2
    assert await client.get(redis_key("login:ip", "a")) == b"1"
    assert any("Redis is back" in r.getMessage() for r in caplog.records)
    assert len([r for r in caplog.records if "Redis unavailable" in r.getMessage()]) == 1


async def test_a_paused_redis_costs_one_probe_a_second_not_one_timeout_a_hit(
    client: Redis, redis_server: RedisProcess
) -> None:
    ticks = Ticks()
    limits = limiter(client, ticks)
    assert await limits.hit("signup:ip", "a", FIVE_A_MINUTE) is None
    redis_server.pause()
    try:
        assert await limits.hit("signup:ip", "a", FIVE_A_MINUTE) is None  # timed out: fallback
        for _ in range(3):  # within the probe interval: memory only, no Redis round trip
            await limits.hit("signup:ip", "b", FIVE_A_MINUTE)
        assert limits.stats.redis_hits == 1
        assert limits.stats.fallback_hits == 4
    finally:
        redis_server.resume()
    ticks.now += PROBE_INTERVAL_S
    assert await limits.hit("signup:ip", "a", FIVE_A_MINUTE) is None
    assert limits.stats.redis_hits == 2
    # The hit that timed out reached Redis and ran once it resumed: a stall can count an
    # attempt twice (in memory and in Redis), never lose one.
    assert await client.get(redis_key("signup:ip", "a")) == b"3"


async def _login(http: TestClient) -> int:
    token = (await (await http.get("/auth/api/v1/csrf")).json())["csrf_token"]
    response = await http.post(
        "/auth/api/v1/login",
        json={"email": "nobody@example.com", "password": "not the password"},
        headers={"X-CSRF-Token": token},
    )
    return response.status


async def test_the_login_limit_holds_across_two_core_apps_on_one_redis(
    aiohttp_client, db: DatabaseSettings, redis_server: RedisProcess, client: Redis
) -> None:
    env = core_env(
        db,
        **redis_server.environ(),
        AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT="5",
        AUTHARA_WORKERS="4",  # with Redis the limit is not split over workers
    )
    replicas = [
        await aiohttp_client(create_app(load_settings(env), send_mail=False)) for _ in range(2)
    ]
    statuses = [await _login(replicas[i % 2]) for i in range(5)]
    assert 429 not in statuses
    assert await _login(replicas[0]) == 429
    assert await _login(replicas[1]) == 429
    assert await client.get(redis_key("login:ip", "127.0.0.1")) == b"7"
    assert all(r.app[RATE_LIMIT_STATS_KEY].redis_hits >= 3 for r in replicas)


async def test_without_redis_each_worker_counts_its_share(
    aiohttp_client, db: DatabaseSettings
) -> None:
    env = core_env(db, AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT="5", AUTHARA_WORKERS="2")
    http = await aiohttp_client(create_app(load_settings(env), send_mail=False))
    assert [await _login(http) for _ in range(2)].count(429) == 0
    assert await _login(http) == 429  # today's behaviour: 5 // 2 per process
    assert http.app[RATE_LIMIT_STATS_KEY].redis_hits == 0


async def test_core_answers_while_redis_is_down_and_shares_again_after(
    aiohttp_client, db: DatabaseSettings, redis_server: RedisProcess, client: Redis
) -> None:
    env = core_env(db, **redis_server.environ(), AUTHARA_RATE_LIMIT_LOGIN_IP_LIMIT="5")
    http = await aiohttp_client(create_app(load_settings(env), send_mail=False))
    stats = http.app[RATE_LIMIT_STATS_KEY]
    redis_server.kill()
    assert [await _login(http) for _ in range(5)].count(429) == 0  # counted in memory
    assert await _login(http) == 429
    assert stats.degraded
    redis_server.start()
    async with asyncio.timeout(10):  # the next probe (at most a second away) finds it
        while stats.degraded:
            await _login(http)
            await asyncio.sleep(0.1)
    assert await client.exists(redis_key("login:ip", "127.0.0.1"))
