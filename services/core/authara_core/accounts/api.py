"""Account handlers of the JSON API: log in, sign up, set the password."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from authara_contract import cookies
from authara_contract.claims import Audience
from authara_core.accounts.selfservice import SelfService
from authara_core.accounts.service import AccountService
from authara_core.organizations.acceptance import InvitationAcceptance
from authara_core.platform.bodies import BodyReader, audience_param
from authara_core.platform.client import client_ip
from authara_core.platform.cookies import CookieWriter, read_cookie
from authara_core.platform.errors import (
    EmailNotAllowed,
    InvalidCredentials,
    InvalidRequest,
    NotFound,
)
from authara_core.sessions.responses import auth_session_response
from authara_core.sessions.service import SessionService

ANY_AUDIENCE: Final = (Audience.APP, Audience.ADMIN)
APP_ONLY: Final = (Audience.APP,)


def _user_agent(request: web.Request) -> str:
    return request.headers.get("User-Agent", "")


class AccountApi:
    """Handlers for /auth/api/v1/login, /signup/direct and /users/password."""

    def __init__(
        self,
        *,
        accounts: AccountService,
        invitations: InvitationAcceptance,
        cookie_writer: CookieWriter,
        bodies: BodyReader,
        trust_proxy_headers: bool,
        self_service: SelfService,
        sessions: SessionService,
        direct_signup: bool = True,
    ) -> None:
        self._direct_signup = direct_signup
        self._accounts = accounts
        self._self_service = self_service
        self._sessions = sessions
        self._invitations = invitations
        self._cookies = cookie_writer
        self._bodies = bodies
        self._trust_proxy_headers = trust_proxy_headers

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Log in with email and password: AuthSession in the body and as cookies."""
        audience = audience_param(request, ANY_AUDIENCE)
        body = await self._bodies.read(request, "LoginRequest")
        if not body["email"].strip() or not body["password"]:
            raise InvalidRequest("Email and password are required.")
        try:
            issued = await self._accounts.login(
                email=body["email"],
                password=body["password"],
                audience=audience,
                user_agent=_user_agent(request),
                client_ip=client_ip(request, trust_proxy_headers=self._trust_proxy_headers),
            )
        except EmailNotAllowed as exc:  # upstream: 401, as if the password were wrong
            raise InvalidCredentials from exc
        return auth_session_response(self._cookies, issued, status=200)

    async def signup_direct(self, request: web.Request) -> web.StreamResponse:
        """Create an account and sign it in (201 AuthSession); a code joins its organization.

        With email challenges on, signups go through /signup/challenges: this route is 404.
        """
        if not self._direct_signup:
            raise NotFound
        audience = audience_param(request, APP_ONLY)
        body = await self._bodies.read(request, "SignupRequest")
        ip = client_ip(request, trust_proxy_headers=self._trust_proxy_headers)
        if code := body.get("invitation_code"):
            issued = await self._invitations.signup_with_code(
                code,
                email=body["email"],
                password=body["password"],
                audience=audience,
                user_agent=_user_agent(request),
                client_ip=ip,
            )
        else:
            issued = await self._accounts.signup(
                email=body["email"],
                password=body["password"],
                audience=audience,
                user_agent=_user_agent(request),
                client_ip=ip,
            )
        return auth_session_response(self._cookies, issued, status=201)

    async def set_password(self, request: web.Request) -> web.StreamResponse:
        """Create or replace the caller's password and end all their sessions (204).

        As upstream, the caller's own session ends too; its cookies are cleared with it.
        """
        claims = await self._sessions.identify(
            read_cookie(request, cookies.ACCESS), audiences=APP_ONLY
        )
        body = await self._bodies.read(request, "SetPasswordRequest")
        await self._self_service.set_password(
            user_id=claims.user_id,
            session_id=claims.session_id,
            password=body["password"],
            client_ip=client_ip(request, trust_proxy_headers=self._trust_proxy_headers),
        )
        response = web.Response(status=204)
        self._cookies.clear_session(response)
        return response
