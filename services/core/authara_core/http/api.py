"""JSON API handlers under /auth/api/v1."""

from __future__ import annotations

from aiohttp import web

from authara_contract import cookies
from authara_contract.claims import Audience
from authara_core.services.sessions import SessionService

from .cookies import CookieWriter, csrf_token_of, end_session


class ApiHandlers:
    """Handlers for the JSON API."""

    def __init__(self, *, sessions: SessionService, cookie_writer: CookieWriter) -> None:
        self._sessions = sessions
        self._cookies = cookie_writer

    async def user(self, request: web.Request) -> web.StreamResponse:
        """Return the signed-in user (app audience)."""
        claims = self._sessions.identify(
            request.cookies.get(cookies.ACCESS.name), audiences=(Audience.APP,)
        )
        current = await self._sessions.current_user(claims)
        user = current.user
        return web.json_response(
            {
                "id": str(user.id),
                "email": user.email,
                "username": user.username,
                "disabled": user.disabled_at is not None,
                "created_at": user.created_at.isoformat().replace("+00:00", "Z"),
                "roles": list(current.roles),
            }
        )

    async def csrf(self, request: web.Request) -> web.StreamResponse:
        """Return the CSRF token, setting the cookie when the client has none."""
        token, is_new = csrf_token_of(request)
        response = web.json_response({"csrf_token": token})
        if is_new:
            self._cookies.set_csrf(response, token)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """Revoke the session and clear the cookies (204)."""
        response = web.Response(status=204)
        await end_session(request, response, self._sessions, self._cookies)
        return response
