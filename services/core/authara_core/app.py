"""The composition root: build every collaborator in dependency order."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import asyncpg
from aiohttp import web

from authara_contract import routes

from .clock import Clock, SystemClock
from .errors import DatabaseUnavailable, SchemaMismatch
from .http import meta
from .http.account import AccountPages
from .http.api import ApiHandlers
from .http.api_oauth import GoogleApi
from .http.bodies import BodyReader
from .http.cookies import CookieWriter
from .http.csp import security_headers
from .http.csrf import CsrfGuard
from .http.dispatch import direct_handler
from .http.errors import ErrorRenderer
from .http.middlewares import RequestEnvelope
from .http.oauth import OAuthRoutes
from .http.pages import AuthPages
from .http.render import Renderer
from .keys import (
    ACCOUNTS_KEY,
    DATABASE_KEY,
    ENVELOPE_KEY,
    HASHER_KEY,
    SESSIONS_KEY,
    SETTINGS_KEY,
)
from .services.accounts import AccountService
from .services.oauth.flows import OAuthFlows
from .services.oauth.google import GoogleIdTokens
from .services.oauth.linking import ProviderLinks
from .services.oauth.registry import ProviderRegistry
from .services.oauth.secrets import new_secret
from .services.passwords import PasswordHasher
from .services.ratelimit import MemoryRateLimiter, Throttle
from .services.sessions import SessionService
from .settings import AppEnv, Settings
from .store.db import Database
from .store.schema import REQUIRED_SCHEMA_REVISION, current_schema_revision

_LOGGER = logging.getLogger(__name__)

# Upstream caps API bodies at 1 MiB; a larger body is refused with 413 before parsing.
MAX_BODY_BYTES = 1024 * 1024


def create_app(
    settings: Settings,
    *,
    clock: Clock | None = None,
    oauth_secrets: Callable[[], str] = new_secret,
    periodic_cleanup: bool = True,
) -> web.Application:
    """Build core's web application; resources open and close with the app's lifetime.

    `clock` and `oauth_secrets` (states, link ids, browser bindings) let tests pin time and
    randomness. With several worker processes only one runs the periodic cleanup.
    """
    clock = clock or SystemClock()
    database = Database(
        settings.database,
        pool_size=settings.db_pool_size,
        timezone=settings.db_timezone,
        acquire_timeout_s=settings.db_acquire_timeout.total_seconds(),
        statement_timeout_s=settings.db_statement_timeout.total_seconds(),
    )
    hasher = PasswordHasher(settings.passwords)
    sessions = SessionService(db=database, clock=clock, settings=settings.tokens)
    limits = settings.rate_limits.per_worker(settings.workers)
    limiter = MemoryRateLimiter(
        clock, cleanup_every=limits.cleanup_every, max_entries=limits.max_entries
    )
    throttle = Throttle(limiter, login=limits.login, signup=limits.signup)
    accounts = AccountService(
        db=database, clock=clock, hasher=hasher, sessions=sessions, throttle=throttle
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
    renderer = Renderer()
    cookie_writer = CookieWriter(settings, clock)

    envelope = RequestEnvelope(
        ErrorRenderer(renderer),
        CsrfGuard(settings.public_url, dev=settings.app_env is AppEnv.DEV),
        security_headers(google=settings.oauth.google is not None, hsts=settings.hsts),
    )
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[envelope.middleware])
    app[ENVELOPE_KEY] = envelope
    app[SETTINGS_KEY] = settings
    app[DATABASE_KEY] = database
    app[HASHER_KEY] = hasher
    app[SESSIONS_KEY] = sessions
    app[ACCOUNTS_KEY] = accounts

    async def database_ctx(_app: web.Application) -> AsyncIterator[None]:
        await database.open()
        try:
            await _check_schema(database, settings.database.schema)
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
        task = asyncio.create_task(
            _clean_up(
                (sessions.cleanup, flows.cleanup), settings.session_cleanup_interval.total_seconds()
            )
        )
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.extend([database_ctx, hasher_ctx, providers_ctx])
    if periodic_cleanup:
        app.cleanup_ctx.append(cleanup_task_ctx)

    pages = AuthPages(
        accounts=accounts,
        sessions=sessions,
        cookie_writer=cookie_writer,
        renderer=renderer,
        settings=settings,
    )
    api = ApiHandlers(
        accounts=accounts,
        sessions=sessions,
        cookie_writer=cookie_writer,
        bodies=BodyReader(),
        trust_proxy_headers=settings.trust_proxy_headers,
    )
    oauth = OAuthRoutes(
        flows=flows,
        sessions=sessions,
        cookie_writer=cookie_writer,
        renderer=renderer,
        default_return_to=settings.default_return_to,
    )
    account = AccountPages(
        links=links,
        sessions=sessions,
        oauth=oauth,
        cookie_writer=cookie_writer,
        renderer=renderer,
        trust_proxy_headers=settings.trust_proxy_headers,
    )
    google_api = GoogleApi(google=google, cookie_writer=cookie_writer, bodies=BodyReader())
    app.router.add_routes(
        [
            web.get(routes.HEALTH, meta.health),
            web.get(routes.READY, meta.Readiness(database, settings.database.schema).ready),
            web.get(routes.VERSION, meta.version),
            web.get(routes.LOGIN, pages.login_page),
            web.post(routes.LOGIN, pages.login_submit),
            web.get(routes.SIGNUP, pages.signup_page),
            web.post(routes.SIGNUP, pages.signup_submit),
            web.post(routes.LOGOUT, pages.logout),
            web.post(routes.LOGOUT_ALIAS, pages.logout),
            web.post(routes.REFRESH, pages.refresh),
            web.get(routes.API_CSRF, api.csrf),
            web.post(routes.API_LOGIN, api.login),
            web.post(routes.API_SIGNUP_DIRECT, api.signup_direct),
            web.post(routes.API_LOGOUT, api.logout),
            web.post(routes.API_SESSIONS_REFRESH, api.sessions_refresh),
            web.post(routes.API_TOKENS_REFRESH, api.tokens_refresh),
            web.get(routes.API_USER, api.user),
            web.get(routes.API_OPENAPI, api.openapi),
            web.get(routes.OAUTH_START, oauth.start),
            web.get(routes.OAUTH_CALLBACK, oauth.callback),
            web.post(routes.OAUTH_LINK, oauth.link),
            web.get(routes.PROVIDER_LINK_CONFIRM, account.confirm_page),
            web.post(routes.PROVIDER_LINK_CONFIRM, account.confirm_submit),
            web.get(routes.ACCOUNT, account.account_page),
            web.post(routes.PROVIDER_UNLINK, account.unlink),
            web.get(routes.API_GOOGLE_OPTIONS, google_api.options),
            web.post(routes.API_GOOGLE_LOGIN, google_api.login),
        ]
    )
    static_dir = importlib.resources.files("authara_core") / "static"
    app.router.add_static(routes.STATIC_PREFIX, str(static_dir))
    return app


def serve_fixed_routes_directly(runner: web.BaseRunner, app: web.Application) -> None:
    """Have a set-up runner serve the app's fixed-path routes without the router."""
    server = runner.server
    if server is None:
        raise RuntimeError("set the runner up first: the route table is read from the frozen app")
    if app.on_response_prepare:
        raise RuntimeError("on_response_prepare does not fire on the direct path: use the envelope")
    server.request_handler = direct_handler(
        app, app[ENVELOPE_KEY].middleware, server.request_handler
    )


async def _clean_up(jobs: Sequence[Callable[[], Awaitable[int]]], interval_s: float) -> None:
    """Delete expired sessions and OAuth flows every interval; failures are logged, retried."""
    while True:
        await asyncio.sleep(interval_s)
        for job in jobs:
            try:
                deleted = await job()
            except (OSError, asyncpg.PostgresError, DatabaseUnavailable):
                _LOGGER.exception(
                    "cleanup %s failed; retrying in %.0fs", job.__qualname__, interval_s
                )
            else:
                _LOGGER.debug("cleanup %s deleted %d expired rows", job.__qualname__, deleted)


async def _check_schema(database: Database, schema: str) -> None:
    async with database.connection() as conn:
        revision = await current_schema_revision(conn, schema)
    if revision != REQUIRED_SCHEMA_REVISION:
        raise SchemaMismatch(
            f"database schema {schema!r} is at revision {revision or 'none'}, this build needs "
            f"{REQUIRED_SCHEMA_REVISION}: run `authara-migrate up` first"
        )
