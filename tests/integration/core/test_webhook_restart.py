"""A webhook delivery in flight when core dies is redelivered: a real `authara-core` is killed.

Core starts with a receiver that never answers, so both workers are inside a delivery when
the process is killed (SIGKILL: no clean stop). Core is started again with a working
receiver on the same port: the events never claimed go out at once, the two whose worker
died are put back by the stale reaper, and each event arrives once at the new receiver.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Final

import asyncpg

from authara_contract.database import DatabaseSettings
from authara_core.platform.outbox import Event, Outbox
from authara_devstack.embedded_pg import free_port
from tests.coresupport import WEBHOOK_SECRET, core_env, core_process
from tests.webhooksupport import Receiver, Reply, until, verify_both

WAIT: Final = 30.0
EVENTS: Final = 5


@asynccontextmanager
async def running_core(
    db: DatabaseSettings, receiver_url: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run `authara-core` delivering to receiver_url; kill it at the end if still running."""
    port = free_port()
    env = core_env(
        db,
        AUTHARA_WEBHOOK_URL=receiver_url,
        AUTHARA_WEBHOOK_SECRET=WEBHOOK_SECRET,
        AUTHARA_WEBHOOK_TIMEOUT="4s",
        AUTHARA_WEBHOOK_PROCESSING_STALE_AFTER="5s",
        AUTHARA_WEBHOOK_STALE_REAPER_INTERVAL="500ms",
    )
    async with core_process(env, port=port, wait_s=WAIT) as process:
        yield process


async def _statuses(conn: asyncpg.Connection) -> list[tuple[str, int]]:
    rows = await conn.fetch("SELECT status, attempt_count FROM webhook_events ORDER BY 1, 2")
    return [(row["status"], row["attempt_count"]) for row in rows]


async def test_deliveries_in_flight_when_core_is_killed_are_redelivered_after_a_restart(
    db: DatabaseSettings, conn: asyncpg.Connection
) -> None:
    hung = Receiver(*[Reply(delay_s=60)] * EVENTS)
    await hung.start()
    port = hung.port
    try:
        async with running_core(db, hung.url) as core:
            events = [Event("user.created", {"user_id": f"u-{index}"}) for index in range(EVENTS)]
            ids = await Outbox(["user.created"]).record_in(conn, events, now=datetime.now(UTC))

            async def two_in_flight() -> bool:
                # A row is `processing` from its claim, a moment before its request reaches
                # the receiver: wait for both, or the kill can land in between.
                claimed = [s for s, _ in await _statuses(conn)].count("processing")
                return claimed == 2 and len(hung.received) == 2

            await until(two_in_flight, WAIT)
            core.send_signal(signal.SIGKILL)
            assert await core.wait() == -signal.SIGKILL
    finally:
        await hung.stop()

    assert await _statuses(conn) == [("pending", 0)] * 3 + [("processing", 1)] * 2
    assert len(hung.received) == 2

    receiver = Receiver()
    await receiver.start(port)
    try:
        async with running_core(db, receiver.url) as core:

            async def all_delivered() -> bool:
                return [s for s, _ in await _statuses(conn)] == ["delivered"] * EVENTS

            await until(all_delivered, WAIT)
            core.send_signal(signal.SIGTERM)
            assert await core.wait() == 0
    finally:
        await receiver.stop()

    delivered = [verify_both(WEBHOOK_SECRET, got)["id"] for got in receiver.received]
    assert sorted(delivered) == sorted(ids)
    assert sorted(attempts for _, attempts in await _statuses(conn)) == [1, 1, 1, 2, 2]
