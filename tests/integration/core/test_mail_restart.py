"""Nothing queued is lost when core dies: a real `authara-core` is killed mid-send and restarted.

Core starts with its SMTP server unresponsive (it accepts connections and never greets), so
both workers are stuck inside a send when the process is killed (SIGKILL: no clean stop).
Core is then started again with a working SMTP server: the jobs that were never claimed go
out at once, the two whose worker died are claimed again once stale (3 send timeouts), and
every mail arrives exactly once.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import asyncpg

from authara_contract.database import DatabaseSettings
from authara_core.mail.outbox import MailTemplate, enqueue_in
from authara_devstack.embedded_pg import free_port
from tests.coresupport import core_env, core_process
from tests.mailsupport import smtp_server

WAIT: Final = 30.0
JOBS: Final = 5


@asynccontextmanager
async def running_core(
    db: DatabaseSettings, smtp_port: int
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run `authara-core` sending to 127.0.0.1:smtp_port; kill it at the end if still running."""
    port = free_port()
    env = core_env(
        db,
        AUTHARA_EMAIL_PROVIDER="smtp",
        AUTHARA_EMAIL_FROM="no-reply@authara.test",
        AUTHARA_EMAIL_SMTP_HOST="127.0.0.1",
        AUTHARA_EMAIL_SMTP_PORT=str(smtp_port),
        AUTHARA_EMAIL_SMTP_TLS="false",
        AUTHARA_EMAIL_SMTP_TIMEOUT="2s",
        AUTHARA_EMAIL_WORKER_POLL_INTERVAL="100ms",
    )
    async with core_process(env, port=port, wait_s=WAIT) as process:
        yield process


async def _statuses(conn: asyncpg.Connection) -> dict[str, tuple[str, int]]:
    rows = await conn.fetch("SELECT to_email, status, attempt_count FROM email_jobs")
    return {row["to_email"]: (row["status"], row["attempt_count"]) for row in rows}


async def _until(conn: asyncpg.Connection, done: str) -> dict[str, tuple[str, int]]:
    """Poll the jobs until `done` (a condition on their statuses) holds; return them."""
    async with asyncio.timeout(WAIT):
        while True:
            statuses = await _statuses(conn)
            values = [status for status, _ in statuses.values()]
            if (done == "two claimed" and values.count("processing") == 2) or (
                done == "all sent" and values == ["sent"] * JOBS
            ):
                return statuses
            await asyncio.sleep(0.02)


async def test_jobs_in_flight_when_core_is_killed_are_delivered_once_after_a_restart(
    db: DatabaseSettings, conn: asyncpg.Connection, tmp_path: Path
) -> None:
    smtp_port = free_port()
    folder = tmp_path / "mail"
    silent = smtp_server(folder, "--behaviour", "silent", port=smtp_port)
    async with silent, running_core(db, smtp_port) as core:
        now = datetime.now(UTC)
        for index in range(JOBS):
            await enqueue_in(  # a mail sent as queued (no composer, unlike a challenge's code)
                conn,
                template=MailTemplate.ORGANIZATION_INVITATION,
                to=f"user{index}@example.com",
                data={
                    "organization_name": "Acme",
                    "role": "member",
                    "invite_url": f"http://127.0.0.1/auth/invitations/accept?token=t{index}",
                    "expires_at": "2030-01-01T00:00:00Z",
                },
                now=now,
            )
        await _until(conn, "two claimed")
        core.send_signal(signal.SIGKILL)
        assert await core.wait() == -signal.SIGKILL

    statuses = await _statuses(conn)
    assert sorted(status for status, _ in statuses.values()) == ["pending"] * 3 + ["processing"] * 2

    async with smtp_server(folder, port=smtp_port) as server:
        async with running_core(db, smtp_port) as core:
            await server.wait_for(JOBS)
            statuses = await _until(conn, "all sent")
            core.send_signal(signal.SIGTERM)
            assert await core.wait() == 0
        received = server.received()

    assert sorted(r for message in received for r in message.rcpt_tos) == sorted(statuses)
    assert len(received) == JOBS
    assert sorted(attempts for _, attempts in statuses.values()) == [1, 1, 1, 2, 2]
