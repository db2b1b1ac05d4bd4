"""JSON API handlers under /auth/api/v1."""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from authara_contract import cookies
from authara_contract.claims import Audience
from authara_core.accounts.service import AccountService
from authara_core.accounts.store import UserRow
from authara_core.platform.bodies import BodyReader, audience_param
from authara_core.platform.client import client_ip
from authara_core.platform.cookies import CookieWriter, csrf_token_of, end_session, read_cookie
from authara_core.platform.errors import InvalidRequest, Unauthorized
from authara_core.platform.openapi import openapi_document
from authara_core.platform.render import json_response
from authara_core.sessions.service import IssuedSession, SessionService

ANY_AUDIENCE: Final = (Audience.APP, Audience.ADMIN)
APP_ONLY: Final = (Audience.APP,)
NO_STORE: Final = {"Cache-Control": "no-store"}


def user_json(user: UserRow) -> dict[str, Any]:
    """Render a user the way AuthUser in the OpenAPI document describes.

    The creation time stays a datetime: `json_response` writes it (`…Z` for UTC) several
    times faster than `isoformat()` would.
    """
    return {
        "id": str(user.id),
        "email": user.email,
        "username": user.username,
        "disabled": user.disabled_at is not None,
        "created_at": user.created_at,
    }


def _user_agent(request: web.Request) -> str:
    return request.headers.get("User-Agent", "")


class ApiHandlers:
    """Handlers for the JSON API."""

    def __init__(
        self,
        *,
        accounts: AccountService,
        sessions: SessionService,
        cookie_writer: CookieWriter,
        bodies: BodyReader,
        trust_proxy_headers: bool,
    ) -> None:
        self._accounts = accounts
        self._sessions = sessions
        self._cookies = cookie_writer
        self._bodies = bodies
        self._trust_proxy_headers = trust_proxy_headers
        self._document = openapi_document()

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Log in with email and password: AuthSession in the body and as cookies."""
        audience = audience_param(request, ANY_AUDIENCE)
        body = await self._bodies.read(request, "LoginRequest")
        if not body["email"].strip() or not body["password"]:
            raise InvalidRequest("Email and password are required.")
        issued = await self._accounts.login(
            email=body["email"],
            password=body["password"],
            audience=audience,
            user_agent=_user_agent(request),
            client_ip=client_ip(request, trust_proxy_headers=self._trust_proxy_headers),
        )
        return self._auth_session(issued, status=200)

    async def signup_direct(self, request: web.Request) -> web.StreamResponse:
        """Create an account and sign it in (201 AuthSession)."""
        audience = audience_param(request, APP_ONLY)
        body = await self._bodies.read(request, "SignupRequest")
        if body.get("invitation_code"):
            raise InvalidRequest("Invitation codes are not supported by this server.")
        issued = await self._accounts.signup(
            email=body["email"],
            password=body["password"],
            audience=audience,
            user_agent=_user_agent(request),
            client_ip=client_ip(request, trust_proxy_headers=self._trust_proxy_headers),
        )
        return self._auth_session(issued, status=201)

    async def sessions_refresh(self, request: web.Request) -> web.StreamResponse:
        """Refresh the session from the refresh cookie: 200, empty body, new cookies."""
        audience = audience_param(request, ANY_AUDIENCE)
        try:
            issued = await self._sessions.refresh(
                read_cookie(request, cookies.REFRESH), audience=audience
            )
        except Unauthorized as exc:
            response = json_response(
                {"error": {"code": exc.code.value, "message": exc.message}}, status=exc.status
            )
            self._cookies.clear_session(response)
            return response
        response = web.Response(status=200, headers=NO_STORE)
        self._cookies.set_session(response, issued)
        return response

    async def tokens_refresh(self, request: web.Request) -> web.StreamResponse:
        """Exchange a refresh token in the body for tokens in the body (no cookies)."""
        body = await self._bodies.read(request, "TokenRefreshRequest")
        audience = Audience(body.get("audience", Audience.APP.value))
        issued = await self._sessions.refresh(body["refresh_token"], audience=audience)
        return json_response(
            {"access_token": issued.access_token, "refresh_token": issued.refresh_token},
            headers=NO_STORE,
        )

    async def user(self, request: web.Request) -> web.StreamResponse:
        """Return the signed-in user (app audience)."""
        claims = self._sessions.identify(read_cookie(request, cookies.ACCESS), audiences=APP_ONLY)
        current = await self._sessions.current_user(claims)
        return json_response({**user_json(current.user), "roles": list(current.roles)})

    async def csrf(self, request: web.Request) -> web.StreamResponse:
        """Return the CSRF token, setting the cookie when the client has none."""
        token, is_new = csrf_token_of(request)
        response = json_response({"csrf_token": token})
        if is_new:
            self._cookies.set_csrf(response, token)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """Revoke the session and clear the cookies (204)."""
        response = web.Response(status=204)
        await end_session(request, response, self._sessions, self._cookies)
        return response

    async def openapi(self, _request: web.Request) -> web.StreamResponse:
        """Serve the OpenAPI document."""
        return json_response(self._document)

    def _auth_session(self, issued: IssuedSession, *, status: int) -> web.StreamResponse:
        return auth_session_response(self._cookies, issued, status=status)


def auth_session_response(
    cookie_writer: CookieWriter, issued: IssuedSession, *, status: int
) -> web.Response:
    """Answer with an AuthSession body and set the session cookies (and a fresh CSRF token)."""
    response = json_response(
        {
            "user": user_json(issued.user),
            "access_token": issued.access_token,
            "refresh_token": issued.refresh_token,
        },
        status=status,
        headers=NO_STORE,
    )
    cookie_writer.set_session(response, issued)
    cookie_writer.renew_csrf(response)
    return response
