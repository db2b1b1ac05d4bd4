"""The account page's sessions section: sign out one other session, or all of them.

Without JavaScript each form posts and is redirected (303) back to the account page with a
flash message, an error included (so the address stays /auth/account). Under HTMX the
answer is the section alone (`sessions/_sessions.html`, swapped over `#sessions`) with the
message in it and as a toast (platform/_toast.html, out of band); an error is the usual toast
fragment with `HX-Reswap: none` (platform/error_render.py).
"""

from __future__ import annotations

from aiohttp import web

from authara_contract import routes
from authara_contract.return_to import with_return_to
from authara_contract.tokens import AccessClaims
from authara_core.accounts.home import AccountHome, back_to_account
from authara_core.platform.cookies import CookieWriter
from authara_core.platform.errors import InvalidRequest, Unauthorized
from authara_core.platform.flash import Flash, set_flash
from authara_core.platform.forms import FormRenderer
from authara_core.platform.render import Renderer, is_htmx, redirect
from authara_core.sessions.listing import session_id_of, session_rows
from authara_core.sessions.service import SessionService


def _others_message(count: int) -> str:
    if count == 0:
        return "There were no other sessions to sign out."
    return f"Signed out {count} other session{'s' if count != 1 else ''}."


class SessionsSection:
    """Handlers for POST /auth/sessions/{sessionID}/revoke and /auth/sessions/revoke-other."""

    def __init__(
        self,
        *,
        home: AccountHome,
        sessions: SessionService,
        cookie_writer: CookieWriter,
        renderer: Renderer,
    ) -> None:
        self._home = home
        self._sessions = sessions
        self._cookies = cookie_writer
        self._forms = FormRenderer(renderer, cookie_writer)

    async def revoke(self, request: web.Request, claims: AccessClaims) -> web.StreamResponse:
        """Sign out one of the caller's sessions (422 if it is not theirs, 400 if malformed)."""
        try:
            session_id = session_id_of(request)
            await self._sessions.revoke_session(claims, session_id)
        except Unauthorized:  # this browser's own session has been signed out meanwhile
            return self._home.to_login(request)
        except InvalidRequest as exc:
            if is_htmx(request):
                raise  # a toast, nothing swapped
            return back_to_account(request, Flash("error", exc.message))
        if session_id == claims.session_id:  # the caller signed themselves out here
            response = redirect(request, with_return_to(routes.LOGIN, routes.ACCOUNT))
            self._cookies.clear_session(response)
            set_flash(response, Flash("success", "You signed out this device."))
            return response
        return await self._done(request, claims, "The session was signed out.")

    async def revoke_other(self, request: web.Request, claims: AccessClaims) -> web.StreamResponse:
        """Sign out every session of the caller but this one."""
        try:
            count = await self._sessions.revoke_other_sessions(claims)
        except Unauthorized:
            return self._home.to_login(request)
        return await self._done(request, claims, _others_message(count))

    async def _done(
        self, request: web.Request, claims: AccessClaims, message: str
    ) -> web.StreamResponse:
        if not is_htmx(request):
            return back_to_account(request, Flash("success", message))
        return self._forms.page(
            request,
            "sessions/sessions_update.html",
            sessions=session_rows(await self._sessions.list_sessions(claims)),
            revoke_other_url=routes.SESSIONS_REVOKE_OTHER,
            sessions_notice=message,
            toast=Flash("success", message),
        )
