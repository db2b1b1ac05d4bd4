"""The verify page: "enter the code we sent", shown by every flow that opens a challenge.

Signup (accounts), invitation signup (organizations), password reset and email change
(challenges) answer their form with this page; it is also what
/auth/verify-challenge/{action} shows.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urlencode

from aiohttp import web

from authara_contract import routes
from authara_contract.return_to import with_return_to
from authara_core.challenges.service import Purpose
from authara_core.platform.cookies import CookieWriter
from authara_core.platform.flash import Flash
from authara_core.platform.forms import FormRenderer
from authara_core.platform.render import Renderer, is_htmx

TITLES: Final = {
    Purpose.SIGNUP: "Confirm your email",
    Purpose.PASSWORD_RESET: "Reset your password",
    Purpose.EMAIL_CHANGE: "Confirm your new email",
}
RESTART: Final = {
    Purpose.SIGNUP: routes.SIGNUP,
    Purpose.PASSWORD_RESET: routes.PASSWORD_RESET,
    Purpose.EMAIL_CHANGE: routes.EMAIL_CHANGE,
}


def verify_url(purpose: Purpose, challenge_id: str, return_to: str) -> str:
    """Return the verify page's URL for a challenge (what the browser's address bar shows)."""
    query = urlencode({routes.CHALLENGE_ID_PARAM: challenge_id, routes.RETURN_TO_PARAM: return_to})
    return f"{routes.VERIFY_CHALLENGE.format(action=purpose.action)}?{query}"


class VerifyPage:
    """Render the verify page (only its body for HTMX) with the CSRF cookie it needs."""

    def __init__(self, *, renderer: Renderer, cookie_writer: CookieWriter) -> None:
        self._forms = FormRenderer(renderer, cookie_writer)

    def render(
        self,
        request: web.Request,
        *,
        purpose: Purpose,
        challenge_id: str,
        return_to: str,
        status: int = 200,
        error: str | None = None,
        notice: Flash | None = None,
        email: str | None = None,
        opened: bool = False,
    ) -> web.Response:
        """Render the page; `opened` marks the answer to the form that opened the challenge.

        That answer moves HTMX to the verify page's own URL, so a reload shows the form
        again instead of resubmitting.
        """
        page_url = verify_url(purpose, challenge_id, return_to)
        response = self._forms.page(
            request,
            "challenges/verify.html",
            status=status,
            title=TITLES[purpose],
            purpose=purpose.value,
            action=purpose.action,
            challenge_id=challenge_id,
            return_to=return_to,
            email=email,
            error=error,
            flash=notice,
            verify_url=routes.VERIFY_CHALLENGE.format(action=purpose.action)
            + "?"
            + urlencode({routes.RETURN_TO_PARAM: return_to}),
            resend_url=routes.RESEND_CHALLENGE,
            page_url=page_url,
            restart_url=with_return_to(RESTART[purpose], return_to),
        )
        if opened and is_htmx(request):
            response.headers["HX-Retarget"] = "#body"
            response.headers["HX-Reswap"] = "innerHTML"
            response.headers["HX-Push-Url"] = page_url
        return response
