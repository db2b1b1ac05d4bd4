"""The email outbox workers: claim a due job, send it outside any transaction, record the outcome.

Each core process runs AUTHARA_EMAIL_WORKER_COUNT workers, whatever else is enabled (upstream
only runs them with challenges on, so its reset and invitation mails never leave). A worker:

1. claims one job in a short transaction: `FOR UPDATE SKIP LOCKED` (so replicas and workers
   never take the same row), status `processing`, `processing_started_at` now, one attempt
   more; the template's composer (a challenge's code) runs in that transaction. Commit.
2. builds the message and sends it, holding no transaction and no lock;
3. marks the job `sent`, or `pending` again after a backoff (30 s doubling to 1 h), or
   `failed` once AUTHARA_EMAIL_JOB_MAX_ATTEMPTS attempts were made. Sent and failed jobs
   forget their template data (an invitation's link carries its token).

A job whose worker died mid-send stays `processing`; after `stale_after` (3 send timeouts:
a send is bounded by one) any worker claims it again. So a mail is sent once in the normal
case, and at least once across crashes. Stopping lets each worker finish the mail in hand
for up to one send timeout; one cut off later is such a stale job. The queue SQL, the loops and
stopping are platform/jobs.py's (the webhooks are the other kind of job).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

import asyncpg

from authara_core.mail import store
from authara_core.mail.config import MailSettings
from authara_core.mail.messages import MessageBuilder, MessageError
from authara_core.mail.outbox import Composer, EmailJob, MailTemplate
from authara_core.mail.senders import Sender
from authara_core.mail.smtp import SendFailed
from authara_core.platform.clock import Clock
from authara_core.platform.db import UNAVAILABLE, Connection, Database
from authara_core.platform.errors import DatabaseUnavailable
from authara_core.platform.jobs import Backoff, Doubling, WorkerPool

_LOGGER = logging.getLogger(__name__)
_DATABASE_ERRORS: Final = (OSError, asyncpg.PostgresError, DatabaseUnavailable)
# The connection itself is gone or stalled: nothing more can be done in its transaction.
_UNAVAILABLE: Final = (*UNAVAILABLE, DatabaseUnavailable, asyncpg.InterfaceError)
# After the stop request, how much longer than a send timeout a worker may take.
_STOP_MARGIN: Final = timedelta(seconds=2)


class MailWorkers:
    """Send queued mail: N worker loops in this process, one job at a time each."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        settings: MailSettings,
        sender: Sender,
        composers: Mapping[MailTemplate, Composer],
        backoff: Backoff | None = None,
        display_name: str | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._sender = sender
        self._builder = MessageBuilder(settings.sender, display_name=display_name)
        self._composers = dict(composers)
        self._backoff = backoff or Doubling()
        self._pool = WorkerPool(
            "email",
            self.run_once,
            count=settings.worker_count,
            poll_interval=settings.poll_interval,
            # After the stop request a worker may finish the mail in hand (a send timeout).
            stop_grace=settings.timeout + _STOP_MARGIN,
        )

    async def run_once(self) -> bool:
        """Claim and process one due job; return False when none was due."""
        claimed = await self._claim()
        if claimed is None:
            return False
        job, context = claimed
        if context is None:
            return True
        try:
            message = self._builder.build(job.template, job.to_email, context, self._clock.now())
        except MessageError as exc:
            await self._give_up(job, f"cannot build the message ({exc})")
            return True
        try:
            await self._sender.send(message)
        except SendFailed as exc:
            await self._failed_attempt(job, str(exc))
            return True
        async with self._db.transaction() as conn:
            kept = await store.mark_sent(conn, job, now=self._clock.now())
        _LOGGER.info("sent %s email (job %s, attempt %d)", job.template, job.id, job.attempt_count)
        if not kept:
            _LOGGER.warning("email job %s was claimed again while it was being sent", job.id)
        return True

    async def _claim(self) -> tuple[EmailJob, Mapping[str, Any] | None] | None:
        """Claim a job and compose its context (None: the job was dropped or given up)."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            job = await store.claim_next(
                conn, now=now, stale_before=now - self._settings.stale_after
            )
            if job is None:
                return None
            if job.attempt_count > self._settings.max_attempts:
                # Only a stale claim gets here: its worker died during the last attempt.
                await self._fail(conn, job, now, "the worker sending the last attempt stopped")
                return job, None
            composer = self._composers.get(job.template)
            if composer is None:
                return job, job.template_data
            try:
                # A savepoint: a composer that fails undoes its own writes, not the claim, so
                # its job backs off like a failed send instead of blocking the queue's head.
                async with conn.transaction():
                    extra = await composer(conn, job, now)
            except _UNAVAILABLE:
                raise
            except Exception as exc:
                _LOGGER.exception("composing email job %s (%s) failed", job.id, job.template)
                await self._record_failure(
                    conn, job, now, f"composing failed ({type(exc).__name__})"
                )
                return job, None
            if extra is None:
                await store.delete_job(conn, job.id)
                _LOGGER.debug("email job %s dropped: nothing to send any more", job.id)
                return job, None
            return job, {**job.template_data, **extra}

    async def _failed_attempt(self, job: EmailJob, error: str) -> None:
        async with self._db.transaction() as conn:
            await self._record_failure(conn, job, self._clock.now(), error)

    async def _record_failure(
        self, conn: Connection, job: EmailJob, now: datetime, error: str
    ) -> None:
        """Queue the job again after a backoff, or fail it after the last attempt."""
        if job.attempt_count >= self._settings.max_attempts:
            await self._fail(conn, job, now, error)
            return
        retry_at = now + self._backoff.after(job.attempt_count)
        await store.mark_retry(conn, job, now=now, next_attempt_at=retry_at, error=error)
        _LOGGER.warning(
            "email job %s (%s) attempt %d failed, retrying at %s: %s",
            job.id,
            job.template,
            job.attempt_count,
            retry_at.isoformat(timespec="seconds"),
            error,
        )

    async def _give_up(self, job: EmailJob, error: str) -> None:
        async with self._db.transaction() as conn:
            await self._fail(conn, job, self._clock.now(), error)

    async def _fail(self, conn: Connection, job: EmailJob, now: datetime, error: str) -> None:
        await store.mark_failed(conn, job, now=now, error=error)
        _LOGGER.error(
            "email job %s (%s) failed after %d attempts: %s",
            job.id,
            job.template,
            job.attempt_count,
            error,
        )

    async def cleanup(self) -> int:
        """Delete sent and failed jobs past their retention; return how many."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            return await store.delete_finished(
                conn,
                sent_before=now - self._settings.cleanup_sent_after,
                failed_before=now - self._settings.cleanup_failed_after,
            )

    def running(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Run the workers for the block; then let each finish its mail and stop."""
        return self._pool.running()
