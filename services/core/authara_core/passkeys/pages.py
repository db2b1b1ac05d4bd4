"""Passkey browser routes: the setup page, the ceremonies' JSON calls, the account page's forms.

The ceremonies need JavaScript (static/passkeys.js calls navigator.credentials); their routes
answer JSON, errors included (routes.JSON_PAGE_PATHS). The setup page says so to a browser
without it. Deleting and renaming are plain forms that come back to the account page.
"""

from __future__ import annotations

import uuid
from typing import Final

from aiohttp import web

from authara_contract import routes
from authara_contract.headers import NO_STORE
from authara_contract.return_to import resolve_return_to
from authara_contract.tokens import AccessClaims
from authara_core.accounts.home import AccountHome, back_to_account
from authara_core.passkeys.api import (
    optional_text,
    options_json,
    passkey_id_param,
    read_ceremony_body,
)
from authara_core.passkeys.service import PasskeyService
from authara_core.platform.bodies import BodyReader, field, read_form
from authara_core.platform.client import client_ip
from authara_core.platform.cookies import CookieWriter
from authara_core.platform.errors import (
    LastSignInMethod,
    PasskeyNameInvalid,
    PasskeySignInFailed,
    PasskeySignInRefused,
)
from authara_core.platform.flash import Flash
from authara_core.platform.forms import FormRenderer
from authara_core.platform.render import Renderer, json_response
from authara_core.sessions.audience import audience_for

SETUP_PAGE: Final = "passkeys/setup.html"
SECTION: Final = "passkeys/_passkeys.html"
# Upstream's header asking register/finish for the account page's section instead of JSON.
RESPONSE_HEADER: Final = "X-Authara-Response"
SECTION_RESPONSE: Final = "linked-providers-section"


class PasskeyPages:
    """Handlers for /auth/passkeys/..."""

    def __init__(
        self,
        *,
        passkeys: PasskeyService,
        home: AccountHome,
        cookie_writer: CookieWriter,
        renderer: Renderer,
        bodies: BodyReader,
        default_return_to: str,
        trust_proxy_headers: bool,
    ) -> None:
        self._passkeys = passkeys
        self._home = home
        self._cookies = cookie_writer
        self._forms = FormRenderer(renderer, cookie_writer)
        self._bodies = bodies
        self._default_return_to = default_return_to
        self._trust_proxy_headers = trust_proxy_headers

    def _return_to(self, value: str | None) -> str:
        return resolve_return_to(value, self._default_return_to)

    async def setup_page(self, request: web.Request, claims: AccessClaims) -> web.StreamResponse:
        """Offer a passkey after signup; skipping goes on to return_to."""
        return_to = self._return_to(request.query.get(routes.RETURN_TO_PARAM))
        existing = await self._passkeys.list(claims.user_id)
        return self._forms.page(
            request,
            SETUP_PAGE,
            show_flash=True,
            return_to=return_to,
            has_passkey=bool(existing),
            options_url=routes.PASSKEY_REGISTER_OPTIONS,
            finish_url=routes.PASSKEY_REGISTER_FINISH,
        )

    async def authenticate_options(self, request: web.Request) -> web.StreamResponse:
        """Open a passkey sign-in (the login page's button and autofill)."""
        ip = client_ip(request, trust_proxy_headers=self._trust_proxy_headers)
        return options_json(await self._passkeys.authentication_options(client_ip=ip))

    async def authenticate_finish(self, request: web.Request) -> web.StreamResponse:
        """Sign in with the assertion: cookies, and where to go (`{"ok", "return_to"}`)."""
        body = await read_ceremony_body(self._bodies, request, "PasskeyPageAuthenticateRequest")
        return_to = self._return_to(optional_text(body, "return_to"))
        try:
            issued = await self._passkeys.authenticate(
                challenge_id=uuid.UUID(body["challenge_id"]),
                credential=body["credential"],
                audience=audience_for(return_to),
                user_agent=request.headers.get("User-Agent", ""),
                client_ip=client_ip(request, trust_proxy_headers=self._trust_proxy_headers),
            )
        except PasskeySignInFailed as exc:  # upstream's page route: 422 invalid_request
            raise PasskeySignInRefused from exc
        response = json_response(
            {"ok": True, "return_to": return_to}, headers={"Cache-Control": NO_STORE}
        )
        self._cookies.set_session(response, issued)
        self._cookies.renew_csrf(response)
        return response

    async def register_options(
        self, request: web.Request, claims: AccessClaims
    ) -> web.StreamResponse:
        """Open a registration for the signed-in user."""
        return options_json(await self._passkeys.registration_options(claims.user_id))

    async def register_finish(
        self, request: web.Request, claims: AccessClaims
    ) -> web.StreamResponse:
        """Store the new passkey; answer where to go next (`{"ok", "return_to"}`).

        With `X-Authara-Response: linked-providers-section` (upstream's account page), the
        answer is the account page's passkeys section as an HTML fragment instead.
        """
        body = await read_ceremony_body(self._bodies, request, "PasskeyPageRegisterRequest")
        await self._passkeys.register(
            user_id=claims.user_id,
            challenge_id=uuid.UUID(body["challenge_id"]),
            credential=body["credential"],
            name=optional_text(body, "name"),
            platform_hint=optional_text(body, "platform_hint"),
            user_agent=request.headers.get("User-Agent", ""),
        )
        if request.headers.get(RESPONSE_HEADER, "").lower() == SECTION_RESPONSE:
            return await self._home.render(request, claims, template=SECTION)
        return_to = resolve_return_to(optional_text(body, "return_to"), routes.ACCOUNT)
        return json_response(
            {"ok": True, "return_to": return_to}, headers={"Cache-Control": NO_STORE}
        )

    async def delete(self, request: web.Request, claims: AccessClaims) -> web.StreamResponse:
        """Delete a passkey from the account page; never the last way to sign in (422)."""
        passkey_id = passkey_id_param(request)
        try:
            await self._passkeys.delete(user_id=claims.user_id, passkey_id=passkey_id)
        except LastSignInMethod as exc:
            return await self._home.render(request, claims, status=422, error=exc.message)
        return back_to_account(request, Flash("success", "The passkey was removed."))

    async def rename(self, request: web.Request, claims: AccessClaims) -> web.StreamResponse:
        """Rename a passkey from the account page."""
        passkey_id = passkey_id_param(request)
        form = await read_form(request)
        try:
            name = await self._passkeys.rename(
                user_id=claims.user_id, passkey_id=passkey_id, name=field(form, "name")
            )
        except PasskeyNameInvalid as exc:
            return await self._home.render(request, claims, status=422, error=exc.message)
        return back_to_account(request, Flash("success", f"The passkey is now called {name}."))
