"""The webhook delivery workers: claim a due event, POST it outside any transaction, record it.

Started in each core process when webhooks are enabled (URL and secret set), as upstream:
AUTHARA_WEBHOOK_WORKER_COUNT workers poll every second when idle and drain continuously
when busy. A worker claims the oldest due `pending` event (`FOR UPDATE SKIP LOCKED`, one
attempt more, `processing`), commits, delivers it holding no transaction, then records:

- 2xx → `delivered`;
- network error, timeout, 429, 5xx → `pending` again after 30 s (after attempt 1), then 2 min,
  while attempt_count < AUTHARA_WEBHOOK_MAX_DELIVERY_ATTEMPTS, else `failed`;
- any other status (1xx, 3xx: redirects are not followed, 4xx) → `failed` at once.

Every AUTHARA_WEBHOOK_STALE_REAPER_INTERVAL the reaper puts events claimed longer than
AUTHARA_WEBHOOK_PROCESSING_STALE_AFTER ago (their worker or process died mid-delivery) back to
`pending`, or `failed` when their attempts are spent; every AUTHARA_WEBHOOK_CLEANUP_INTERVAL
delivered and failed events past their retention are deleted, MAINTENANCE_BATCH_SIZE at a time.
Delivery is therefore at least once; a receiver dedupes on the event id.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Final

from authara_core.platform.clock import Clock
from authara_core.platform.db import Database
from authara_core.platform.jobs import Backoff, Periodic, Schedule, WorkerPool
from authara_core.webhooks import store
from authara_core.webhooks.config import WebhookSettings
from authara_core.webhooks.sender import Outcome, WebhookSender

_LOGGER = logging.getLogger(__name__)
# Upstream's retry schedule: 30 s after the first attempt, 2 min after each later one.
RETRY_SCHEDULE: Final = Schedule((timedelta(seconds=30), timedelta(minutes=2)))
POLL_INTERVAL: Final = timedelta(seconds=1)
# After the stop request, how much longer than an attempt's timeout a worker may take.
_STOP_MARGIN: Final = timedelta(seconds=2)


class WebhookWorkers:
    """Deliver recorded events: N worker loops in this process, plus reaping and cleanup."""

    def __init__(
        self,
        *,
        db: Database,
        clock: Clock,
        settings: WebhookSettings,
        backoff: Backoff = RETRY_SCHEDULE,
        poll_interval: timedelta = POLL_INTERVAL,
    ) -> None:
        self._db = db
        self._clock = clock
        self._settings = settings
        self._backoff = backoff
        self._sender = WebhookSender(
            url=settings.url,
            secret=settings.secret,
            timeout=settings.timeout,
            connections=settings.worker_count,
        )
        self._pool = WorkerPool(
            "webhook",
            self.run_once,
            count=settings.worker_count,
            poll_interval=poll_interval,
            stop_grace=settings.timeout + _STOP_MARGIN,
            maintenance=(
                Periodic("stale reaper", self.reap_stale, settings.stale_reaper_interval),
                Periodic("cleanup", self.cleanup, settings.cleanup_interval),
            ),
        )

    async def run_once(self) -> bool:
        """Claim and deliver one due event; return False when none was due."""
        async with self._db.transaction() as conn:
            event = await store.claim_next(conn, now=self._clock.now())
        if event is None:
            return False
        attempt = await self._sender.send(
            event_id=event.id,
            event_type=event.type,
            body=event.body,
            timestamp=int(self._clock.now().timestamp()),
        )
        now = self._clock.now()
        settings = self._settings
        async with self._db.transaction() as conn:
            if attempt.outcome is Outcome.DELIVERED:
                kept = await store.mark_delivered(conn, event, now=now)
            elif (
                attempt.outcome is Outcome.RETRY
                and event.attempt_count < settings.max_delivery_attempts
            ):
                retry_at = now + self._backoff.after(event.attempt_count)
                kept = await store.mark_retry(
                    conn, event, now=now, next_attempt_at=retry_at, error=attempt.detail
                )
                _LOGGER.warning(
                    "webhook delivery failed; will retry: event_id=%s type=%s attempt=%d "
                    "retry_at=%s error=%r",
                    event.id,
                    event.type,
                    event.attempt_count,
                    retry_at.isoformat(timespec="seconds"),
                    attempt.detail,
                )
            else:
                kept = await store.mark_failed(conn, event, now=now, error=attempt.detail)
                _LOGGER.error(
                    "webhook delivery failed for good: event_id=%s type=%s attempt=%d error=%r",
                    event.id,
                    event.type,
                    event.attempt_count,
                    attempt.detail,
                )
        if attempt.outcome is Outcome.DELIVERED:
            _LOGGER.info(
                "webhook delivered: event_id=%s type=%s attempt=%d status=%s",
                event.id,
                event.type,
                event.attempt_count,
                attempt.status,
            )
        if not kept:
            _LOGGER.warning("webhook event %s was claimed again while it was delivered", event.id)
        return True

    async def reap_stale(self) -> int:
        """Put stale claims back in the queue (or fail them); return how many."""
        now = self._clock.now()
        settings = self._settings
        async with self._db.transaction() as conn:
            reaped = await store.QUEUE.reap_stale(
                conn,
                stale_before=now - settings.processing_stale_after,
                max_attempts=settings.max_delivery_attempts,
                now=now,
                batch=settings.maintenance_batch_size,
            )
        if reaped:
            _LOGGER.warning("webhook stale reaper: %d events whose worker stopped", reaped)
        return reaped

    async def cleanup(self) -> int:
        """Delete delivered and failed events past their retention, a batch at a time."""
        now = self._clock.now()
        settings = self._settings
        total = 0
        while True:
            async with self._db.transaction() as conn:
                deleted = await store.QUEUE.delete_finished(
                    conn,
                    before={
                        "delivered": now - settings.delivered_retention,
                        "failed": now - settings.failed_retention,
                    },
                    batch=settings.maintenance_batch_size,
                )
            total += deleted
            if deleted < settings.maintenance_batch_size:
                return total

    async def close(self) -> None:
        """Close the HTTP client (workers driven by hand, in tests)."""
        await self._sender.close()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the workers and maintenance for the block; then stop them and close the client."""
        try:
            async with self._pool.running():
                yield
        finally:
            await self._sender.close()
