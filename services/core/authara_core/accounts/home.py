"""The account page, the signed-in user's home: profile, sign-in methods, sessions, danger zone.

Each section's data comes from its domain's service (sign-in methods from oauth/linking.py,
sessions from sessions/service.py); this module only assembles the page and the handlers
that answer with it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from authara_contract import cookies, routes
from authara_contract.claims import Audience
from authara_contract.return_to import with_return_to
from authara_contract.tokens import AccessClaims
from authara_core.accounts.selfservice import RECENT_SIGN_IN
from authara_core.accounts.users import PASSWORD_PROVIDER
from authara_core.oauth.linking import ProviderLinks
from authara_core.passkeys.service import PasskeyService, PasskeyView
from authara_core.platform.cookies import CookieWriter, read_cookie
from authara_core.platform.error_render import json_error
from authara_core.platform.errors import Forbidden, LastSignInMethod, Unauthorized
from authara_core.platform.flash import Flash, read_flash, set_flash
from authara_core.platform.forms import FormRenderer
from authara_core.platform.render import Renderer, redirect
from authara_core.sessions.listing import session_rows
from authara_core.sessions.service import SessionService

APP_ONLY: Final = (Audience.APP,)
# A handler for a signed-in user: the request and the caller's (app-audience) claims.
AccountHandler = Callable[[web.Request, AccessClaims], Awaitable[web.StreamResponse]]
ACCOUNT_PAGE: Final = "accounts/account.html"
# Where "sign in again" goes: out, then to the login page, then back to the account page.
SIGN_IN_AGAIN: Final = with_return_to(routes.LOGOUT, with_return_to(routes.LOGIN, routes.ACCOUNT))
# The password forms' fields, named as they post them (selfpages.py names the one at fault).
CHANGE_FIELDS: Final = ("current_password", "new_password", "confirm_password")
ADD_FIELDS: Final = ("password", "confirm_password")
PASSWORD_FIELDS: Final = frozenset(CHANGE_FIELDS + ADD_FIELDS)
# What the account page's own forms show when nothing was submitted (selfpages.py fills them).
FORM_DEFAULTS: Final[dict[str, Any]] = {
    "username_error": None,
    "delete_error": None,
    "sign_in_again": None,
    "password_error": None,
    "password_error_field": None,
    "password_sign_in_again": None,
    "toast": None,
    "recent_minutes": int(RECENT_SIGN_IN.total_seconds() // 60),
    "username_url": routes.USERNAME_CHANGE,
    "delete_url": routes.ACCOUNT_DELETE,
    "password_change_url": routes.PASSWORD_CHANGE,
    "password_link_url": routes.PASSWORD_LINK,
}


@dataclass(frozen=True, slots=True)
class MethodRow:
    """A sign-in method on the account page."""

    provider: str
    label: str
    unlink_url: str


@dataclass(frozen=True, slots=True)
class PasskeyRow:
    """A passkey on the account page, with its forms' addresses."""

    passkey: PasskeyView
    rename_url: str
    delete_url: str


@dataclass(frozen=True, slots=True)
class LinkButton:
    """A provider the signed-in user can still link."""

    label: str
    url: str


class AccountHome:
    """Handlers for /auth/account and unlinking a sign-in method."""

    def __init__(
        self,
        *,
        links: ProviderLinks,
        sessions: SessionService,
        cookie_writer: CookieWriter,
        renderer: Renderer,
        back_url: str = "/",
        email_change: bool = False,
        passkeys: PasskeyService | None = None,
    ) -> None:
        self._links = links
        self._passkeys = passkeys
        self._back_url = back_url
        self._sessions = sessions
        self._cookies = cookie_writer
        self._forms = FormRenderer(renderer, cookie_writer)
        self._email_change = email_change

    async def signed_in(self, request: web.Request) -> AccessClaims | None:
        """Return the caller's app-audience claims, or None for an anonymous caller."""
        try:
            return await self._sessions.identify(
                read_cookie(request, cookies.ACCESS), audiences=APP_ONLY
            )
        except Unauthorized:
            return None

    @staticmethod
    def to_login(request: web.Request) -> web.Response:
        """Send an anonymous caller to the login page, back here afterwards."""
        return redirect(request, with_return_to(routes.LOGIN, routes.ACCOUNT))

    def signed_in_only(
        self, handler: AccountHandler
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        """Serve `handler` to a signed-in user, refreshing an expired access token first.

        Contract §1.2 "A(app, refresh)": an access token that expired while the page was
        open is renewed from the refresh cookie and the request goes on (the new cookies on
        its answer), so a form posted after a pause is not lost. No usable session: to the
        login page (a refused refresh token clears the cookies), or for a page route that
        answers JSON (routes.JSON_PAGE_PATHS, e.g. passkey registration) a 401 envelope.
        """

        async def serve(request: web.Request) -> web.StreamResponse:
            claims = await self.signed_in(request)
            if claims is not None:
                return await handler(request, claims)
            refresh_token = read_cookie(request, cookies.REFRESH)
            if not refresh_token:
                return self._not_signed_in(request)
            try:
                issued = await self._sessions.refresh(refresh_token, audience=Audience.APP)
            except (Unauthorized, Forbidden):
                refused = self._not_signed_in(request)
                self._cookies.clear_session(refused)
                return refused
            claims = self._sessions.verify(issued.access_token, audiences=APP_ONLY)
            response = await handler(request, claims)
            if cookies.ACCESS.name not in response.cookies:  # the handler did not sign out
                self._cookies.set_session(response, issued)
            return response

        return serve

    def _not_signed_in(self, request: web.Request) -> web.StreamResponse:
        """To the login page; a JSON page route's script gets a 401 envelope instead."""
        if request.path in routes.JSON_PAGE_PATHS:
            refused = Unauthorized()
            return json_error(refused.status, refused.code, refused.public_message)
        return self.to_login(request)

    async def account_page(self, request: web.Request, claims: AccessClaims) -> web.StreamResponse:
        """Show the signed-in user's account."""
        return await self.render(request, claims)

    async def unlink(self, request: web.Request, claims: AccessClaims) -> web.StreamResponse:
        """Remove a sign-in method; refuse (422) to remove the last one."""
        try:
            label = await self._links.unlink(
                user_id=claims.user_id,
                session_id=claims.session_id,
                provider=request.match_info["provider"],
            )
        except LastSignInMethod as exc:
            return back_to_account(request, Flash("error", exc.message))
        return back_to_account(request, Flash("success", f"{label} was removed."))

    async def render(
        self,
        request: web.Request,
        claims: AccessClaims,
        *,
        status: int = 200,
        error: str | None = None,
        template: str = ACCOUNT_PAGE,
        **extra: Any,
    ) -> web.Response:
        """Render the account page (or one of its fragments, `template`).

        `extra` carries a failed form's typed values and message, or a toast.
        """
        try:
            sessions = session_rows(await self._sessions.list_sessions(claims))
        except Unauthorized:  # this session ended; its access token has not expired yet
            return self.to_login(request)
        return await self._render_for(
            request,
            claims.user_id,
            status=status,
            error=error,
            template=template,
            sessions=sessions,
            revoke_other_url=routes.SESSIONS_REVOKE_OTHER,
            sessions_notice=None,
            **extra,
        )

    async def _render_for(
        self,
        request: web.Request,
        user_id: uuid.UUID,
        *,
        status: int,
        error: str | None,
        template: str = ACCOUNT_PAGE,
        **extra: Any,
    ) -> web.Response:
        view = await self._links.account(user_id)
        passkeys = [] if self._passkeys is None else await self._passkeys.list(user_id)
        flash = read_flash(request)
        at_field = _at_its_field(flash)
        forms = {**FORM_DEFAULTS, "username_value": view.user.username, **at_field, **extra}
        has_password = any(m.provider == PASSWORD_PROVIDER for m in view.methods)
        fields = CHANGE_FIELDS if has_password else ADD_FIELDS
        if forms["password_error_field"] not in (None, *fields):  # the other form's field
            forms["password_error_field"] = fields[0]
        return self._forms.page(
            request,
            template,
            status=status,
            show_flash=True,
            flash=None if at_field else flash,
            back_url=self._back_url,
            error=error,
            email=view.user.email,
            username=view.user.username,
            has_password=has_password,
            methods=[
                MethodRow(m.provider, m.label, routes.PROVIDER_UNLINK.format(provider=m.provider))
                for m in view.methods
            ],
            linkable=[
                LinkButton(p.display_name, routes.OAUTH_LINK.format(provider=p.name))
                for p in view.linkable
            ],
            passkeys=[
                PasskeyRow(
                    p,
                    routes.PASSKEY_RENAME.format(passkeyID=p.id),
                    routes.PASSKEY_DELETE.format(passkeyID=p.id),
                )
                for p in passkeys
            ],
            passkeys_enabled=self._passkeys is not None,
            passkey_options_url=routes.PASSKEY_REGISTER_OPTIONS,
            passkey_finish_url=routes.PASSKEY_REGISTER_FINISH,
            logout_url=with_return_to(routes.LOGOUT, "/"),
            email_change_url=routes.EMAIL_CHANGE if self._email_change else None,
            **forms,
        )


def back_to_account(request: web.Request, flash: Flash) -> web.Response:
    """End an action on the account page: 303 to /auth/account, the message in a flash.

    A refusal names its field (and the non-secret value typed there) so the page shows it
    next to that field; reloading the page then shows it without posting anything again.
    """
    response = redirect(request, routes.ACCOUNT)
    set_flash(response, flash)
    return response


def _at_its_field(flash: Flash | None) -> dict[str, Any]:
    """Put a refused form's flash next to its field (see `back_to_account`)."""
    if flash is None or flash.field is None:
        return {}
    if flash.field == "username":
        shown: dict[str, Any] = {"username_error": flash.message}
        if flash.value is not None:
            shown["username_value"] = flash.value
        return shown
    if flash.field == "delete":
        return {
            "delete_error": flash.message,
            "sign_in_again": SIGN_IN_AGAIN if flash.reauth else None,
        }
    if flash.field in PASSWORD_FIELDS:
        return {
            "password_error": flash.message,
            "password_error_field": flash.field,
            "password_sign_in_again": SIGN_IN_AGAIN if flash.reauth else None,
        }
    return {}
