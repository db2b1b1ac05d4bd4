"""The console's access guard: who may open /auth/admin and who may change anything there.

Wrap every console handler in `ConsoleGuard.console` (routes.py does, one line per route):

- The caller needs an admin-audience access token (contract §4). A signed-in user arriving
  from the app with an app-audience token (or an expired one) is refreshed to the admin
  audience on the way in, and the new cookies ride on the answer; the account page and the
  gateway refresh back to `app` the same way, so nobody signs in again to cross over.
- Safe methods (GET, HEAD) need any platform role: `authara:admin`, `authara:auditor` or
  `authara:monitor` (our read-only view; upstream refuses the last two everywhere).
- Every other method needs `authara:admin`: auditors and monitors get 403 on every POST.
- No session: a page request goes to the login page, back here afterwards (303); any other
  method is 403. A signed-in user without a console role gets 403 (their session is kept).

The handler receives the `Operator`: the caller's claims, whether they may change things,
and `actor` for the audit log (user id, IP, User-Agent, request id).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from authara_contract import cookies, routes
from authara_contract.claims import Audience, PlatformRole
from authara_contract.return_to import with_return_to
from authara_contract.tokens import AccessClaims
from authara_core.admin.audit import Actor
from authara_core.platform.client import client_ip
from authara_core.platform.cookies import CookieWriter, read_cookie
from authara_core.platform.errors import Forbidden, Unauthorized
from authara_core.platform.render import redirect
from authara_core.platform.request_id import REQUEST_ID_KEY
from authara_core.sessions.service import IssuedSession, SessionService

ADMIN_ONLY: Final = (Audience.ADMIN,)
CONSOLE_ROLES: Final = frozenset(role.value for role in PlatformRole)
WRITE_ROLE: Final = PlatformRole.ADMIN.value
SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
NOT_AN_OPERATOR: Final = "The admin console needs an admin, auditor or monitor role."
READ_ONLY: Final = "Your role can view the admin console but not change anything."


@dataclass(frozen=True, slots=True)
class Operator:
    """The signed-in console user of this request."""

    claims: AccessClaims
    actor: Actor

    @property
    def user_id(self) -> uuid.UUID:
        """The operator's user id."""
        return self.claims.user_id

    @property
    def roles(self) -> frozenset[str]:
        """The operator's platform roles (`authara:…`)."""
        return frozenset(self.claims.roles)

    @property
    def can_write(self) -> bool:
        """Whether the operator may change things (holds `authara:admin`)."""
        return WRITE_ROLE in self.claims.roles


ConsoleHandler = Callable[[web.Request, Operator], Awaitable[web.StreamResponse]]


class ConsoleGuard:
    """Serves console handlers to operators only (the module docstring has the rules)."""

    def __init__(
        self, *, sessions: SessionService, cookie_writer: CookieWriter, trust_proxy_headers: bool
    ) -> None:
        self._sessions = sessions
        self._cookies = cookie_writer
        self._trust_proxy = trust_proxy_headers

    def console(
        self, handler: ConsoleHandler
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Wrap a console handler: GET/HEAD for any console role, other methods for admins."""

        async def serve(request: web.Request) -> web.StreamResponse:
            issued: IssuedSession | None = None
            claims = await self._admin_claims(request)
            if claims is None:
                outcome = await self._refresh(request)
                if not isinstance(outcome, IssuedSession):
                    return outcome
                issued = outcome
                claims = self._sessions.verify(issued.access_token, audiences=ADMIN_ONLY)
            self._authorize(request, claims)
            response = await handler(request, self._operator(request, claims))
            if issued is not None and cookies.ACCESS.name not in response.cookies:
                self._cookies.set_session(response, issued)
            return response

        return serve

    async def _admin_claims(self, request: web.Request) -> AccessClaims | None:
        """Return the caller's admin-audience claims, or None (no token, or another audience)."""
        try:
            return await self._sessions.identify(
                read_cookie(request, cookies.ACCESS), audiences=ADMIN_ONLY
            )
        except Unauthorized:
            return None

    async def _is_signed_in(self, request: web.Request) -> bool:
        """Tell whether the caller holds a valid app-audience access token."""
        try:
            await self._sessions.identify(
                read_cookie(request, cookies.ACCESS), audiences=(Audience.APP,)
            )
        except Unauthorized:
            return False
        return True

    async def _refresh(self, request: web.Request) -> IssuedSession | web.StreamResponse:
        """Refresh to the admin audience, or answer a caller who cannot have it.

        The refresh reads the roles from the database, so a role granted after the app token
        was issued counts at once. A refused admin refresh changes nothing (its transaction
        rolls back, except a reuse detection's revocation, which must stand). Refused:
        - with a valid app token: a signed-in user without a console role, 403;
        - else an app refresh tells a live session without a console role (its new cookies
          go on a redirect to this URL, which then answers 403 as above) from no session at
          all (to the login page, cookies cleared).
        """
        refresh_token = read_cookie(request, cookies.REFRESH)
        if not refresh_token:
            if await self._is_signed_in(request):
                raise Forbidden(NOT_AN_OPERATOR)
            return self._to_login(request)
        try:
            return await self._sessions.refresh(refresh_token, audience=Audience.ADMIN)
        except (Unauthorized, Forbidden):
            if await self._is_signed_in(request):
                raise Forbidden(NOT_AN_OPERATOR) from None
        try:
            app = await self._sessions.refresh(refresh_token, audience=Audience.APP)
        except (Unauthorized, Forbidden):
            refused = self._to_login(request)
            self._cookies.clear_session(refused)
            return refused
        again = redirect(request, request.path_qs)
        self._cookies.set_session(again, app)
        return again

    @staticmethod
    def _to_login(request: web.Request) -> web.StreamResponse:
        if request.method not in SAFE_METHODS:
            raise Forbidden
        return redirect(request, with_return_to(routes.LOGIN, request.path_qs))

    @staticmethod
    def _authorize(request: web.Request, claims: AccessClaims) -> None:
        if not CONSOLE_ROLES.intersection(claims.roles):
            raise Forbidden(NOT_AN_OPERATOR)
        if request.method not in SAFE_METHODS and WRITE_ROLE not in claims.roles:
            raise Forbidden(READ_ONLY)

    def _operator(self, request: web.Request, claims: AccessClaims) -> Operator:
        actor = Actor(
            user_id=claims.user_id,
            ip=client_ip(request, trust_proxy_headers=self._trust_proxy),
            user_agent=request.headers.get("User-Agent"),
            request_id=request.get(REQUEST_ID_KEY),
        )
        return Operator(claims=claims, actor=actor)
