"""Session handlers: refresh, tokens, the signed-in user and logout (JSON API and pages)."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from authara_contract import cookies, routes
from authara_contract.claims import Audience
from authara_contract.headers import NO_STORE
from authara_contract.return_to import resolve_return_to, with_return_to
from authara_core.platform.bodies import BodyReader, audience_param
from authara_core.platform.cookies import CookieWriter, read_cookie
from authara_core.platform.error_render import json_error
from authara_core.platform.render import json_response, redirect
from authara_core.sessions.audience import audience_for
from authara_core.sessions.listing import session_id_of, session_json
from authara_core.sessions.responses import end_session, refresh_or_clear, user_json
from authara_core.sessions.service import SessionService

ANY_AUDIENCE: Final = (Audience.APP, Audience.ADMIN)
APP_ONLY: Final = (Audience.APP,)


class SessionApi:
    """Handlers for the session part of the JSON API."""

    def __init__(
        self, *, sessions: SessionService, cookie_writer: CookieWriter, bodies: BodyReader
    ) -> None:
        self._sessions = sessions
        self._cookies = cookie_writer
        self._bodies = bodies

    async def sessions_refresh(self, request: web.Request) -> web.StreamResponse:
        """Refresh the session from the refresh cookie: 200, empty body, new cookies."""
        return await refresh_or_clear(
            request,
            self._sessions,
            self._cookies,
            audience=audience_param(request, ANY_AUDIENCE),
            refreshed=lambda: web.Response(status=200, headers={"Cache-Control": NO_STORE}),
            refused=lambda exc: json_error(exc.status, exc.code, exc.message),
        )

    async def tokens_refresh(self, request: web.Request) -> web.StreamResponse:
        """Exchange a refresh token in the body for tokens in the body (no cookies)."""
        body = await self._bodies.read(request, "TokenRefreshRequest")
        audience = Audience(body.get("audience", Audience.APP.value))
        issued = await self._sessions.refresh(body["refresh_token"], audience=audience)
        return json_response(
            {"access_token": issued.access_token, "refresh_token": issued.refresh_token},
            headers={"Cache-Control": NO_STORE},
        )

    async def user(self, request: web.Request) -> web.StreamResponse:
        """Return the signed-in user (app audience)."""
        claims = await self._sessions.identify(
            read_cookie(request, cookies.ACCESS), audiences=APP_ONLY
        )
        current = await self._sessions.current_user(claims)
        organization = current.organization
        return json_response(
            {
                **user_json(current.user),
                "roles": list(current.roles),
                "organization": {
                    "id": str(organization.organization_id),
                    "name": organization.name,
                    "role": organization.role.value,
                },
            }
        )

    async def sessions_list(self, request: web.Request) -> web.StreamResponse:
        """List the caller's live sessions, theirs first (this project's addition)."""
        claims = await self._sessions.identify(
            read_cookie(request, cookies.ACCESS), audiences=APP_ONLY
        )
        views = await self._sessions.list_sessions(claims)
        return json_response(
            {"sessions": [session_json(view) for view in views]},
            headers={"Cache-Control": NO_STORE},
        )

    async def session_revoke(self, request: web.Request) -> web.StreamResponse:
        """Revoke one of the caller's sessions (204); someone else's or unknown: 422.

        Revoking the caller's own session signs this client out: its cookies are cleared,
        as the page route and logout do.
        """
        claims = await self._sessions.identify(
            read_cookie(request, cookies.ACCESS), audiences=APP_ONLY
        )
        session_id = session_id_of(request)
        await self._sessions.revoke_session(claims, session_id)
        response = web.Response(status=204)
        if session_id == claims.session_id:
            self._cookies.clear_session(response)
        return response

    async def sessions_revoke_others(self, request: web.Request) -> web.StreamResponse:
        """Revoke every session of the caller but this one: 200 {"revoked": n}."""
        claims = await self._sessions.identify(
            read_cookie(request, cookies.ACCESS), audiences=APP_ONLY
        )
        revoked = await self._sessions.revoke_other_sessions(claims)
        return json_response({"revoked": revoked}, headers={"Cache-Control": NO_STORE})

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """Revoke the session and clear the cookies (204)."""
        response = web.Response(status=204)
        await end_session(request, response, self._sessions, self._cookies)
        return response


class SessionPages:
    """Browser endpoints of a session: logout and refresh (forms and script fetches)."""

    def __init__(
        self, *, sessions: SessionService, cookie_writer: CookieWriter, default_return_to: str
    ) -> None:
        self._sessions = sessions
        self._cookies = cookie_writer
        self._default_return_to = default_return_to

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """Revoke the session server-side, clear the cookies and go to return_to."""
        response = redirect(request, self._return_to(request))
        await end_session(request, response, self._sessions, self._cookies)
        return response

    async def refresh(self, request: web.Request) -> web.StreamResponse:
        """Refresh the session cookies: redirect to return_to, or 204 for a script's fetch.

        Upstream redirects a fetch to this POST-only URL, which ends in 405 and makes the
        browser SDK report failure (ARCHITECTURE §7.5); without return_to we answer 204.
        """
        requested = request.query.get(routes.RETURN_TO_PARAM)
        return_to = self._return_to(request)
        audience = audience_for(return_to)
        if requested is None and request.query.get("audience") == Audience.ADMIN.value:
            audience = Audience.ADMIN

        def refused(_exc: Exception) -> web.StreamResponse:
            if requested is None:
                return web.Response(status=401)
            return redirect(request, with_return_to(routes.LOGIN, return_to))

        return await refresh_or_clear(
            request,
            self._sessions,
            self._cookies,
            audience=audience,
            refreshed=lambda: (
                web.Response(status=204) if requested is None else redirect(request, return_to)
            ),
            refused=refused,
        )

    def _return_to(self, request: web.Request) -> str:
        return resolve_return_to(request.query.get(routes.RETURN_TO_PARAM), self._default_return_to)
