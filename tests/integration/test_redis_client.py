"""The shared Redis client: no I/O when built, bounded commands, reconnects after a restart."""

import asyncio
from pathlib import Path

import pytest
import redis

from tests.redissupport import RedisProcess


async def test_client_survives_a_redis_restart_and_bounds_a_paused_one(tmp_path: Path) -> None:
    with RedisProcess.started(tmp_path) as server:
        client = server.settings().client()
        try:
            assert await client.set("k", "v", px=60_000)
            assert await client.get("k") == b"v"

            server.kill()
            with pytest.raises(redis.ConnectionError):
                await client.get("k")

            server.start()  # same port, empty: the same client works again, no restart
            assert await client.get("k") is None
            assert await client.set("k", "w")

            server.pause()
            try:
                with pytest.raises(redis.TimeoutError):
                    await asyncio.wait_for(client.get("k"), timeout=5)
            finally:
                server.resume()
            assert await client.get("k") == b"w"
        finally:
            await client.aclose()


async def test_a_client_built_while_redis_is_down_works_once_it_is_up(tmp_path: Path) -> None:
    server = RedisProcess(tmp_path)  # not started yet: nothing listens on its port
    client = server.settings().client()  # building it must not need Redis
    try:
        with pytest.raises(redis.ConnectionError):
            await client.ping()
        server.start()
        assert await client.ping()
    finally:
        await client.aclose()
        server.stop()
