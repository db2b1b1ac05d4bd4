"""Transparent session refresh: one server-to-server call to core per refresh token.

When a request for the app carries no usable access cookie but a refresh cookie, the gateway
asks core (`POST /auth/api/v1/sessions/refresh?audience=app`) for new cookies, as the Go
SDK's RequireAuthWithRefresh does (upstream contract §15.1): it copies core's Set-Cookie
headers onto the client's response and rewrites the Cookie header it forwards, so the app,
and any call the app makes to core with that header, already sees the new session.

Concurrent requests with the same refresh token share one call (single-flight), and the
outcome is kept for a few seconds so that the page's other requests, which still carry the
old cookies, do not present a rotated token again (core would take that for reuse when
its grace window is off).
"""

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final

import aiohttp
from aiohttp import hdrs, web
from yarl import URL

from authara_contract import cookies
from authara_contract import headers as contract_headers
from authara_contract.claims import Audience
from authara_contract.routes import API_SESSIONS_REFRESH
from authara_runtime.cookie_header import cookie_pair

from .identity import Identity, IdentityVerifier
from .upstreams import UpstreamPool

_LOGGER = logging.getLogger(__name__)

REFRESH_TIMEOUT: Final = 10.0
# How long a finished refresh answers for the same refresh token (core's default grace).
RECENT_WINDOW: Final = 10.0
RECENT_SIZE: Final = 10_000
_SESSION_NAMES: Final = frozenset(spec.name for spec in cookies.SESSION_COOKIES)
_ACCEPTED: Final = frozenset({web.HTTPOk.status_code, web.HTTPNoContent.status_code})
_REJECTED: Final = frozenset({web.HTTPUnauthorized.status_code, web.HTTPForbidden.status_code})


@dataclass(frozen=True, slots=True)
class RefreshOutcome:
    """What core decided: cookies for the client, cookie values for upstream, the identity.

    `cookie_values` maps a session cookie name to its new value, or to None when the cookie
    must no longer be forwarded (the refresh was refused and the cookies cleared).
    """

    set_cookies: tuple[str, ...]
    cookie_values: Mapping[str, str | None]
    identity: Identity | None


@dataclass(frozen=True, slots=True)
class ClientContext:
    """What the gateway passes on about the client when it calls core for it."""

    csrf_token: str | None
    forwarded_for: str
    forwarded_proto: str
    forwarded_host: str
    request_id: str
    user_agent: str | None = None


class SessionRefresher:
    """Refresh sessions through core, one call per refresh token at a time."""

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        core: UpstreamPool,
        verifier: IdentityVerifier,
        prod: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._core = core
        self._verifier = verifier
        self._prod = prod
        self._clock = clock
        self._inflight: dict[str, asyncio.Task[RefreshOutcome | None]] = {}
        self._recent: dict[str, tuple[float, RefreshOutcome]] = {}
        self._timeout = aiohttp.ClientTimeout(total=REFRESH_TIMEOUT)

    async def refresh(self, refresh_token: str, client: ClientContext) -> RefreshOutcome | None:
        """Return core's answer for this refresh token; None when core could not be asked."""
        recent = self._recent_outcome(refresh_token)
        if recent is not None:
            return recent
        task = self._inflight.get(refresh_token)
        if task is None:
            task = asyncio.create_task(self._ask_core(refresh_token, client))
            self._inflight[refresh_token] = task
            task.add_done_callback(lambda done: self._settle(refresh_token, done))
        # One client hanging up must not cancel the call the others are waiting for.
        return await asyncio.shield(task)

    def _recent_outcome(self, refresh_token: str) -> RefreshOutcome | None:
        entry = self._recent.get(refresh_token)
        if entry is None:
            return None
        until, outcome = entry
        if self._clock() < until:
            return outcome
        del self._recent[refresh_token]
        return None

    def _settle(self, refresh_token: str, task: asyncio.Task[RefreshOutcome | None]) -> None:
        self._inflight.pop(refresh_token, None)
        if task.cancelled() or task.exception() is not None:
            return
        outcome = task.result()
        if outcome is None:
            return  # core was unreachable: the next request may try again at once
        recent, now = self._recent, self._clock()
        # Entries are kept in insertion order, which is also expiry order.
        while recent and (len(recent) >= RECENT_SIZE or next(iter(recent.values()))[0] <= now):
            del recent[next(iter(recent))]
        recent[refresh_token] = (now + RECENT_WINDOW, outcome)

    async def _ask_core(self, refresh_token: str, client: ClientContext) -> RefreshOutcome | None:
        csrf = client.csrf_token or secrets.token_urlsafe(32)
        request_headers = {
            hdrs.COOKIE: f"{cookies.REFRESH.name}={refresh_token}; {cookies.CSRF.name}={csrf}",
            contract_headers.CSRF_TOKEN: csrf,
            hdrs.ACCEPT: "application/json",
            hdrs.X_FORWARDED_FOR: client.forwarded_for,
            hdrs.X_FORWARDED_PROTO: client.forwarded_proto,
            hdrs.X_FORWARDED_HOST: client.forwarded_host,
            contract_headers.REQUEST_ID: client.request_id,
        }
        if client.user_agent is not None:
            request_headers[hdrs.USER_AGENT] = client.user_agent
        for upstream in self._core.candidates():
            url = upstream.base_url.with_path(API_SESSIONS_REFRESH).with_query(
                audience=Audience.APP.value
            )
            try:
                return await self._post(url, request_headers)
            except aiohttp.ClientConnectorError as exc:
                self._core.mark_failed(upstream)
                _LOGGER.warning("cannot reach core to refresh a session: %s", exc)
            except (TimeoutError, aiohttp.ClientError) as exc:
                _LOGGER.warning("session refresh through core failed: %r", exc)
                return None
        return None

    async def _post(self, url: URL, request_headers: Mapping[str, str]) -> RefreshOutcome | None:
        async with self._session.post(
            url, headers=request_headers, timeout=self._timeout, allow_redirects=False
        ) as response:
            await response.read()
            set_cookies = tuple(response.headers.getall(hdrs.SET_COOKIE, ()))
            if response.status in _ACCEPTED:
                return self._accepted(set_cookies)
            if response.status in _REJECTED:
                return RefreshOutcome(
                    set_cookies=self._clearing(set_cookies),
                    cookie_values=dict.fromkeys(_SESSION_NAMES),
                    identity=None,
                )
            _LOGGER.warning("core answered a session refresh with status %s", response.status)
            return None

    def _accepted(self, set_cookies: tuple[str, ...]) -> RefreshOutcome | None:
        values = {
            name: value
            for name, value in (cookie_pair(header) for header in set_cookies)
            if name in _SESSION_NAMES and value
        }
        access = values.get(cookies.ACCESS.name)
        if access is None:
            _LOGGER.warning("core refreshed a session without setting %s", cookies.ACCESS.name)
            return None
        identity = self._verifier.verify(access)
        if identity is None:
            # Core may have rotated the refresh token, so the client must still get the new
            # cookies; the request just goes on anonymous (keys differ between gateway and core).
            _LOGGER.warning("the access token core issued does not verify with the gateway's keys")
        return RefreshOutcome(set_cookies=set_cookies, cookie_values=values, identity=identity)

    def _clearing(self, from_core: tuple[str, ...]) -> tuple[str, ...]:
        cleared = tuple(header for header in from_core if cookie_pair(header)[0] in _SESSION_NAMES)
        return cleared or tuple(
            spec.clearing_header(prod=self._prod) for spec in cookies.SESSION_COOKIES
        )
