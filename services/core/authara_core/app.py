"""The composition root: build the services from settings, then mount the route table."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from authara_contract import routes
from authara_contract.env import AppEnv
from authara_core.accounts.selfservice import SelfService
from authara_core.accounts.service import AccountService
from authara_core.admin.auditlog import AuditLog
from authara_core.admin.console import ConsoleService
from authara_core.admin.service import AdminService
from authara_core.allowlist.service import AccessPolicy, AllowlistService
from authara_core.challenges.mail import composers
from authara_core.challenges.service import ChallengeService
from authara_core.mail import store as mail_store
from authara_core.mail.outbox import Composer, MailTemplate
from authara_core.mail.senders import sender_for
from authara_core.mail.worker import MailWorkers
from authara_core.oauth.flows import OAuthFlows
from authara_core.oauth.google import GoogleIdTokens
from authara_core.oauth.linking import ProviderLinks
from authara_core.oauth.registry import ProviderRegistry
from authara_core.oauth.secrets import new_secret
from authara_core.organizations.acceptance import InvitationAcceptance
from authara_core.organizations.directory import OrganizationDirectory
from authara_core.organizations.invitations import Invitations
from authara_core.organizations.management import OrganizationManagement
from authara_core.organizations.public_management import PublicManagement
from authara_core.organizations.service import OrganizationService
from authara_core.passkeys.ceremony import RelyingParty
from authara_core.passkeys.service import PasskeyService
from authara_core.platform.brand_assets import BrandAssets
from authara_core.platform.clock import Clock, SystemClock
from authara_core.platform.cookies import CookieWriter
from authara_core.platform.csp import security_headers
from authara_core.platform.csrf import CsrfGuard
from authara_core.platform.db import Database
from authara_core.platform.envelope import RequestEnvelope
from authara_core.platform.error_render import ErrorRenderer
from authara_core.platform.errors import DatabaseUnavailable, SchemaMismatch
from authara_core.platform.hasher import PasswordHasher
from authara_core.platform.metrics import CoreMetrics
from authara_core.platform.observation import CoreRecorder
from authara_core.platform.openapi import MAX_BODY_BYTES
from authara_core.platform.outbox import Outbox
from authara_core.platform.ratelimit import (
    MemoryRateLimiter,
    RateLimiter,
    RateLimitStats,
    RedisRateLimiter,
    Throttle,
)
from authara_core.platform.render import Renderer
from authara_core.platform.revocation import RevocationStats, Revoker
from authara_core.platform.schema import REQUIRED_SCHEMA_REVISION, current_schema_revision
from authara_core.routes import route_table
from authara_core.sessions.service import SessionService
from authara_core.settings import Settings
from authara_core.webhooks import store as webhook_store
from authara_core.webhooks.worker import WebhookWorkers
from authara_runtime.access_log import access_log_for
from authara_runtime.metrics import MetricsListener, metrics_address
from authara_runtime.observe import RequestObserver

_LOGGER = logging.getLogger(__name__)
AUDIT_CLEANUP_INTERVAL: Final = timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class Services:
    """Everything the handlers call, built once per application."""

    clock: Clock
    database: Database
    hasher: PasswordHasher
    sessions: SessionService
    accounts: AccountService
    providers: ProviderRegistry
    flows: OAuthFlows
    links: ProviderLinks
    google: GoogleIdTokens
    organizations: OrganizationService
    directory: OrganizationDirectory
    organization_management: OrganizationManagement
    self_service: SelfService
    public_management: PublicManagement
    invitations: Invitations
    acceptance: InvitationAcceptance
    challenges: ChallengeService
    mail_composers: Mapping[MailTemplate, Composer]
    """What the mail workers run before sending each kind of mail (the challenge codes)."""
    mail: MailWorkers
    webhooks: WebhookWorkers | None
    """The webhook delivery workers, when webhooks are enabled (URL and secret set)."""
    admin: AdminService
    """Role grants and account recovery, audited (the CLI's and the console's actions)."""
    console: ConsoleService
    """The admin console's reads (dashboard)."""
    audit_log: AuditLog
    """The audit log's pages, exports and retention cleanup."""
    allowlist: AllowlistService
    """The email allowlist: its policy (enforced by sessions, signups, invitations) and console."""
    passkeys: PasskeyService
    """Passkeys (WebAuthn): registration, sign-in, the user's list (RP ID from PUBLIC_URL)."""
    revoker: Revoker
    """Access-token revocation in Redis (does nothing with the noop cache provider)."""
    rate_limit_stats: RateLimitStats
    """What the shared (Redis) rate limiter did; all zero with the noop cache provider."""
    cache: Redis | None = None
    """The Redis client (AUTHARA_CACHE_PROVIDER=redis), closed with the app."""


SERVICES_KEY: Final = web.AppKey("services", Services)
"""The app's services, for tests and tools that reach past the HTTP surface."""
REVOCATION_STATS_KEY: Final = web.AppKey("revocation_stats", RevocationStats)
"""Revocation checks by outcome and key writes, for metrics."""
RATE_LIMIT_STATS_KEY: Final = web.AppKey("rate_limit_stats", RateLimitStats)
"""Shared rate-limit hits in Redis and in the per-process fallback, for metrics."""
METRICS_KEY: Final = web.AppKey("metrics", CoreMetrics)
"""Core's metrics, present when AUTHARA_METRICS_BIND is set (for wiring and tests)."""


def build_services(
    settings: Settings, *, clock: Clock, oauth_secrets: Callable[[], str]
) -> Services:
    """Build the services in dependency order (nothing opens until the app starts)."""
    database = Database(
        settings.database,
        pool_size=settings.db_pool_size,
        timezone=settings.db_timezone,
        acquire_timeout_s=settings.db_acquire_timeout.total_seconds(),
        statement_timeout_s=settings.db_statement_timeout.total_seconds(),
        pgbouncer=settings.db_pgbouncer,
    )
    hasher = PasswordHasher(settings.passwords)
    events = Outbox(settings.webhooks.published_events)
    policy = AccessPolicy(db=database, clock=clock, enabled=settings.allowlist_enabled)
    # AUTHARA_CACHE_PROVIDER=redis: one client (no I/O until first used) for the shared rate
    # limits and revocation; noop: per-process limits, tokens live until they expire.
    cache = settings.cache.client() if settings.cache is not None else None
    revoker = Revoker(cache, clock=clock, access_ttl=settings.tokens.access_ttl)
    sessions = SessionService(
        db=database, clock=clock, settings=settings.tokens, policy=policy, revoker=revoker
    )
    rate_limit_stats = RateLimitStats()
    limiter: RateLimiter
    if cache is None:
        limits = settings.rate_limits.per_worker(settings.workers)
        limiter = MemoryRateLimiter(
            clock, cleanup_every=limits.cleanup_every, max_entries=limits.max_entries
        )
    else:  # one counter per key for every replica and worker: the whole limit
        limits = settings.rate_limits
        fallback = MemoryRateLimiter(
            clock, cleanup_every=limits.cleanup_every, max_entries=limits.max_entries
        )
        limiter = RedisRateLimiter(
            cache, fallback, workers=settings.workers, stats=rate_limit_stats
        )
    throttle = Throttle(
        limiter,
        login=limits.login,
        signup=limits.signup,
        password_reset=limits.password_reset,
        challenge_verify=limits.challenge_verify,
        challenge_resend=limits.challenge_resend,
        passkey_login=limits.passkey_login,
    )
    organizations = OrganizationService(
        db=database, clock=clock, events=events, mode=settings.organization_mode
    )
    accounts = AccountService(
        db=database,
        clock=clock,
        events=events,
        hasher=hasher,
        sessions=sessions,
        organizations=organizations,
        throttle=throttle,
        policy=policy,
    )
    providers = ProviderRegistry(settings.oauth, clock=clock)
    flows = OAuthFlows(
        db=database,
        clock=clock,
        providers=providers,
        accounts=accounts,
        sessions=sessions,
        secret_factory=oauth_secrets,
    )
    links = ProviderLinks(
        db=database,
        clock=clock,
        hasher=hasher,
        throttle=throttle,
        sessions=sessions,
        providers=providers,
        flows=flows,
    )
    google = GoogleIdTokens(
        db=database, clock=clock, providers=providers, accounts=accounts, sessions=sessions
    )
    directory = OrganizationDirectory(
        db=database,
        mode=settings.organization_mode,
        public_management=settings.public_organization_management,
    )
    acceptance = InvitationAcceptance(
        db=database,
        clock=clock,
        events=events,
        mode=settings.organization_mode,
        accounts=accounts,
        sessions=sessions,
        policy=policy,
    )
    # Templates whose context is made when the mail is sent (a challenge's code, in the
    # claiming transaction); the others are sent with the job's template_data as it is.
    mail_composers = composers(keys=settings.tokens.keys, settings=settings.challenges)
    mail = MailWorkers(
        db=database,
        clock=clock,
        settings=settings.mail,
        sender=sender_for(settings.mail),
        composers=mail_composers,
        display_name=settings.brand.app_name,
    )
    management = OrganizationManagement(
        db=database, clock=clock, events=events, mode=settings.organization_mode, revoker=revoker
    )
    return Services(
        admin=AdminService(
            db=database,
            clock=clock,
            events=events,
            password_reset_url=settings.public_url.rstrip("/") + routes.PASSWORD_RESET,
            revoker=revoker,
        ),
        console=ConsoleService(db=database, clock=clock, sessions=sessions),
        audit_log=AuditLog(db=database, clock=clock, retention=settings.audit_retention),
        allowlist=AllowlistService(db=database, clock=clock, policy=policy),
        passkeys=PasskeyService(
            db=database,
            clock=clock,
            events=events,
            sessions=sessions,
            throttle=throttle,
            relying_party=RelyingParty.for_public_url(settings.public_url, settings.brand.name),
            revoker=revoker,
        ),
        clock=clock,
        database=database,
        hasher=hasher,
        sessions=sessions,
        accounts=accounts,
        providers=providers,
        flows=flows,
        links=links,
        google=google,
        organizations=organizations,
        directory=directory,
        organization_management=management,
        self_service=SelfService(
            db=database,
            clock=clock,
            hasher=hasher,
            throttle=throttle,
            management=management,
            events=events,
            revoker=revoker,
        ),
        public_management=PublicManagement(
            db=database,
            clock=clock,
            events=events,
            mode=settings.organization_mode,
            enabled=settings.public_organization_management,
        ),
        invitations=Invitations(
            db=database,
            clock=clock,
            events=events,
            mode=settings.organization_mode,
            ttl=settings.invitation_ttl,
            public_url=settings.public_url,
            public_enabled=settings.public_organization_management,
            email_include_code=settings.invitation_email_include_code,
        ),
        acceptance=acceptance,
        challenges=ChallengeService(
            db=database,
            clock=clock,
            settings=settings.challenges,
            keys=settings.tokens.keys,
            accounts=accounts,
            sessions=sessions,
            acceptance=acceptance,
            throttle=throttle,
            revoker=revoker,
        ),
        mail_composers=mail_composers,
        mail=mail,
        webhooks=(
            WebhookWorkers(db=database, clock=clock, settings=settings.webhooks)
            if settings.webhooks.enabled
            else None
        ),
        revoker=revoker,
        rate_limit_stats=rate_limit_stats,
        cache=cache,
    )


def create_app(
    settings: Settings,
    *,
    worker_index: int | None = None,
    clock: Clock | None = None,
    oauth_secrets: Callable[[], str] = new_secret,
    periodic_cleanup: bool = True,
    send_mail: bool = True,
    deliver_webhooks: bool = True,
) -> web.Application:
    """Build core's web application; resources open and close with the app's lifetime.

    `clock` and `oauth_secrets` (states, link ids, browser bindings) let tests pin time and
    randomness. With several worker processes only one runs the periodic cleanup; every one
    runs the email workers and, when webhooks are enabled, the webhook workers
    (`send_mail=False`, `deliver_webhooks=False` let tests look at the queues undisturbed).
    With AUTHARA_METRICS_BIND set, metrics are served on their own listener (worker i of
    several on port+i); with LOG_LEVEL info or debug, every request gets an access line.
    """
    clock = clock or SystemClock()
    services = build_services(settings, clock=clock, oauth_secrets=oauth_secrets)
    brand_assets = BrandAssets(settings.brand)
    renderer = Renderer(settings.brand, brand_css_url=brand_assets.css_url)
    cookie_writer = CookieWriter(
        secure=settings.secure_cookies,
        access_ttl=settings.tokens.access_ttl,
        refresh_ttl=settings.tokens.refresh_ttl,
        clock=clock,
    )
    metrics = (
        CoreMetrics.create(
            hasher=services.hasher,
            database=services.database,
            rate_limits=services.rate_limit_stats,
        )
        if settings.metrics_bind is not None
        else None
    )
    recorder = CoreRecorder(
        RequestObserver(
            access_log=access_log_for(settings.log_level, settings.log_format, "core.access"),
            metrics=metrics.http if metrics is not None else None,
        ),
        metrics,
        services.sessions.known_user,
    )
    envelope = RequestEnvelope(
        ErrorRenderer(renderer),
        CsrfGuard(settings.public_url, dev=settings.app_env is AppEnv.DEV),
        security_headers(
            google=settings.oauth.google is not None,
            hsts=settings.hsts,
            logo_origin=settings.brand.logo_origin,
        ),
        recorder if recorder.enabled else None,
    )
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[envelope.middleware])
    app[SERVICES_KEY] = services
    app[REVOCATION_STATS_KEY] = services.revoker.stats
    app[RATE_LIMIT_STATS_KEY] = services.rate_limit_stats
    _manage_resources(
        app,
        services,
        settings,
        periodic_cleanup=periodic_cleanup,
        send_mail=send_mail,
        deliver_webhooks=deliver_webhooks,
    )
    _observe(app, settings, services, recorder, metrics, worker_index)
    app.router.add_routes(
        route_table(
            services,
            settings,
            renderer=renderer,
            cookie_writer=cookie_writer,
            brand_assets=brand_assets,
        )
    )
    return app


def _observe(
    app: web.Application,
    settings: Settings,
    services: Services,
    recorder: CoreRecorder,
    metrics: CoreMetrics | None,
    worker_index: int | None,
) -> None:
    """Start the metrics listener with the app (after the pool) and flush the access log."""

    async def learn_routes(app: web.Application) -> None:
        recorder.learn_routes(
            resource.canonical
            for resource in app.router.resources()
            if isinstance(resource, web.PlainResource)
        )

    async def flush(_app: web.Application) -> None:
        recorder.flush()

    app.on_startup.append(learn_routes)
    app.on_cleanup.append(flush)
    if metrics is None or settings.metrics_bind is None:
        return
    app[METRICS_KEY] = metrics
    revocation_stats = services.revoker.stats
    metrics.revocation.read = revocation_stats.checks.items
    database = services.database

    async def backlog() -> dict[tuple[str, str], int]:
        async with database.connection() as conn:
            mail = await mail_store.backlog(conn)
            webhooks = await webhook_store.backlog(conn)
        counts = {("email", status): n for status, n in mail.items()}
        counts.update({("webhooks", status): n for status, n in webhooks.items()})
        return counts

    listener = MetricsListener(
        metrics.registry,
        metrics_address(settings.metrics_bind, worker_index),
        refreshers=[metrics.backlog_refresher(backlog)],
    )
    app.cleanup_ctx.append(listener.running)


def _manage_resources(
    app: web.Application,
    services: Services,
    settings: Settings,
    *,
    periodic_cleanup: bool,
    send_mail: bool,
    deliver_webhooks: bool,
) -> None:
    """Open the pool, hasher and provider clients with the app, and close them after it.

    The email and webhook workers start once the pool is open and stop (finishing the mail
    or delivery in hand) before it closes.
    """
    database, hasher, providers = services.database, services.hasher, services.providers

    async def database_ctx(_app: web.Application) -> AsyncIterator[None]:
        await database.open()
        try:
            await _check_schema(database, settings.database.schema)
            await services.organizations.pin_mode()
            yield
        finally:
            await database.close()

    async def hasher_ctx(_app: web.Application) -> AsyncIterator[None]:
        yield
        hasher.close()

    async def providers_ctx(_app: web.Application) -> AsyncIterator[None]:
        providers.open()
        try:
            yield
        finally:
            await providers.close()

    async def cleanup_task_ctx(_app: web.Application) -> AsyncIterator[None]:
        every = settings.session_cleanup_interval.total_seconds()
        tasks = [
            asyncio.create_task(
                _clean_up(
                    (
                        services.sessions.cleanup,
                        services.flows.cleanup,
                        services.challenges.cleanup,
                        services.mail.cleanup,
                        services.passkeys.cleanup,
                    ),
                    every,
                )
            ),
            # Upstream: every 24 h. The first run comes after one short interval, so a
            # process restarted daily (deploys) still cleans up.
            asyncio.create_task(
                _clean_up(
                    (services.audit_log.cleanup,),
                    AUDIT_CLEANUP_INTERVAL.total_seconds(),
                    first_after_s=every,
                )
            ),
        ]
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def mail_ctx(_app: web.Application) -> AsyncIterator[None]:
        async with services.mail.running():
            yield

    app.cleanup_ctx.extend([database_ctx, hasher_ctx, providers_ctx])
    cache = services.cache
    if cache is not None:

        async def cache_ctx(_app: web.Application) -> AsyncIterator[None]:
            yield  # redis-py connects on first use: core starts while Redis is down
            await cache.aclose()

        app.cleanup_ctx.append(cache_ctx)
    if send_mail:
        app.cleanup_ctx.append(mail_ctx)
    webhooks = services.webhooks
    if deliver_webhooks and webhooks is not None:

        async def webhooks_ctx(_app: web.Application) -> AsyncIterator[None]:
            async with webhooks.running():
                yield

        app.cleanup_ctx.append(webhooks_ctx)
    if periodic_cleanup:
        app.cleanup_ctx.append(cleanup_task_ctx)


async def _clean_up(
    jobs: Sequence[Callable[[], Awaitable[int]]],
    interval_s: float,
    *,
    first_after_s: float | None = None,
) -> None:
    """Run cleanup jobs every interval, the first time after `first_after_s` (or one interval).

    The jobs: expired sessions, OAuth flows, finished email jobs; old audit events.

    Failures are logged and retried at the next interval.
    """
    wait_s = interval_s if first_after_s is None else first_after_s
    while True:
        await asyncio.sleep(wait_s)
        wait_s = interval_s
        for job in jobs:
            try:
                deleted = await job()
            except (OSError, asyncpg.PostgresError, DatabaseUnavailable):
                _LOGGER.exception(
                    "cleanup %s failed; retrying in %.0fs", job.__qualname__, interval_s
                )
            else:
                _LOGGER.debug("cleanup %s deleted %d expired rows", job.__qualname__, deleted)


async def check_database(settings: Settings) -> None:
    """Check the schema revision and pin the organization mode, on a pool of its own.

    A supervisor runs this once before forking workers, so a refusal is one line and one
    exit code rather than one per worker.
    """
    database = Database(
        settings.database,
        pool_size=1,
        timezone=settings.db_timezone,
        pgbouncer=settings.db_pgbouncer,
    )
    await database.open()
    try:
        await _check_schema(database, settings.database.schema)
        clock = SystemClock()
        await OrganizationService(
            db=database, clock=clock, events=Outbox(()), mode=settings.organization_mode
        ).pin_mode()
    finally:
        await database.close()


async def _check_schema(database: Database, schema: str) -> None:
    async with database.connection() as conn:
        revision = await current_schema_revision(conn, schema)
    if revision != REQUIRED_SCHEMA_REVISION:
        raise SchemaMismatch(
            f"database schema {schema!r} is at revision {revision or 'none'}, this build needs "
            f"{REQUIRED_SCHEMA_REVISION}: run `authara-migrate up` first"
        )
