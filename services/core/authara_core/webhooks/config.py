"""Webhook settings (the AUTHARA_WEBHOOK_* variables), read and checked before start-up."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final
from urllib.parse import urlsplit

from authara_contract.env import EnvReader
from authara_contract.webhooks import EVENT_TYPES

MAX_WORKERS: Final = 64
MIN_PROD_SECRET_LENGTH: Final = 32


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Where events go, how they are signed, and how the delivery workers behave (contract §12)."""

    url: str = ""
    secret: str = field(default="", repr=False)  # a secret: kept out of logs
    enabled_events: frozenset[str] = frozenset(EVENT_TYPES)
    timeout: timedelta = timedelta(seconds=5)
    worker_count: int = 2
    max_delivery_attempts: int = 3
    processing_stale_after: timedelta = timedelta(minutes=2)
    stale_reaper_interval: timedelta = timedelta(minutes=1)
    delivered_retention: timedelta = timedelta(hours=24)
    failed_retention: timedelta = timedelta(hours=720)
    cleanup_interval: timedelta = timedelta(hours=1)
    maintenance_batch_size: int = 1000

    @property
    def enabled(self) -> bool:
        """Webhooks are on exactly when both the URL and the secret are set."""
        return bool(self.url and self.secret)

    @property
    def published_events(self) -> frozenset[str]:
        """The event types written to the outbox: none while webhooks are off."""
        return self.enabled_events if self.enabled else frozenset()


def read_webhook_settings(reader: EnvReader, *, prod: bool) -> WebhookSettings:
    """Read the AUTHARA_WEBHOOK_* variables; record every problem with `reader`."""
    url = reader.optional("AUTHARA_WEBHOOK_URL") or ""
    secret = reader.raw("AUTHARA_WEBHOOK_SECRET") or ""
    if url and not _valid_url(url):
        reader.fail(
            "AUTHARA_WEBHOOK_URL", "must be an absolute http(s) URL such as https://app/hooks"
        )
    if bool(url) != bool(secret):
        reader.fail(
            "AUTHARA_WEBHOOK_URL", "and AUTHARA_WEBHOOK_SECRET must be set together (or neither)"
        )
    if prod and url and secret and len(secret) < MIN_PROD_SECRET_LENGTH:
        reader.fail(
            "AUTHARA_WEBHOOK_SECRET",
            f"must be at least {MIN_PROD_SECRET_LENGTH} characters when APP_ENV=prod",
        )
    before = len(reader.problems)
    timeout = reader.positive_duration("AUTHARA_WEBHOOK_TIMEOUT")
    stale_after = reader.positive_duration("AUTHARA_WEBHOOK_PROCESSING_STALE_AFTER")
    if len(reader.problems) == before and timeout >= stale_after:
        reader.fail(
            "AUTHARA_WEBHOOK_TIMEOUT", "must be shorter than AUTHARA_WEBHOOK_PROCESSING_STALE_AFTER"
        )
    return WebhookSettings(
        url=url,
        secret=secret,
        enabled_events=_enabled_events(reader),
        timeout=timeout,
        worker_count=reader.integer("AUTHARA_WEBHOOK_WORKER_COUNT", minimum=1, maximum=MAX_WORKERS),
        max_delivery_attempts=reader.integer("AUTHARA_WEBHOOK_MAX_DELIVERY_ATTEMPTS", minimum=1),
        processing_stale_after=stale_after,
        stale_reaper_interval=reader.positive_duration("AUTHARA_WEBHOOK_STALE_REAPER_INTERVAL"),
        delivered_retention=reader.positive_duration("AUTHARA_WEBHOOK_DELIVERED_RETENTION"),
        failed_retention=reader.positive_duration("AUTHARA_WEBHOOK_FAILED_RETENTION"),
        cleanup_interval=reader.positive_duration("AUTHARA_WEBHOOK_CLEANUP_INTERVAL"),
        maintenance_batch_size=reader.integer("AUTHARA_WEBHOOK_MAINTENANCE_BATCH_SIZE", minimum=1),
    )


def _valid_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when out of range
    except ValueError:
        return False
    del port
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not any(ch.isspace() or ch == "\0" for ch in url)
    )


def _enabled_events(reader: EnvReader) -> frozenset[str]:
    name = "AUTHARA_WEBHOOK_ENABLED_EVENTS"
    raw = reader.optional(name) or ""
    names = [part.strip() for part in raw.split(",") if part.strip()]
    if not names:
        return frozenset(EVENT_TYPES)
    unknown = [event for event in names if event not in EVENT_TYPES]
    if unknown:
        reader.fail(name, f"unknown event {unknown[0]!r}; known: {', '.join(EVENT_TYPES)}")
    duplicates = sorted({event for event in names if names.count(event) > 1})
    if duplicates:
        reader.fail(name, f"names {duplicates[0]!r} twice")
    return frozenset(names)
