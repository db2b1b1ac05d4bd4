"""Webhook delivery on a real database to real receivers (aiohttp servers on real sockets).

The workers are driven one event at a time (`run_once`) on a clock the tests move, so the
retry schedule, stale claims and retention are checked without waiting; the outage test runs
the workers on the real clock with a short retry schedule.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, Final

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from authara_contract import routes
from authara_contract.database import DatabaseSettings
from authara_core.app import create_app
from authara_core.platform.clock import SystemClock
from authara_core.platform.db import Database
from authara_core.platform.jobs import Schedule
from authara_core.platform.outbox import Event, Outbox
from authara_core.settings import load_settings
from authara_core.webhooks import store
from authara_core.webhooks.config import WebhookSettings
from authara_core.webhooks.sender import MAX_RESPONSE_BYTES
from authara_core.webhooks.worker import WebhookWorkers
from tests.coresupport import WEBHOOK_SECRET, FakeClock, core_env
from tests.webhooksupport import Receiver, Reply, until, upstream_valid, verify_both

WAIT: Final = 20.0


def hook_settings(db: DatabaseSettings, url: str, **overrides: str) -> WebhookSettings:
    env = {
        "AUTHARA_WEBHOOK_URL": url,
        "AUTHARA_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "AUTHARA_WEBHOOK_TIMEOUT": "2s",
    }
    return load_settings(core_env(db, **(env | overrides))).webhooks


@pytest.fixture
async def database(db: DatabaseSettings) -> AsyncIterator[Database]:
    database = Database(db, pool_size=6)
    await database.open()
    yield database
    await database.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    yield receiver
    await receiver.stop()


@pytest.fixture
async def make_workers(database: Database, db: DatabaseSettings) -> AsyncIterator[Any]:
    made: list[WebhookWorkers] = []

    def make(clock: Any, url: str, **overrides: Any) -> WebhookWorkers:
        env = {key: value for key, value in overrides.items() if key.startswith("AUTHARA_")}
        extra = {key: value for key, value in overrides.items() if not key.startswith("AUTHARA_")}
        workers = WebhookWorkers(
            db=database, clock=clock, settings=hook_settings(db, url, **env), **extra
        )
        made.append(workers)
        return workers

    yield make
    for workers in made:
        await workers.close()


async def record(database: Database, clock: FakeClock, *types: str) -> list[str]:
    outbox = Outbox(types)
    events = [
        Event(event_type, {"user_id": f"u-{index}"}) for index, event_type in enumerate(types)
    ]
    async with database.transaction() as conn:
        return await outbox.record_in(conn, events, now=clock.now())


async def row(conn: asyncpg.Connection, event_id: str) -> asyncpg.Record:
    found = await conn.fetchrow("SELECT * FROM webhook_events WHERE id = $1", event_id)
    assert found is not None
    return found


async def _none(conn: asyncpg.Connection, where: str) -> bool:
    return not await conn.fetchval(f"SELECT count(*) FROM webhook_events WHERE {where}")  # noqa: S608


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_a_2xx_delivers_the_stored_envelope_signed_twice(
    database: Database, conn: asyncpg.Connection, receiver: Receiver, make_workers: Any
) -> None:
    clock = FakeClock()
    receiver.replies = [Reply(status=204)]
    (event_id,) = await record(database, clock, "user.created")
    workers = make_workers(clock, receiver.url)

    assert await workers.run_once() is True
    assert await workers.run_once() is False

    (got,) = receiver.received
    envelope = verify_both(WEBHOOK_SECRET, got)
    assert envelope["id"] == event_id and envelope["data"] == {"user_id": "u-0"}
    stored = await row(conn, event_id)
    assert got.body == (await conn.fetchval("SELECT payload::text FROM webhook_events")).encode()
    assert got.headers["webhook-timestamp"] == str(int(clock.now().timestamp()))
    assert (stored["status"], stored["attempt_count"]) == ("delivered", 1)
    assert stored["delivered_at"] == clock.now() and stored["last_error"] is None


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_5xx_and_429_retry_on_upstreams_schedule_then_fail(
    status: int,
    database: Database,
    conn: asyncpg.Connection,
    receiver: Receiver,
    make_workers: Any,
) -> None:
    clock = FakeClock()
    receiver.replies = [Reply(status=status)] * 3
    (event_id,) = await record(database, clock, "user.deleted")
    workers = make_workers(clock, receiver.url)

    assert await workers.run_once() is True
    first = await row(conn, event_id)
    assert (first["status"], first["attempt_count"]) == ("pending", 1)
    assert first["next_attempt_at"] == clock.now() + timedelta(seconds=30)
    assert first["last_error"] == f"HTTP {status}"
    clock.advance(seconds=29)
    assert await workers.run_once() is False  # not due yet
    clock.advance(seconds=1)
    assert await workers.run_once() is True
    second = await row(conn, event_id)
    assert (second["status"], second["attempt_count"]) == ("pending", 2)
    assert second["next_attempt_at"] == clock.now() + timedelta(minutes=2)
    clock.advance(minutes=2)
    assert await workers.run_once() is True  # the third attempt is the last (default 3)
    third = await row(conn, event_id)
    assert (third["status"], third["attempt_count"]) == ("failed", 3)
    assert len(receiver.received) == 3
    assert len({got.headers["webhook-id"] for got in receiver.received}) == 1


async def test_a_retry_that_succeeds_delivers(
    database: Database, conn: asyncpg.Connection, receiver: Receiver, make_workers: Any
) -> None:
    clock = FakeClock()
    receiver.replies = [Reply(status=502), Reply(status=200)]
    (event_id,) = await record(database, clock, "user.created")
    workers = make_workers(clock, receiver.url)
    await workers.run_once()
    clock.advance(seconds=30)
    await workers.run_once()
    assert (await row(conn, event_id))["status"] == "delivered"
    first, second = receiver.received
    assert first.body == second.body
    verify_both(WEBHOOK_SECRET, second)


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=410),
        Reply(status=400),
        Reply(status=404),
        Reply(status=301, headers={"Location": "/elsewhere"}),
        Reply(status=307, headers={"Location": "/elsewhere"}),
    ],
    ids=["410", "400", "404", "301", "307"],
)
async def test_other_statuses_fail_at_once_and_redirects_are_not_followed(
    reply: Reply,
    database: Database,
    conn: asyncpg.Connection,
    receiver: Receiver,
    make_workers: Any,
) -> None:
    clock = FakeClock()
    receiver.replies = [reply]
    (event_id,) = await record(database, clock, "user.created")
    workers = make_workers(clock, receiver.url)

    assert await workers.run_once() is True

    failed = await row(conn, event_id)
    assert (failed["status"], failed["attempt_count"]) == ("failed", 1)
    assert failed["last_error"] == f"HTTP {reply.status}"
    assert len(receiver.received) == 1  # /elsewhere was never asked


async def test_a_slow_receiver_times_out_and_is_retried(
    database: Database, conn: asyncpg.Connection, receiver: Receiver, make_workers: Any
) -> None:
    clock = FakeClock()
    receiver.replies = [Reply(delay_s=30)]
    (event_id,) = await record(database, clock, "user.created")
    workers = make_workers(clock, receiver.url, AUTHARA_WEBHOOK_TIMEOUT="300ms")

    assert await workers.run_once() is True

    retried = await row(conn, event_id)
    assert (retried["status"], retried["attempt_count"]) == ("pending", 1)
    assert retried["last_error"] == "no answer within 0.3s"


async def test_connection_refused_is_retried(
    database: Database, conn: asyncpg.Connection, make_workers: Any
) -> None:
    clock = FakeClock()
    (event_id,) = await record(database, clock, "user.created")
    workers = make_workers(clock, f"http://127.0.0.1:{closed_port()}/hooks")

    assert await workers.run_once() is True

    retried = await row(conn, event_id)
    assert (retried["status"], retried["attempt_count"]) == ("pending", 1)
    assert "Connect" in retried["last_error"]


@pytest.mark.parametrize(("status", "outcome"), [(200, "delivered"), (500, "pending")])
async def test_an_endless_body_is_cut_off_after_a_bounded_read(
    status: int,
    outcome: str,
    database: Database,
    conn: asyncpg.Connection,
    receiver: Receiver,
    make_workers: Any,
) -> None:
    clock = FakeClock()
    receiver.replies = [Reply(status=status, endless=True)]
    (event_id,) = await record(database, clock, "user.created")
    # A long timeout: only the bounded read can end the attempt with a delivery.
    workers = make_workers(clock, receiver.url, AUTHARA_WEBHOOK_TIMEOUT="60s")

    assert await workers.run_once() is True

    assert (await row(conn, event_id))["status"] == outcome
    async with asyncio.timeout(WAIT):
        await receiver.hung_up.wait()
    # What was written is the bounded read plus the kernels' socket buffers, not gigabytes.
    assert MAX_RESPONSE_BYTES <= receiver.streamed < 64 * 1024 * 1024


async def test_a_large_finite_error_body_is_not_read_whole(
    database: Database, conn: asyncpg.Connection, receiver: Receiver, make_workers: Any
) -> None:
    clock = FakeClock()
    receiver.replies = [Reply(status=503, body=b"e" * (4 * 1024 * 1024))]
    (event_id,) = await record(database, clock, "user.created")
    workers = make_workers(clock, receiver.url)
    assert await workers.run_once() is True
    assert (await row(conn, event_id))["last_error"] == "HTTP 503"


async def test_a_stale_claim_is_reaped_and_delivered_again(
    database: Database, conn: asyncpg.Connection, receiver: Receiver, make_workers: Any
) -> None:
    clock = FakeClock()
    (event_id,) = await record(database, clock, "user.created")
    workers = make_workers(clock, receiver.url)
    async with database.transaction() as tx:  # a worker claims it, then its process dies
        assert await store.claim_next(tx, now=clock.now()) is not None

    assert await workers.run_once() is False  # claimed: not for the others
    clock.advance(seconds=119)
    assert await workers.reap_stale() == 0  # maybe still delivering: left alone
    clock.advance(seconds=2)
    assert await workers.reap_stale() == 1
    reaped = await row(conn, event_id)
    assert (reaped["status"], reaped["attempt_count"]) == ("pending", 1)
    assert await workers.run_once() is True

    delivered = await row(conn, event_id)
    assert (delivered["status"], delivered["attempt_count"]) == ("delivered", 2)
    verify_both(WEBHOOK_SECRET, receiver.received[0])


async def test_a_stale_claim_of_the_last_attempt_fails(
    database: Database, conn: asyncpg.Connection, receiver: Receiver, make_workers: Any
) -> None:
    clock = FakeClock()
    (event_id,) = await record(database, clock, "user.created")
    workers = make_workers(clock, receiver.url, AUTHARA_WEBHOOK_MAX_DELIVERY_ATTEMPTS="1")
    async with database.transaction() as tx:
        await store.claim_next(tx, now=clock.now())
    clock.advance(minutes=3)

    assert await workers.reap_stale() == 1

    assert (await row(conn, event_id))["status"] == "failed"
    assert await workers.run_once() is False
    assert receiver.received == []


async def test_a_lost_claim_does_not_overwrite_the_new_claimant(
    database: Database, conn: asyncpg.Connection, receiver: Receiver, make_workers: Any
) -> None:
    clock = FakeClock()
    (event_id,) = await record(database, clock, "user.created")
    async with database.transaction() as tx:
        first = await store.claim_next(tx, now=clock.now())
    assert first is not None
    clock.advance(minutes=3)
    workers = make_workers(clock, receiver.url)
    await workers.reap_stale()
    assert await workers.run_once() is True  # the second claim delivers

    async with database.transaction() as tx:  # the first worker wakes up late
        assert await store.mark_failed(tx, first, now=clock.now(), error="late") is False
    assert (await row(conn, event_id))["status"] == "delivered"


async def test_retention_deletes_in_batches(
    database: Database, conn: asyncpg.Connection, receiver: Receiver, make_workers: Any
) -> None:
    clock = FakeClock()
    receiver.replies = [Reply()] * 5 + [Reply(status=410)] * 2
    await record(database, clock, *["user.created"] * 7)
    workers = make_workers(clock, receiver.url, AUTHARA_WEBHOOK_MAINTENANCE_BATCH_SIZE="2")
    while await workers.run_once():
        pass
    statuses = "SELECT status, count(*) FROM webhook_events GROUP BY status ORDER BY status"
    assert [tuple(r) for r in await conn.fetch(statuses)] == [("delivered", 5), ("failed", 2)]

    clock.advance(hours=23)
    assert await workers.cleanup() == 0
    clock.advance(hours=2)
    assert await workers.cleanup() == 5
    clock.advance(hours=719)
    assert await workers.cleanup() == 2
    assert await conn.fetchval("SELECT count(*) FROM webhook_events") == 0


async def test_pending_rows_are_never_cleaned_up(
    database: Database, conn: asyncpg.Connection, make_workers: Any
) -> None:
    clock = FakeClock()
    await record(database, clock, "user.created")
    workers = make_workers(clock, "http://127.0.0.1:9/hooks")
    clock.advance(hours=10000)
    assert await workers.cleanup() == 0
    assert await conn.fetchval("SELECT count(*) FROM webhook_events") == 1


async def test_an_outage_loses_nothing_and_delivers_each_event_once(
    database: Database, conn: asyncpg.Connection, receiver: Receiver, make_workers: Any
) -> None:
    """The receiver goes down, events pile up and fail attempts, it comes back: all arrive."""
    port = receiver.port
    await receiver.stop()
    workers = make_workers(
        SystemClock(),
        receiver.url,
        AUTHARA_WEBHOOK_MAX_DELIVERY_ATTEMPTS="1000",
        AUTHARA_WEBHOOK_WORKER_COUNT="3",
        backoff=Schedule((timedelta(milliseconds=100),)),
        poll_interval=timedelta(milliseconds=20),
    )
    async with workers.running():
        ids = await record(database, SystemClock(), *["user.created"] * 4, "user.deleted")
        # Every event has had at least one failed attempt.
        await until(lambda: _none(conn, "attempt_count = 0"))
        await receiver.start(port)
        await until(lambda: _none(conn, "status <> 'delivered'"))

    delivered = [verify_both(WEBHOOK_SECRET, got)["id"] for got in receiver.received]
    assert sorted(delivered) == sorted(ids)  # each once: one successful attempt each
    assert await conn.fetchval("SELECT min(attempt_count) FROM webhook_events") >= 2


async def test_the_core_delivers_what_its_routes_record(
    aiohttp_client: Any, db: DatabaseSettings, receiver: Receiver, conn: asyncpg.Connection
) -> None:
    env = core_env(
        db,
        AUTHARA_WEBHOOK_URL=receiver.url,
        AUTHARA_WEBHOOK_SECRET=WEBHOOK_SECRET,
        AUTHARA_WEBHOOK_ENABLED_EVENTS="user.created,organization.created",
    )
    client: TestClient[Any, Any] = await aiohttp_client(create_app(load_settings(env)))
    csrf = await (await client.get(routes.API_CSRF)).json()
    signed_up = await client.post(
        routes.API_SIGNUP_DIRECT,
        json={"email": "ada@example.com", "password": "correct horse battery"},
        headers={"X-CSRF-Token": csrf["csrf_token"]},
    )
    assert signed_up.status == 201
    user_id = (await signed_up.json())["user"]["id"]

    await until(lambda: _none(conn, "status <> 'delivered'"))
    assert len(receiver.received) == 2

    envelopes = [verify_both(WEBHOOK_SECRET, got) for got in receiver.received]
    assert sorted(envelope["type"] for envelope in envelopes) == [
        "organization.created",
        "user.created",
    ]
    assert {"user_id": user_id} in [envelope["data"] for envelope in envelopes]
    assert not upstream_valid(
        "another secret",
        receiver.received[0].body,
        receiver.received[0].headers["X-Authara-Signature"],
    )


async def test_core_answers_while_the_receiver_hangs(
    aiohttp_client: Any, db: DatabaseSettings, receiver: Receiver, conn: asyncpg.Connection
) -> None:
    receiver.replies = [Reply(delay_s=60)] * 10
    env = core_env(
        db,
        AUTHARA_WEBHOOK_URL=receiver.url,
        AUTHARA_WEBHOOK_SECRET=WEBHOOK_SECRET,
        AUTHARA_WEBHOOK_TIMEOUT="30s",
    )
    client: TestClient[Any, Any] = await aiohttp_client(create_app(load_settings(env)))

    for index in range(3):
        csrf = await (await client.get(routes.API_CSRF)).json()
        signed_up = await client.post(
            routes.API_SIGNUP_DIRECT,
            json={"email": f"user{index}@example.com", "password": "correct horse battery"},
            headers={"X-CSRF-Token": csrf["csrf_token"]},
        )
        assert signed_up.status == 201
        client.session.cookie_jar.clear()

        async def both_workers_stuck() -> bool:
            return not await _none(conn, "status = 'processing'") and len(receiver.received) == 2

        await until(both_workers_stuck)

    assert (await client.get(routes.HEALTH)).status == 200
    assert await conn.fetchval("SELECT count(*) FROM webhook_events WHERE status = 'pending'") == 7
