"""Email challenge pages: password reset, the verify page, resend, and email change.

Forms work without JavaScript. Every flow that opens a challenge answers with the verify
page (challenges/views.py); known and unknown addresses get the same page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from authara_contract import cookies, routes
from authara_contract.claims import Audience
from authara_contract.return_to import resolve_return_to, with_return_to
from authara_contract.tokens import AccessClaims
from authara_core.challenges.codes import is_code
from authara_core.challenges.service import ChallengeService, Purpose, ResendOutcome
from authara_core.challenges.views import VerifyPage
from authara_core.platform.bodies import FORM_ERROR_STATUS, field, read_form
from authara_core.platform.client import client_ip
from authara_core.platform.cookies import CookieWriter, read_cookie
from authara_core.platform.errors import (
    AudienceNotAllowed,
    AuthError,
    ChallengeRefused,
    ChallengeUnknown,
    InvalidRequest,
    RateLimited,
    Unauthorized,
)
from authara_core.platform.flash import Flash, set_flash
from authara_core.platform.forms import FormRenderer
from authara_core.platform.render import Renderer, redirect, set_retry_after
from authara_core.sessions.responses import refresh_or_clear, signed_in_redirect
from authara_core.sessions.service import SessionService
from authara_core.settings import Settings

CODE_SHAPE: Final = "Enter the 6-digit code from the email."
RESENT: Final = {
    ResendOutcome.SENT: Flash("success", "A new verification code has been sent."),
    ResendOutcome.TOO_SOON: Flash("error", "Please wait a little before asking for a new code."),
    ResendOutcome.LIMIT_REACHED: Flash(
        "error", "No more codes can be sent for this verification. Please start again."
    ),
    ResendOutcome.CLOSED: Flash(
        "error", "This verification is no longer open. Please start again."
    ),
    ResendOutcome.UNKNOWN: Flash("error", ChallengeUnknown.html_message or ""),
}
PASSWORD_SET: Final = "Your password has been reset. Log in with your new password."  # noqa: S105 (a message)
APP_ONLY: Final = (Audience.APP,)


@dataclass(frozen=True, slots=True)
class _Shown:
    """The challenge a verify page is about, as the browser sent it."""

    purpose: Purpose
    challenge_id: str
    return_to: str


def _challenge_id(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _html_message(exc: AuthError) -> str:
    if isinstance(exc, ChallengeRefused) and exc.message == exc.public_message:
        return exc.html_message or exc.message
    return exc.message


class ChallengePages:
    """Handlers for /auth/password-reset, /auth/verify-challenge/*, resend and email change."""

    def __init__(
        self,
        *,
        challenges: ChallengeService,
        sessions: SessionService,
        verify_page: VerifyPage,
        cookie_writer: CookieWriter,
        renderer: Renderer,
        settings: Settings,
    ) -> None:
        self._challenges = challenges
        self._sessions = sessions
        self._verify = verify_page
        self._cookies = cookie_writer
        self._forms = FormRenderer(renderer, cookie_writer)
        self._default_return_to = settings.default_return_to
        self._trust_proxy_headers = settings.trust_proxy_headers

    # Password reset -------------------------------------------------------------------------

    async def password_reset_page(self, request: web.Request) -> web.StreamResponse:
        """Show the form: email and the new password."""
        return self._reset_form(request, self._return_to(request.query.get(routes.RETURN_TO_PARAM)))

    async def password_reset_submit(self, request: web.Request) -> web.StreamResponse:
        """Open a reset challenge and show the verify page (the same for unknown emails)."""
        return_to = self._return_to(request.query.get(routes.RETURN_TO_PARAM))
        form = await read_form(request)
        email, password = field(form, "email").strip(), field(form, "new_password")
        try:
            challenge_id = await self._challenges.start_password_reset(
                email=email, new_password=password, client_ip=self._client_ip(request)
            )
        except (InvalidRequest, RateLimited) as exc:
            response = self._reset_form(
                request, return_to, status=_form_status(exc), email=email, error=exc.message
            )
            _retry_after(response, exc)
            return response
        return self._verify.render(
            request,
            purpose=Purpose.PASSWORD_RESET,
            challenge_id=str(challenge_id),
            return_to=return_to,
            email=email.lower(),
            opened=True,
        )

    # Verify and resend ----------------------------------------------------------------------

    async def verify_page(self, request: web.Request) -> web.StreamResponse:
        """Show the code form for a challenge."""
        purpose = self._purpose(request.match_info["action"])
        raw_id = request.query.get(routes.CHALLENGE_ID_PARAM, "")
        if _challenge_id(raw_id) is None:
            raise ChallengeUnknown(ChallengeUnknown.html_message)
        return self._verify.render(
            request,
            purpose=purpose,
            challenge_id=raw_id,
            return_to=self._return_to(request.query.get(routes.RETURN_TO_PARAM), purpose),
        )

    async def verify_submit(self, request: web.Request) -> web.StreamResponse:
        """Check the code and finish what the challenge was for."""
        purpose = self._purpose(request.match_info["action"])
        return_to = self._return_to(request.query.get(routes.RETURN_TO_PARAM), purpose)
        form = await read_form(request)
        raw_id = field(form, routes.CHALLENGE_ID_PARAM)
        code = "".join(field(form, "code").split())
        challenge_id = _challenge_id(raw_id)
        shown = _Shown(purpose, raw_id, return_to)
        if challenge_id is None:
            error = _html_message(ChallengeUnknown())
            return self._show(request, shown, status=FORM_ERROR_STATUS, error=error)
        if not is_code(code):
            return self._show(request, shown, status=FORM_ERROR_STATUS, error=CODE_SHAPE)
        try:
            return await self._finish(request, purpose, challenge_id, code, return_to)
        except (InvalidRequest, AudienceNotAllowed, RateLimited) as exc:
            response = self._show(
                request, shown, status=_form_status(exc), error=_html_message(exc)
            )
            _retry_after(response, exc)
            return response

    async def resend(self, request: web.Request) -> web.StreamResponse:
        """Send a new code (within the limits) and show the verify page with what happened."""
        form = await read_form(request)
        raw_id = field(form, routes.CHALLENGE_ID_PARAM)
        challenge_id = _challenge_id(raw_id)
        if challenge_id is None:
            raise InvalidRequest("The verification id is not valid.")
        purpose = self._purpose(field(form, "action") or Purpose.SIGNUP.action)
        return_to = self._return_to(field(form, routes.RETURN_TO_PARAM) or None, purpose)
        shown = _Shown(purpose, raw_id, return_to)
        try:
            outcome = await self._challenges.resend(
                challenge_id, client_ip=self._client_ip(request)
            )
        except RateLimited as exc:
            response = self._show(request, shown, status=exc.status, error=exc.message)
            set_retry_after(response, exc)
            return response
        return self._show(request, shown, notice=RESENT[outcome])

    async def _finish(
        self,
        request: web.Request,
        purpose: Purpose,
        challenge_id: uuid.UUID,
        code: str,
        return_to: str,
    ) -> web.StreamResponse:
        ip = self._client_ip(request)
        if purpose is Purpose.SIGNUP:
            issued = await self._challenges.verify_signup(
                challenge_id,
                code,
                audience=Audience.APP,
                user_agent=request.headers.get("User-Agent", ""),
                client_ip=ip,
                in_invited_organization=True,
            )
            # Upstream: a new account is offered a passkey first (skippable); one that joined
            # an invitation's organization (not its owner) goes straight on.
            if issued.organization.role == "owner":
                return_to = with_return_to(routes.PASSKEY_SETUP, return_to)
            return signed_in_redirect(request, self._cookies, issued, return_to)
        if purpose is Purpose.PASSWORD_RESET:
            await self._challenges.verify_password_reset(challenge_id, code, client_ip=ip)
            response = redirect(request, with_return_to(routes.LOGIN, return_to))
            self._cookies.clear_session(response)  # every session of the account was revoked
            set_flash(response, Flash("success", PASSWORD_SET))
            return response
        email = await self._challenges.verify_email_change(challenge_id, code, client_ip=ip)
        response = redirect(request, return_to)
        set_flash(response, Flash("success", f"Your email address is now {email}."))
        return response

    # Email change ---------------------------------------------------------------------------

    async def email_change_page(self, request: web.Request) -> web.StreamResponse:
        """Show the new-email form to the signed-in user."""
        self._challenges.check_enabled()
        claims = await self._signed_in(request)
        if claims is None:
            return await self._sign_in_first(request)
        email = await self._challenges.account_email(claims.user_id)
        return self._email_form(request, current_email=email)

    async def email_change_submit(self, request: web.Request) -> web.StreamResponse:
        """Open a challenge to the new address and show the verify page."""
        self._challenges.check_enabled()
        claims = await self._signed_in(request)
        if claims is None:
            return await self._sign_in_first(request)
        return_to = self._return_to(request.query.get(routes.RETURN_TO_PARAM), Purpose.EMAIL_CHANGE)
        form = await read_form(request)
        new_email = field(form, "new_email").strip()
        try:
            challenge_id = await self._challenges.start_email_change(
                user_id=claims.user_id, new_email=new_email
            )
        except InvalidRequest as exc:
            email = await self._challenges.account_email(claims.user_id)
            return self._email_form(
                request,
                current_email=email,
                new_email=new_email,
                status=FORM_ERROR_STATUS,
                error=exc.message,
            )
        return self._verify.render(
            request,
            purpose=Purpose.EMAIL_CHANGE,
            challenge_id=str(challenge_id),
            return_to=return_to,
            email=new_email.lower(),
            opened=True,
        )

    async def _sign_in_first(self, request: web.Request) -> web.StreamResponse:
        """Refresh an expired session and come back, or go to the login page."""
        again = routes.EMAIL_CHANGE
        if read_cookie(request, cookies.REFRESH):
            return await refresh_or_clear(
                request,
                self._sessions,
                self._cookies,
                audience=Audience.APP,
                refreshed=lambda: redirect(request, again),
                refused=lambda _exc: redirect(request, with_return_to(routes.LOGIN, again)),
            )
        return redirect(request, with_return_to(routes.LOGIN, again))

    # Helpers --------------------------------------------------------------------------------

    def _show(
        self,
        request: web.Request,
        shown: _Shown,
        *,
        status: int = 200,
        error: str | None = None,
        notice: Flash | None = None,
    ) -> web.Response:
        return self._verify.render(
            request,
            purpose=shown.purpose,
            challenge_id=shown.challenge_id,
            return_to=shown.return_to,
            status=status,
            error=error,
            notice=notice,
        )

    def _purpose(self, action: str) -> Purpose:
        purpose = Purpose.from_action(action)
        if purpose is None:
            raise InvalidRequest("Unknown verification.")
        if purpose is not Purpose.PASSWORD_RESET:
            self._challenges.check_enabled()
        return purpose

    def _return_to(self, candidate: str | None, purpose: Purpose | None = None) -> str:
        fallback = routes.ACCOUNT if purpose is Purpose.EMAIL_CHANGE else self._default_return_to
        return resolve_return_to(candidate, fallback)

    def _client_ip(self, request: web.Request) -> str | None:
        return client_ip(request, trust_proxy_headers=self._trust_proxy_headers)

    async def _signed_in(self, request: web.Request) -> AccessClaims | None:
        try:
            return await self._sessions.identify(
                read_cookie(request, cookies.ACCESS), audiences=APP_ONLY
            )
        except Unauthorized:
            return None

    def _reset_form(
        self,
        request: web.Request,
        return_to: str,
        *,
        status: int = 200,
        email: str = "",
        error: str | None = None,
    ) -> web.Response:
        return self._page(
            request,
            "challenges/password_reset.html",
            status=status,
            email=email,
            error=error,
            reset_url=with_return_to(routes.PASSWORD_RESET, return_to),
            login_url=with_return_to(routes.LOGIN, return_to),
        )

    def _email_form(
        self,
        request: web.Request,
        *,
        current_email: str,
        new_email: str = "",
        status: int = 200,
        error: str | None = None,
    ) -> web.Response:
        return self._page(
            request,
            "challenges/email_change.html",
            status=status,
            current_email=current_email,
            new_email=new_email,
            error=error,
            change_url=routes.EMAIL_CHANGE,
            account_url=routes.ACCOUNT,
        )

    def _page(
        self, request: web.Request, template: str, *, status: int, **context: Any
    ) -> web.Response:
        return self._forms.page(request, template, status=status, show_flash=True, **context)


def _form_status(exc: AuthError) -> int:
    return exc.status if isinstance(exc, RateLimited) else FORM_ERROR_STATUS


def _retry_after(response: web.StreamResponse, exc: AuthError) -> None:
    if isinstance(exc, RateLimited):
        set_retry_after(response, exc)
