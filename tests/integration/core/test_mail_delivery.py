"""The email outbox on a real database, sending to a real SMTP server process (aiosmtpd).

The workers are driven one job at a time (`run_once`) on a clock the tests move, so retries,
backoff and stale claims are checked without waiting; the concurrency test runs two sets of
workers (two "replicas", each with its own pool) on the real clock.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path
from typing import Any, Final

import asyncpg
import pytest

from authara_contract.database import DatabaseSettings
from authara_core.mail import store
from authara_core.mail.config import MailSettings
from authara_core.mail.outbox import Composer, EmailJob, MailTemplate, enqueue_in
from authara_core.mail.senders import sender_for
from authara_core.mail.worker import MailWorkers
from authara_core.platform.clock import SystemClock
from authara_core.platform.db import Connection, Database
from authara_core.settings import load_settings
from tests.coresupport import FakeClock, core_env
from tests.mailsupport import make_certificates, parts, smtp_server

FROM: Final = "Authara <no-reply@authara.test>"
CODE_DATA: Final = {"code": "482915", "expires_in_minutes": 10}


def mail_settings(db: DatabaseSettings, port: int, **overrides: str) -> MailSettings:
    """Return mail settings for an SMTP server on 127.0.0.1:port (plain text unless told)."""
    env = {
        "AUTHARA_EMAIL_PROVIDER": "smtp",
        "AUTHARA_EMAIL_FROM": FROM,
        "AUTHARA_EMAIL_SMTP_HOST": "127.0.0.1",
        "AUTHARA_EMAIL_SMTP_PORT": str(port),
        "AUTHARA_EMAIL_SMTP_TLS": "false",
        "AUTHARA_EMAIL_SMTP_TIMEOUT": "2s",
    }
    return load_settings(core_env(db, **(env | overrides))).mail


def workers(
    database: Database,
    clock: Any,
    settings: MailSettings,
    composers: Mapping[MailTemplate, Composer] | None = None,
) -> MailWorkers:
    return MailWorkers(
        db=database,
        clock=clock,
        settings=settings,
        sender=sender_for(settings),
        composers=composers or {},
    )


@pytest.fixture
async def database(db: DatabaseSettings) -> AsyncIterator[Database]:
    database = Database(db, pool_size=6)
    await database.open()
    yield database
    await database.close()


async def enqueue(
    database: Database,
    now: datetime,
    to: str = "ada@example.com",
    template: MailTemplate = MailTemplate.SIGNUP_CODE,
    data: Mapping[str, Any] = CODE_DATA,
) -> uuid.UUID:
    async with database.transaction() as conn:
        return await enqueue_in(conn, template=template, to=to, data=data, now=now)


async def job_row(database: Database, job_id: uuid.UUID) -> asyncpg.Record:
    async with database.connection() as conn:
        row = await conn.fetchrow("SELECT * FROM email_jobs WHERE id = $1", job_id)
    assert row is not None
    return row


# --- delivery --------------------------------------------------------------------------------


async def test_a_queued_mail_arrives_with_its_headers_and_both_parts(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    clock = FakeClock(datetime(2026, 12, 3, 17, 40, tzinfo=UTC))
    job_id = await enqueue(database, clock.now())
    async with smtp_server(tmp_path / "mail") as server:
        worker = workers(database, clock, mail_settings(db, server.port))

        assert await worker.run_once() is True
        assert await worker.run_once() is False  # nothing else is due

        [received] = server.received()
    message = received.message
    assert received.mail_from == "no-reply@authara.test"
    assert received.rcpt_tos == ["ada@example.com"]
    assert received.tls is False
    assert message["From"] == FROM
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Your verification code"
    assert parsedate_to_datetime(message["Date"]) == clock.now()
    assert parseaddr(message["Message-ID"])[1].endswith("@authara.test")
    text, html = parts(message)["text/plain"], parts(message)["text/html"]
    assert "482915" in text and "10 minutes" in text
    assert "482915" in html and '<html lang="en">' in html
    row = await job_row(database, job_id)
    assert row["status"] == "sent"
    assert row["sent_at"] == clock.now()
    assert row["attempt_count"] == 1
    assert row["last_error"] is None
    assert row["template_data"] == "{}"  # nothing kept once sent


async def test_every_template_has_upstreams_subject(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    clock = FakeClock()
    invitation = {
        "organization_name": "Acme",
        "role": "admin",
        "invite_url": "http://127.0.0.1:3000/auth/invitations/accept?token=abc",
        "expires_at": "2026-12-10T17:40:00Z",
    }
    reset = {"reset_url": "http://127.0.0.1:3000/auth/password-reset"}
    for template in MailTemplate:
        data = {
            MailTemplate.ORGANIZATION_INVITATION: invitation,
            MailTemplate.PASSWORD_RESET_REQUEST: reset,
        }.get(template, CODE_DATA)
        await enqueue(database, clock.now(), template=template, data=data)
    async with smtp_server(tmp_path / "mail") as server:
        worker = workers(database, clock, mail_settings(db, server.port))
        while await worker.run_once():
            pass
        subjects = [received.message["Subject"] for received in server.received()]

    assert sorted(subjects) == sorted(
        [
            "Your verification code",
            "Your password reset code",
            "Verify your new email address",
            "You're invited to Acme",
            "Please reset your password",
        ]
    )


async def test_starttls_with_a_trusted_certificate_and_auth_plain(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    certs = make_certificates(tmp_path / "certs")
    clock = FakeClock()
    job_id = await enqueue(database, clock.now())
    tls = ("--cert", str(certs.cert_file), "--key", str(certs.key_file))
    async with smtp_server(tmp_path / "mail", *tls, "--auth", "mailer:hunter22") as server:
        settings = mail_settings(
            db,
            server.port,
            AUTHARA_EMAIL_SMTP_TLS="true",
            AUTHARA_EMAIL_SMTP_CA_FILE=str(certs.ca_file),
            AUTHARA_EMAIL_SMTP_USERNAME="mailer",
            AUTHARA_EMAIL_SMTP_PASSWORD="hunter22",
        )
        await workers(database, clock, settings).run_once()

        [received] = server.received()
    assert received.tls is True
    assert (received.auth, received.login) == ("PLAIN", "mailer")
    assert (await job_row(database, job_id))["status"] == "sent"


async def test_a_certificate_core_does_not_trust_is_refused(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    certs = make_certificates(tmp_path / "certs")
    clock = FakeClock()
    job_id = await enqueue(database, clock.now())
    tls = ("--cert", str(certs.cert_file), "--key", str(certs.key_file))
    async with smtp_server(tmp_path / "mail", *tls) as server:
        settings = mail_settings(db, server.port, AUTHARA_EMAIL_SMTP_TLS="true")
        await workers(database, clock, settings).run_once()

        assert server.received() == []
    row = await job_row(database, job_id)
    assert row["status"] == "pending"
    assert "certificate" in row["last_error"].lower()


async def test_tls_required_but_no_starttls_offered_sends_nothing(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    clock = FakeClock()
    job_id = await enqueue(database, clock.now())
    async with smtp_server(tmp_path / "mail") as server:
        settings = mail_settings(db, server.port, AUTHARA_EMAIL_SMTP_TLS="true")
        await workers(database, clock, settings).run_once()

        assert server.received() == []
    row = await job_row(database, job_id)
    assert row["status"] == "pending"
    assert row["last_error"] == "the SMTP server does not offer STARTTLS (TLS is required)"


async def test_wrong_credentials_are_a_failed_attempt_that_names_no_secret(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    certs = make_certificates(tmp_path / "certs")
    clock = FakeClock()
    job_id = await enqueue(database, clock.now())
    tls = ("--cert", str(certs.cert_file), "--key", str(certs.key_file))
    async with smtp_server(tmp_path / "mail", *tls, "--auth", "mailer:hunter22") as server:
        settings = mail_settings(
            db,
            server.port,
            AUTHARA_EMAIL_SMTP_TLS="true",
            AUTHARA_EMAIL_SMTP_CA_FILE=str(certs.ca_file),
            AUTHARA_EMAIL_SMTP_USERNAME="mailer",
            AUTHARA_EMAIL_SMTP_PASSWORD="wrong-password-9",
        )
        await workers(database, clock, settings).run_once()

        assert server.received() == []
    row = await job_row(database, job_id)
    assert row["status"] == "pending"
    assert row["last_error"].startswith("SMTP server answered 535")
    assert "wrong-password-9" not in row["last_error"]


# --- failures, retries, stale claims -------------------------------------------------------------


async def test_a_refusing_server_is_retried_with_backoff_then_the_job_fails(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    clock = FakeClock()
    job_id = await enqueue(database, clock.now(), data={"code": "111111"})
    async with smtp_server(tmp_path / "mail", "--behaviour", "refuse") as server:
        settings = mail_settings(db, server.port, AUTHARA_EMAIL_JOB_MAX_ATTEMPTS="3")
        worker = workers(database, clock, settings)

        await worker.run_once()
        first = await job_row(database, job_id)
        assert (first["status"], first["attempt_count"]) == ("pending", 1)
        assert first["next_attempt_at"] == clock.now() + timedelta(seconds=30)
        assert first["last_error"] == "SMTP server answered 554: 5.7.1 Message rejected by policy"
        assert first["template_data"] != "{}"  # kept for the next attempt

        assert await worker.run_once() is False  # not due before the backoff
        clock.advance(seconds=30)
        await worker.run_once()
        second = await job_row(database, job_id)
        assert (second["status"], second["attempt_count"]) == ("pending", 2)
        assert second["next_attempt_at"] == clock.now() + timedelta(seconds=60)

        clock.advance(seconds=60)
        await worker.run_once()
        assert server.received() == []
    failed = await job_row(database, job_id)
    assert (failed["status"], failed["attempt_count"]) == ("failed", 3)
    assert failed["last_error"].startswith("SMTP server answered 554")
    assert failed["template_data"] == "{}"
    clock.advance(hours=2)
    assert await worker.run_once() is False  # failed is final


async def test_a_server_that_hangs_hits_the_send_timeout_and_is_retried(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    clock = FakeClock()
    job_id = await enqueue(database, clock.now())
    async with smtp_server(tmp_path / "mail", "--behaviour", "hang") as server:
        settings = mail_settings(db, server.port, AUTHARA_EMAIL_SMTP_TIMEOUT="500ms")
        await workers(database, clock, settings).run_once()

    row = await job_row(database, job_id)
    assert row["status"] == "pending"
    assert row["last_error"] == "no answer from the SMTP server within 0.5s"


async def test_an_unreachable_server_is_a_failed_attempt(
    database: Database, db: DatabaseSettings
) -> None:
    from authara_devstack.embedded_pg import free_port

    clock = FakeClock()
    job_id = await enqueue(database, clock.now())
    await workers(database, clock, mail_settings(db, free_port())).run_once()

    row = await job_row(database, job_id)
    assert row["status"] == "pending"
    assert row["last_error"].startswith("cannot reach the SMTP server")


async def test_a_job_whose_worker_died_mid_send_is_claimed_again_once_stale(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    clock = FakeClock()
    job_id = await enqueue(database, clock.now())
    async with database.transaction() as conn:  # a worker claims it, then dies
        claimed = await store.claim_next(conn, now=clock.now(), stale_before=clock.now())
    assert claimed is not None
    async with smtp_server(tmp_path / "mail") as server:
        settings = mail_settings(db, server.port)  # timeout 2s: stale after 6s
        worker = workers(database, clock, settings)

        clock.advance(seconds=5)
        assert await worker.run_once() is False  # maybe still sending: left alone
        clock.advance(seconds=2)
        assert await worker.run_once() is True

        assert len(server.received()) == 1
    row = await job_row(database, job_id)
    assert (row["status"], row["attempt_count"]) == ("sent", 2)
    # The dead worker's late report cannot undo what the new claimant did.
    async with database.transaction() as conn:
        assert (
            await store.mark_retry(
                conn, claimed, now=clock.now(), next_attempt_at=clock.now(), error="late"
            )
            is False
        )


async def test_a_stale_claim_of_the_last_attempt_fails_the_job(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    clock = FakeClock()
    job_id = await enqueue(database, clock.now())
    async with database.transaction() as conn:
        await store.claim_next(conn, now=clock.now(), stale_before=clock.now())
    async with smtp_server(tmp_path / "mail") as server:
        settings = mail_settings(db, server.port, AUTHARA_EMAIL_JOB_MAX_ATTEMPTS="1")
        clock.advance(seconds=7)
        await workers(database, clock, settings).run_once()

        assert server.received() == []
    row = await job_row(database, job_id)
    assert row["status"] == "failed"
    assert row["last_error"] == "the worker sending the last attempt stopped"


async def test_an_address_with_a_line_break_fails_at_once_and_sends_nothing(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    clock = FakeClock()
    job_id = await enqueue(database, clock.now(), to="ada@example.com\r\nBcc: eve@example.com")
    async with smtp_server(tmp_path / "mail") as server:
        await workers(database, clock, mail_settings(db, server.port)).run_once()

        assert server.received() == []
    row = await job_row(database, job_id)
    assert (row["status"], row["attempt_count"]) == ("failed", 1)
    assert row["last_error"] == "cannot build the message (signup_code: ValueError)"


# --- composers ------------------------------------------------------------------------------------


class CodeComposer:
    """Stands in for the challenges domain: writes in the claiming transaction, returns a code."""

    def __init__(self, code: str | None) -> None:
        self.code = code
        self.seen: list[EmailJob] = []

    async def __call__(
        self, conn: Connection, job: EmailJob, now: datetime
    ) -> Mapping[str, Any] | None:
        self.seen.append(job)
        assert conn.is_in_transaction()
        if self.code is None:
            return None
        return {"code": self.code}


async def test_a_composer_fills_in_the_context_at_send_time(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    clock = FakeClock()
    job_id = await enqueue(database, clock.now(), data={"expires_in_minutes": 10})
    composer = CodeComposer("907311")
    async with smtp_server(tmp_path / "mail") as server:
        settings = mail_settings(db, server.port)
        await workers(database, clock, settings, {MailTemplate.SIGNUP_CODE: composer}).run_once()

        [received] = server.received()
    assert [job.id for job in composer.seen] == [job_id]
    assert composer.seen[0].attempt_count == 1
    text = parts(received.message)["text/plain"]
    assert "907311" in text and "10 minutes" in text


async def test_a_composer_that_has_nothing_to_send_drops_the_job(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    clock = FakeClock()
    job_id = await enqueue(database, clock.now(), data={})
    async with smtp_server(tmp_path / "mail") as server:
        settings = mail_settings(db, server.port)
        composers = {MailTemplate.SIGNUP_CODE: CodeComposer(None)}
        assert await workers(database, clock, settings, composers).run_once() is True

        assert server.received() == []
    async with database.connection() as conn:
        assert await conn.fetchval("SELECT count(*) FROM email_jobs WHERE id = $1", job_id) == 0


class BrokenComposer:
    """A composer with a bug: it writes, then raises."""

    async def __call__(
        self, conn: Connection, job: EmailJob, now: datetime
    ) -> Mapping[str, Any] | None:
        await conn.execute("UPDATE email_jobs SET to_email = 'changed@example.com'")
        raise RuntimeError("bug")


async def test_a_failing_composer_backs_its_job_off_and_does_not_block_the_queue(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    clock = FakeClock()
    broken = await enqueue(database, clock.now(), template=MailTemplate.EMAIL_CHANGE_CODE)
    clock.advance(seconds=1)
    fine = await enqueue(database, clock.now(), to="bob@example.com")
    async with smtp_server(tmp_path / "mail") as server:
        composers = {MailTemplate.EMAIL_CHANGE_CODE: BrokenComposer()}
        worker = workers(database, clock, mail_settings(db, server.port), composers)

        assert await worker.run_once() is True
        assert await worker.run_once() is True

        assert [r.rcpt_tos for r in server.received()] == [["bob@example.com"]]
    row = await job_row(database, broken)
    assert (row["status"], row["attempt_count"]) == ("pending", 1)
    assert row["last_error"] == "composing failed (RuntimeError)"
    assert row["to_email"] == "ada@example.com"  # the composer's write was undone
    assert (await job_row(database, fine))["status"] == "sent"


async def test_a_job_of_an_unknown_template_fails_without_blocking(
    database: Database, db: DatabaseSettings, tmp_path: Path
) -> None:
    clock = FakeClock()
    job_id = await enqueue(database, clock.now())
    async with database.connection() as conn:
        await conn.execute(
            "UPDATE email_jobs SET template = 'from_the_future' WHERE id = $1", job_id
        )
    async with smtp_server(tmp_path / "mail") as server:
        await workers(database, clock, mail_settings(db, server.port)).run_once()

        assert server.received() == []
    row = await job_row(database, job_id)
    assert (row["status"], row["last_error"]) == ("failed", "unknown template 'from_the_future'")


# --- cleanup and concurrency ------------------------------------------------------------------


async def test_cleanup_deletes_sent_and_failed_jobs_past_their_retention(
    database: Database, db: DatabaseSettings
) -> None:
    clock = FakeClock()
    settings = mail_settings(
        db,
        2525,
        AUTHARA_EMAIL_CLEANUP_SENT_AFTER="1h",
        AUTHARA_EMAIL_CLEANUP_FAILED_AFTER="3h",
    )
    ids = [await enqueue(database, clock.now(), to=f"u{i}@example.com") for i in range(5)]
    async with database.connection() as conn:
        for job_id, status, age in zip(
            ids,
            ["sent", "sent", "failed", "failed", "pending"],
            [2, 0.5, 4, 2, 10],
            strict=True,
        ):
            await conn.execute(
                "UPDATE email_jobs SET status = $2, updated_at = $3 WHERE id = $1",
                job_id,
                status,
                clock.now() - timedelta(hours=age),
            )

    assert await workers(database, clock, settings).cleanup() == 2

    async with database.connection() as conn:
        left = {row["id"] for row in await conn.fetch("SELECT id FROM email_jobs")}
    assert left == {ids[1], ids[3], ids[4]}


async def test_two_replicas_on_one_database_send_every_job_exactly_once(
    db: DatabaseSettings, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    count = 30
    replicas = [Database(db, pool_size=4), Database(db, pool_size=4)]
    for replica in replicas:
        await replica.open()
    try:
        for index in range(count):
            await enqueue(replicas[0], now, to=f"user{index}@example.com")
        async with smtp_server(tmp_path / "mail") as server:
            settings = mail_settings(
                db,
                server.port,
                AUTHARA_EMAIL_WORKER_COUNT="3",
                AUTHARA_EMAIL_WORKER_POLL_INTERVAL="20ms",
            )
            sets = [workers(replica, SystemClock(), settings) for replica in replicas]
            async with sets[0].running(), sets[1].running():
                await server.wait_for(count)
            # The workers have stopped: whatever they sent has arrived.
            received = server.received()
        async with replicas[0].connection() as conn:
            statuses = await conn.fetch("SELECT status, attempt_count FROM email_jobs")
    finally:
        for replica in replicas:
            await replica.close()

    recipients = [r for message in received for r in message.rcpt_tos]
    assert sorted(recipients) == sorted(f"user{index}@example.com" for index in range(count))
    assert len({message.message["Message-ID"] for message in received}) == count
    assert {(row["status"], row["attempt_count"]) for row in statuses} == {("sent", 1)}
