"""The Google Identity Services JSON API (upstream §1.3): options, then the ID-token login."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from authara_contract import cookies
from authara_contract.claims import Audience
from authara_contract.headers import NO_STORE
from authara_core.oauth.google import GoogleIdTokens
from authara_core.platform.bodies import BodyReader, audience_param
from authara_core.platform.client import client_ip
from authara_core.platform.cookies import CookieWriter, read_cookie
from authara_core.platform.render import json_response
from authara_core.sessions.responses import auth_session_response

ANY_AUDIENCE: Final = (Audience.APP, Audience.ADMIN)


class GoogleApi:
    """Handlers for /auth/api/v1/oauth/google*."""

    def __init__(
        self,
        *,
        google: GoogleIdTokens,
        cookie_writer: CookieWriter,
        bodies: BodyReader,
        trust_proxy_headers: bool = False,
    ) -> None:
        self._trust_proxy_headers = trust_proxy_headers
        self._google = google
        self._cookies = cookie_writer
        self._bodies = bodies

    async def options(self, request: web.Request) -> web.StreamResponse:
        """Return the client id and the nonce for the ID-token request (404: Google is off)."""
        client_id = self._google.client_id()
        nonce = read_cookie(request, cookies.OAUTH_NONCE)
        is_new = not nonce
        if not nonce:
            nonce = self._google.new_nonce()
        response = json_response(
            {"client_id": client_id, "nonce": nonce}, headers={"Cache-Control": NO_STORE}
        )
        if is_new:
            self._cookies.set_oauth_nonce(response, nonce)
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        """Sign in with a Google ID token; 409 account_link_required when the email is taken."""
        self._google.client_id()  # 404 before reading the body when Google is off
        audience = audience_param(request, ANY_AUDIENCE)
        body = await self._bodies.read(request, "GoogleLoginRequest")
        issued = await self._google.login(
            credential=body["credential"],
            nonce=body["nonce"],
            cookie_nonce=read_cookie(request, cookies.OAUTH_NONCE),
            audience=audience,
            user_agent=request.headers.get("User-Agent", ""),
            client_ip=client_ip(request, trust_proxy_headers=self._trust_proxy_headers),
        )
        response = auth_session_response(self._cookies, issued, status=200)
        self._cookies.clear_oauth_nonce(response)
        return response
