"""Browser pages: login, signup and logout (forms that work without JavaScript)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web
from multidict import MultiDictProxy

from authara_contract import cookies, routes
from authara_contract.claims import Audience
from authara_contract.return_to import resolve_return_to, with_return_to
from authara_core.errors import (
    AudienceNotAllowed,
    AuthError,
    InvalidCredentials,
    InvalidRequest,
    RateLimited,
    Unauthorized,
)
from authara_core.services.accounts import AccountService
from authara_core.services.audience import audience_for
from authara_core.services.sessions import IssuedSession, SessionService
from authara_core.settings import Settings

from .bodies import NUL_MESSAGE, read_form
from .client import client_ip
from .cookies import CookieWriter, csrf_token_of, end_session, read_cookie
from .flash import clear_flash, read_flash
from .render import Renderer, redirect

ANY_AUDIENCE: Final = (Audience.APP, Audience.ADMIN)
FORM_ERROR_STATUS: Final = 422


@dataclass(frozen=True, slots=True)
class ProviderButton:
    """A "Continue with ..." link on the login and signup pages."""

    label: str
    url: str


def field(form: MultiDictProxy[str | Any], name: str) -> str:
    """Return a text form field ("" when absent); NUL characters are refused (400)."""
    value = form.get(name, "")
    if not isinstance(value, str):
        return ""
    if "\x00" in value:
        raise InvalidRequest(NUL_MESSAGE)
    return value


class AuthPages:
    """Handlers for the HTML sign-in flows."""

    def __init__(
        self,
        *,
        accounts: AccountService,
        sessions: SessionService,
        cookie_writer: CookieWriter,
        renderer: Renderer,
        settings: Settings,
    ) -> None:
        self._accounts = accounts
        self._sessions = sessions
        self._cookies = cookie_writer
        self._renderer = renderer
        self._default_return_to = settings.default_return_to
        self._trust_proxy_headers = settings.trust_proxy_headers
        self._providers = tuple(p for p in settings.oauth.providers if p.redirect_flow)

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        """Show the login form, or send a signed-in user on to return_to."""
        return await self._page_unless_signed_in(request, "login.html")

    async def login_submit(self, request: web.Request) -> web.StreamResponse:
        """Check the credentials and start a session."""
        return_to = self._return_to(request)
        form = await read_form(request)
        email, password = field(form, "email").strip(), field(form, "password")
        if not email or not password:
            return self._form(
                request,
                "login.html",
                status=400,
                return_to=return_to,
                email=email,
                error="Enter your email and password.",
            )
        try:
            issued = await self._accounts.login(
                email=email,
                password=password,
                audience=audience_for(return_to),
                user_agent=request.headers.get("User-Agent", ""),
                client_ip=client_ip(request, trust_proxy_headers=self._trust_proxy_headers),
            )
        except (InvalidCredentials, AudienceNotAllowed, RateLimited) as exc:
            return self._form_error(request, "login.html", exc, return_to=return_to, email=email)
        return self._signed_in(request, issued, return_to)

    async def signup_page(self, request: web.Request) -> web.StreamResponse:
        """Show the signup form, or send a signed-in user on to return_to."""
        return await self._page_unless_signed_in(request, "signup.html")

    async def signup_submit(self, request: web.Request) -> web.StreamResponse:
        """Create the account and sign it in, or show the form again with the reason."""
        return_to = self._return_to(request)
        form = await read_form(request)
        email, password = field(form, "email").strip(), field(form, "password")
        if audience_for(return_to) is Audience.ADMIN:
            return self._form(
                request,
                "signup.html",
                status=403,
                return_to=return_to,
                email=email,
                error="Signup only supports app access.",
            )
        try:
            issued = await self._accounts.signup(
                email=email,
                password=password,
                audience=Audience.APP,
                user_agent=request.headers.get("User-Agent", ""),
                client_ip=client_ip(request, trust_proxy_headers=self._trust_proxy_headers),
            )
        except (InvalidRequest, AudienceNotAllowed, RateLimited) as exc:
            return self._form_error(request, "signup.html", exc, return_to=return_to, email=email)
        return self._signed_in(request, issued, return_to)

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
        try:
            issued = await self._sessions.refresh(
                read_cookie(request, cookies.REFRESH), audience=audience
            )
        except Unauthorized:
            if requested is None:
                response: web.StreamResponse = web.Response(status=401)
            else:
                response = redirect(request, with_return_to(routes.LOGIN, return_to))
            self._cookies.clear_session(response)
            return response
        response = web.Response(status=204) if requested is None else redirect(request, return_to)
        self._cookies.set_session(response, issued)
        return response

    async def _page_unless_signed_in(
        self, request: web.Request, template: str
    ) -> web.StreamResponse:
        """Render a sign-in page; a signed-in (or refreshable) user goes on to return_to."""
        return_to = self._return_to(request)
        if self._is_signed_in(request):
            return redirect(request, return_to)
        refresh_token = read_cookie(request, cookies.REFRESH)
        if refresh_token:
            try:
                issued = await self._sessions.refresh(
                    refresh_token, audience=audience_for(return_to)
                )
            except Unauthorized:
                response = self._form(request, template, return_to=return_to)
                self._cookies.clear_session(response)
                return response
            response = redirect(request, return_to)
            self._cookies.set_session(response, issued)
            return response
        return self._form(request, template, return_to=return_to)

    def _return_to(self, request: web.Request) -> str:
        return resolve_return_to(request.query.get(routes.RETURN_TO_PARAM), self._default_return_to)

    def _is_signed_in(self, request: web.Request) -> bool:
        try:
            self._sessions.identify(read_cookie(request, cookies.ACCESS), audiences=ANY_AUDIENCE)
        except Unauthorized:
            return False
        return True

    def _signed_in(
        self, request: web.Request, issued: IssuedSession, return_to: str
    ) -> web.StreamResponse:
        response = redirect(request, return_to)
        self._cookies.set_session(response, issued)
        self._cookies.renew_csrf(response)
        return response

    def _form_error(
        self, request: web.Request, template: str, exc: AuthError, *, return_to: str, email: str
    ) -> web.Response:
        status = exc.status if isinstance(exc, RateLimited) else FORM_ERROR_STATUS
        response = self._form(
            request, template, status=status, return_to=return_to, email=email, error=exc.message
        )
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    def _form(
        self,
        request: web.Request,
        template: str,
        *,
        status: int = 200,
        return_to: str,
        email: str = "",
        error: str | None = None,
    ) -> web.Response:
        csrf, is_new = csrf_token_of(request)
        response = self._renderer.page(
            request,
            template,
            status=status,
            csrf_token=csrf,
            email=email,
            error=error,
            flash=read_flash(request),
            return_to=return_to,
            login_url=with_return_to(routes.LOGIN, return_to),
            signup_url=with_return_to(routes.SIGNUP, return_to),
            providers=[
                ProviderButton(
                    p.display_name,
                    with_return_to(routes.OAUTH_START.format(provider=p.name), return_to),
                )
                for p in self._providers
            ],
        )
        clear_flash(request, response)
        if is_new:
            self._cookies.set_csrf(response, csrf)
        return response
