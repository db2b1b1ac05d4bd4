"""Invitation pages: the link's landing page, and signing up, logging in or accepting there.

Forms work without JavaScript. After an invitation is accepted the browser goes to the
app (the default return_to) in a session switched to the invited organization.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from authara_contract import cookies, routes
from authara_contract.claims import Audience
from authara_contract.return_to import with_return_to
from authara_contract.tokens import AccessClaims
from authara_core.challenges.service import ChallengeService, Purpose
from authara_core.challenges.views import VerifyPage
from authara_core.organizations.acceptance import InvitationAcceptance, InvitationView
from authara_core.organizations.invitations import InvitationStatus
from authara_core.platform.bodies import FORM_ERROR_STATUS, field, read_form
from authara_core.platform.client import client_ip
from authara_core.platform.cookies import CookieWriter, read_cookie
from authara_core.platform.errors import (
    AudienceNotAllowed,
    AuthError,
    InvalidCredentials,
    InvalidRequest,
    InvitationUnusable,
    RateLimited,
    Unauthorized,
)
from authara_core.platform.forms import FormRenderer
from authara_core.platform.render import Renderer, redirect, set_retry_after
from authara_core.sessions.responses import refresh_or_clear, signed_in_redirect
from authara_core.sessions.service import IssuedSession, SessionService
from authara_core.settings import Settings

UNAVAILABLE: Final = {
    InvitationStatus.ACCEPTED: "This invitation has already been accepted.",
    InvitationStatus.REVOKED: "This invitation has been withdrawn.",
    InvitationStatus.EXPIRED: "This invitation has expired. Ask for a new one.",
}
GONE: Final = 410
BAD_CREDENTIALS: Final = "Invalid email or password."


def _token_url(path: str, token: str) -> str:
    return f"{path}?{urlencode({routes.INVITATION_TOKEN_PARAM: token})}"


class InvitationPages:
    """Handlers for `/auth/invitations/{accept,signup,login}`."""

    def __init__(
        self,
        *,
        acceptance: InvitationAcceptance,
        sessions: SessionService,
        challenges: ChallengeService,
        verify_page: VerifyPage,
        cookie_writer: CookieWriter,
        renderer: Renderer,
        settings: Settings,
    ) -> None:
        self._acceptance = acceptance
        self._challenges = challenges
        self._verify_page = verify_page
        self._sessions = sessions
        self._cookies = cookie_writer
        self._forms = FormRenderer(renderer, cookie_writer)
        self._after_acceptance = settings.default_return_to
        self._trust_proxy_headers = settings.trust_proxy_headers

    async def accept_page(self, request: web.Request) -> web.StreamResponse:
        """Show the invitation and what the visitor can do with it."""
        viewer = await self._viewer(request)
        if viewer is None and read_cookie(request, cookies.REFRESH):
            # Come back signed in (or with the dead cookies cleared) to see the right choices.
            again = request.rel_url.human_repr()
            return await refresh_or_clear(
                request,
                self._sessions,
                self._cookies,
                audience=Audience.APP,
                refreshed=lambda: redirect(request, again),
                refused=lambda _exc: redirect(request, again),
            )
        token = request.query.get(routes.INVITATION_TOKEN_PARAM, "")
        try:
            view = await self._acceptance.inspect(
                token, viewer=None if viewer is None else viewer.user_id
            )
        except InvitationUnusable as exc:
            return self._unavailable(request, exc.message, status=exc.status)
        if view.status is not InvitationStatus.PENDING:
            return self._unavailable(request, UNAVAILABLE[view.status], status=200)
        return self._page(request, "organizations/invitation.html", token, view)

    async def accept_submit(self, request: web.Request) -> web.StreamResponse:
        """Accept for the signed-in account and switch its session to the organization."""
        form = await read_form(request)
        token = field(form, routes.INVITATION_TOKEN_PARAM)
        landing = _token_url(routes.INVITATION_ACCEPT, token)
        try:  # the mode first: where no account may accept, signing in would not help
            self._acceptance.check_existing_accounts()
        except InvitationUnusable as exc:
            return self._unavailable(request, exc.message, status=exc.status)
        viewer = await self._viewer(request)
        if viewer is None:  # the landing page refreshes the session or offers to sign in
            return redirect(request, landing)
        try:
            issued = await self._acceptance.accept(
                viewer, token, refresh_token=read_cookie(request, cookies.REFRESH)
            )
        except Unauthorized:  # the session ended elsewhere: its cookies go, the page offers sign-in
            response = redirect(request, landing)
            self._cookies.clear_session(response)
            return response
        except (InvitationUnusable, AudienceNotAllowed) as exc:
            return self._unavailable(request, exc.message, status=exc.status)
        return self._accepted(request, issued)

    async def signup_page(self, request: web.Request) -> web.StreamResponse:
        """Show the form that creates the invited account."""
        return await self._form_page(request, "organizations/invitation_signup.html")

    async def signup_submit(self, request: web.Request) -> web.StreamResponse:
        """Create the invited account, accept, and sign it in to the organization.

        With email challenges on, the address is verified first: the verify page finishes.
        """
        form = await read_form(request)
        token, password = field(form, routes.INVITATION_TOKEN_PARAM), field(form, "password")
        if self._challenges.enabled:
            return await self._signup_challenge(request, token, password)
        try:
            issued = await self._acceptance.signup(
                token,
                password,
                user_agent=request.headers.get("User-Agent", ""),
                client_ip=self._client_ip(request),
            )
        except InvitationUnusable as exc:
            return self._unavailable(request, exc.message, status=exc.status)
        except (InvalidRequest, AudienceNotAllowed, RateLimited) as exc:
            return await self._form_error(
                request, "organizations/invitation_signup.html", token, exc
            )
        return self._accepted(request, issued)

    async def _signup_challenge(
        self, request: web.Request, token: str, password: str
    ) -> web.StreamResponse:
        try:
            challenge_id, email = await self._challenges.start_invitation_signup(
                token, password, client_ip=self._client_ip(request)
            )
        except InvitationUnusable as exc:
            return self._unavailable(request, exc.message, status=exc.status)
        except (InvalidRequest, RateLimited) as exc:
            return await self._form_error(
                request, "organizations/invitation_signup.html", token, exc
            )
        return self._verify_page.render(
            request,
            purpose=Purpose.SIGNUP,
            challenge_id=str(challenge_id),
            return_to=self._after_acceptance,
            email=email,
            opened=True,
        )

    async def login_page(self, request: web.Request) -> web.StreamResponse:
        """Show the form that signs in as the invited email (multi mode)."""
        try:
            self._acceptance.check_existing_accounts()
        except InvitationUnusable as exc:
            return self._unavailable(request, exc.message, status=exc.status)
        return await self._form_page(request, "organizations/invitation_login.html")

    async def login_submit(self, request: web.Request) -> web.StreamResponse:
        """Sign in as the invited email, accept, and go on in the organization."""
        form = await read_form(request)
        token, password = field(form, routes.INVITATION_TOKEN_PARAM), field(form, "password")
        template = "organizations/invitation_login.html"
        try:  # the mode first: no password makes this form available
            self._acceptance.check_existing_accounts()
        except InvitationUnusable as exc:
            return self._unavailable(request, exc.message, status=exc.status)
        if not password:
            return await self._form_error(
                request, template, token, InvalidRequest("Enter your password."), status=400
            )
        try:
            issued = await self._acceptance.login(
                token,
                password,
                user_agent=request.headers.get("User-Agent", ""),
                client_ip=self._client_ip(request),
            )
        except InvitationUnusable as exc:
            return self._unavailable(request, exc.message, status=exc.status)
        except InvalidCredentials:
            return await self._form_error(request, template, token, InvalidRequest(BAD_CREDENTIALS))
        except (AudienceNotAllowed, RateLimited) as exc:
            return await self._form_error(request, template, token, exc)
        return self._accepted(request, issued)

    async def _form_page(self, request: web.Request, template: str) -> web.StreamResponse:
        token = request.query.get(routes.INVITATION_TOKEN_PARAM, "")
        try:
            view = await self._acceptance.inspect(token, viewer=None)
        except InvitationUnusable as exc:
            return self._unavailable(request, exc.message, status=exc.status)
        if view.status is not InvitationStatus.PENDING:
            return self._unavailable(request, UNAVAILABLE[view.status], status=GONE)
        return self._page(request, template, token, view)

    async def _form_error(
        self,
        request: web.Request,
        template: str,
        token: str,
        exc: AuthError,
        *,
        status: int | None = None,
    ) -> web.StreamResponse:
        """Show the form again with what was wrong (the invitation is read anew)."""
        try:
            view = await self._acceptance.inspect(token, viewer=None)
        except InvitationUnusable as gone:
            return self._unavailable(request, gone.message, status=gone.status)
        if status is None:
            status = exc.status if isinstance(exc, RateLimited) else FORM_ERROR_STATUS
        response = self._page(request, template, token, view, status=status, error=exc.message)
        if isinstance(exc, RateLimited):
            set_retry_after(response, exc)
        return response

    async def _viewer(self, request: web.Request) -> AccessClaims | None:
        try:
            return await self._sessions.identify(
                read_cookie(request, cookies.ACCESS), audiences=(Audience.APP,)
            )
        except Unauthorized:
            return None

    def _viewer_unchecked(self, request: web.Request) -> AccessClaims | None:
        """Return the caller's app claims without asking Redis (only to word a page)."""
        try:
            return self._sessions.verify(
                read_cookie(request, cookies.ACCESS), audiences=(Audience.APP,)
            )
        except Unauthorized:
            return None

    def _client_ip(self, request: web.Request) -> str | None:
        return client_ip(request, trust_proxy_headers=self._trust_proxy_headers)

    def _accepted(self, request: web.Request, issued: IssuedSession) -> web.StreamResponse:
        return signed_in_redirect(request, self._cookies, issued, self._after_acceptance)

    def _page(
        self,
        request: web.Request,
        template: str,
        token: str,
        view: InvitationView,
        *,
        status: int = 200,
        error: str | None = None,
    ) -> web.Response:
        landing = _token_url(routes.INVITATION_ACCEPT, token)
        return self._render(
            request,
            template,
            status=status,
            token=token,
            view=view,
            invitation=view.invitation,
            organization=view.organization_name,
            error=error,
            existing_accounts_may_accept=self._acceptance.existing_accounts_may_accept,
            accept_url=routes.INVITATION_ACCEPT,
            landing_url=landing,
            signup_url=_token_url(routes.INVITATION_SIGNUP, token),
            login_url=_token_url(routes.INVITATION_LOGIN, token),
            logout_url=with_return_to(routes.LOGOUT, landing),
        )

    def _unavailable(self, request: web.Request, message: str, *, status: int) -> web.Response:
        # Someone signed in (who may just have accepted) goes on to the app, not to log in.
        signed_in = self._viewer_unchecked(request) is not None
        return self._render(
            request,
            "organizations/invitation_unavailable.html",
            status=status,
            message=message,
            login_url=routes.LOGIN,
            continue_url=self._after_acceptance if signed_in else None,
        )

    def _render(
        self, request: web.Request, template: str, *, status: int, **context: Any
    ) -> web.Response:
        return self._forms.page(request, template, status=status, **context)  # no-store: token
