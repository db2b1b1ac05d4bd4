"""Browser pages: login and signup (forms that work without JavaScript)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from aiohttp import web

from authara_contract import cookies, routes
from authara_contract.claims import Audience
from authara_contract.return_to import resolve_return_to, with_return_to
from authara_core.accounts.service import AccountService
from authara_core.challenges.service import ChallengeService, Purpose
from authara_core.challenges.views import VerifyPage
from authara_core.platform.bodies import FORM_ERROR_STATUS, field, read_form
from authara_core.platform.client import client_ip
from authara_core.platform.cookies import CookieWriter, read_cookie
from authara_core.platform.errors import (
    AudienceNotAllowed,
    AuthError,
    EmailTaken,
    InvalidCredentials,
    InvalidEmail,
    InvalidPassword,
    InvalidRequest,
    RateLimited,
    RevocationUnavailable,
    Unauthorized,
)
from authara_core.platform.forms import FormRenderer
from authara_core.platform.render import Renderer, redirect, set_retry_after
from authara_core.sessions.audience import audience_for
from authara_core.sessions.responses import refresh_or_clear, signed_in_redirect
from authara_core.sessions.service import IssuedSession, SessionService
from authara_core.settings import Settings

ANY_AUDIENCE: Final = (Audience.APP, Audience.ADMIN)


@dataclass(frozen=True, slots=True)
class ProviderButton:
    """A "Continue with ..." link on the login and signup pages."""

    label: str
    url: str


class AuthPages:
    """Handlers for the HTML sign-in flows."""

    def __init__(
        self,
        *,
        accounts: AccountService,
        sessions: SessionService,
        challenges: ChallengeService,
        verify_page: VerifyPage,
        cookie_writer: CookieWriter,
        renderer: Renderer,
        settings: Settings,
    ) -> None:
        self._accounts = accounts
        self._challenges = challenges
        self._verify_page = verify_page
        self._sessions = sessions
        self._cookies = cookie_writer
        self._forms = FormRenderer(renderer, cookie_writer)
        self._default_return_to = settings.default_return_to
        self._trust_proxy_headers = settings.trust_proxy_headers
        self._providers = tuple(p for p in settings.oauth.providers if p.redirect_flow)

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        """Show the login form, or send a signed-in user on to return_to."""
        return await self._page_unless_signed_in(request, "accounts/login.html")

    async def login_submit(self, request: web.Request) -> web.StreamResponse:
        """Check the credentials and start a session."""
        return_to = self._return_to(request)
        form = await read_form(request)
        email, password = field(form, "email").strip(), field(form, "password")
        if not email or not password:
            return self._form(
                request,
                "accounts/login.html",
                status=400,
                return_to=return_to,
                email=email,
                error="Enter your email and password.",
                error_field="password" if email else "email",
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
            return self._form_error(
                request, "accounts/login.html", exc, return_to=return_to, email=email
            )
        return self._signed_in(request, issued, return_to)

    async def signup_page(self, request: web.Request) -> web.StreamResponse:
        """Show the signup form, or send a signed-in user on to return_to."""
        return await self._page_unless_signed_in(request, "accounts/signup.html")

    async def signup_submit(self, request: web.Request) -> web.StreamResponse:
        """Create the account and sign it in, or show the form again with the reason."""
        return_to = self._return_to(request)
        form = await read_form(request)
        email, password = field(form, "email").strip(), field(form, "password")
        if audience_for(return_to) is Audience.ADMIN:
            return self._form(
                request,
                "accounts/signup.html",
                status=403,
                return_to=return_to,
                email=email,
                error="Signup only supports app access.",
            )
        if self._challenges.enabled:
            return await self._signup_challenge(request, email, password, return_to)
        try:
            issued = await self._accounts.signup(
                email=email,
                password=password,
                audience=Audience.APP,
                user_agent=request.headers.get("User-Agent", ""),
                client_ip=client_ip(request, trust_proxy_headers=self._trust_proxy_headers),
            )
        except (InvalidRequest, AudienceNotAllowed, RateLimited) as exc:
            return self._form_error(
                request, "accounts/signup.html", exc, return_to=return_to, email=email
            )
        # Upstream: a new account is offered a passkey first (skippable), then return_to.
        return self._signed_in(request, issued, with_return_to(routes.PASSKEY_SETUP, return_to))

    async def _signup_challenge(
        self, request: web.Request, email: str, password: str, return_to: str
    ) -> web.StreamResponse:
        """Email a code first; the verify page is the same whether the email has an account."""
        try:
            challenge_id = await self._challenges.start_signup(
                email=email,
                password=password,
                client_ip=client_ip(request, trust_proxy_headers=self._trust_proxy_headers),
            )
        except (InvalidRequest, AudienceNotAllowed, RateLimited) as exc:
            return self._form_error(
                request, "accounts/signup.html", exc, return_to=return_to, email=email
            )
        return self._verify_page.render(
            request,
            purpose=Purpose.SIGNUP,
            challenge_id=str(challenge_id),
            return_to=return_to,
            email=email.lower(),
            opened=True,
        )

    async def _page_unless_signed_in(
        self, request: web.Request, template: str
    ) -> web.StreamResponse:
        """Render a sign-in page; a signed-in (or refreshable) user goes on to return_to."""
        return_to = self._return_to(request)
        if await self._is_signed_in(request):
            return redirect(request, return_to)
        if read_cookie(request, cookies.REFRESH):
            return await refresh_or_clear(
                request,
                self._sessions,
                self._cookies,
                audience=audience_for(return_to),
                refreshed=lambda: redirect(request, return_to),
                refused=lambda _exc: self._form(request, template, return_to=return_to),
            )
        return self._form(request, template, return_to=return_to)

    def _return_to(self, request: web.Request) -> str:
        return resolve_return_to(request.query.get(routes.RETURN_TO_PARAM), self._default_return_to)

    async def _is_signed_in(self, request: web.Request) -> bool:
        try:
            await self._sessions.identify(
                read_cookie(request, cookies.ACCESS), audiences=ANY_AUDIENCE
            )
        except (Unauthorized, RevocationUnavailable):  # the form, not a 503 (Redis down)
            return False
        return True

    def _signed_in(
        self, request: web.Request, issued: IssuedSession, return_to: str
    ) -> web.StreamResponse:
        return signed_in_redirect(request, self._cookies, issued, return_to)

    def _form_error(
        self, request: web.Request, template: str, exc: AuthError, *, return_to: str, email: str
    ) -> web.Response:
        status = exc.status if isinstance(exc, RateLimited) else FORM_ERROR_STATUS
        response = self._form(
            request,
            template,
            status=status,
            return_to=return_to,
            email=email,
            error=exc.message,
            error_field=_field_at_fault(exc, email),
        )
        if isinstance(exc, RateLimited):
            set_retry_after(response, exc)
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
        error_field: str | None = None,
    ) -> web.Response:
        return self._forms.page(
            request,
            template,
            status=status,
            show_flash=True,
            no_store=False,
            email=email,
            error=error,
            error_field=error_field,
            return_to=return_to,
            login_url=with_return_to(routes.LOGIN, return_to),
            signup_url=with_return_to(routes.SIGNUP, return_to),
            reset_url=with_return_to(routes.PASSWORD_RESET, return_to),
            passkey_options_url=routes.PASSKEY_AUTHENTICATE_OPTIONS,
            passkey_finish_url=routes.PASSKEY_AUTHENTICATE_FINISH,
            providers=[
                ProviderButton(
                    p.display_name,
                    with_return_to(routes.OAUTH_START.format(provider=p.name), return_to),
                )
                for p in self._providers
            ],
        )


def _field_at_fault(exc: AuthError, email: str) -> str | None:
    """Name the input a refused login or signup points at: it gets the focus and aria-invalid."""
    if isinstance(exc, InvalidEmail | EmailTaken) or (
        isinstance(exc, InvalidRequest) and not email
    ):
        return "email"
    if isinstance(exc, InvalidPassword | InvalidCredentials):
        return "password"
    return None
