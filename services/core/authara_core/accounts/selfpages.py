"""The account page's own forms: change username, change or add a password, delete the account.

Every form ends at /auth/account. Without JavaScript a success and a refusal alike redirect
there (303) with a flash message; a refusal's flash names its field, so the page shows it next to
that field with the typed value (never a password), and a reload posts nothing again. With
HTMX (`HX-Request: true`) the username form answers with the profile fragment and a toast, the
other forms with the account page's body (`HX-Retarget: #body`, `HX-Push-Url: /auth/account`)
and a toast; a refusal comes back 422 in place; redirects become `HX-Redirect`.
The old password pages (GET /auth/providers/password/change, /add) lead to the page's form.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from authara_contract import routes
from authara_contract.tokens import AccessClaims
from authara_core.accounts.home import SIGN_IN_AGAIN, AccountHome, back_to_account
from authara_core.accounts.selfservice import SelfService
from authara_core.platform.bodies import FORM_ERROR_STATUS, field, read_form
from authara_core.platform.client import client_ip
from authara_core.platform.cookies import CookieWriter
from authara_core.platform.errors import (
    AccountChangeRefused,
    InvalidPassword,
    LastOwner,
    NoPassword,
    PasswordMismatch,
    SignInAgain,
    WrongCurrentPassword,
)
from authara_core.platform.flash import Flash
from authara_core.platform.render import Renderer, is_htmx, redirect

# The account page's password section, where the old password pages lead.
PASSWORD_SECTION: Final = f"{routes.ACCOUNT}#password-section"
REFUSALS: Final = (AccountChangeRefused, InvalidPassword)


class SelfServicePages:
    """Handlers for the account page's forms and the page after a deletion."""

    def __init__(
        self,
        *,
        home: AccountHome,
        self_service: SelfService,
        cookie_writer: CookieWriter,
        renderer: Renderer,
        trust_proxy_headers: bool,
    ) -> None:
        self._home = home
        self._service = self_service
        self._cookies = cookie_writer
        self._renderer = renderer
        self._trust_proxy_headers = trust_proxy_headers

    async def username(self, request: web.Request, claims: AccessClaims) -> web.StreamResponse:
        """Change the username (POST /auth/user/username)."""
        typed = field(await read_form(request), "username")
        try:
            username = await self._service.change_username(
                user_id=claims.user_id, session_id=claims.session_id, username=typed
            )
        except AccountChangeRefused as exc:
            if not is_htmx(request):
                return back_to_account(
                    request, Flash("error", exc.message, field="username", value=typed)
                )
            return await self._home.render(
                request,
                claims,
                status=exc.status,
                template="accounts/profile_update.html",
                toast=Flash("error", exc.message),
                username_value=typed,
                username_error=exc.message,
            )
        message = f"Your username is now {username}."
        if is_htmx(request):
            return await self._home.render(
                request,
                claims,
                template="accounts/profile_update.html",
                toast=Flash("success", message),
            )
        return back_to_account(request, Flash("success", message))

    async def password_page(self, request: web.Request, claims: AccessClaims) -> web.StreamResponse:
        """Lead the old password pages (GET /auth/providers/password/change, /add) to the form."""
        del claims  # signed in only: an anonymous caller goes to the login page first
        return redirect(request, PASSWORD_SECTION)

    async def password_change(
        self, request: web.Request, claims: AccessClaims
    ) -> web.StreamResponse:
        """Replace the password; every other session of the user ends."""
        form = await read_form(request)
        try:
            ended = await self._service.change_password(
                user_id=claims.user_id,
                session_id=claims.session_id,
                current=field(form, "current_password").strip(),
                new=field(form, "new_password").strip(),
                confirmation=field(form, "confirm_password").strip(),
                client_ip=client_ip(request, trust_proxy_headers=self._trust_proxy_headers),
            )
        except REFUSALS as exc:
            return await self._password_refused(request, claims, exc, adding=False)
        others = "" if ended == 0 else f" You were signed out on {_count(ended, 'other session')}."
        return await self._to_account(request, claims, f"Your password was changed.{others}")

    async def password_link(self, request: web.Request, claims: AccessClaims) -> web.StreamResponse:
        """Add a password to an account that has none (POST /auth/providers/password/link)."""
        form = await read_form(request)
        try:
            await self._service.add_password(
                user_id=claims.user_id,
                session_id=claims.session_id,
                new=field(form, "password").strip(),
                confirmation=field(form, "confirm_password").strip(),
            )
        except REFUSALS as exc:
            return await self._password_refused(request, claims, exc, adding=True)
        return await self._to_account(
            request, claims, "Your password was added: you can now sign in with it."
        )

    async def delete(self, request: web.Request, claims: AccessClaims) -> web.StreamResponse:
        """Delete the account, then clear the cookies and say goodbye (POST /auth/user/delete)."""
        form = await read_form(request)
        try:
            await self._service.delete_account(
                user_id=claims.user_id,
                session_id=claims.session_id,
                password=field(form, "password"),
                client_ip=client_ip(request, trust_proxy_headers=self._trust_proxy_headers),
            )
        except (AccountChangeRefused, LastOwner) as exc:
            reauth = isinstance(exc, SignInAgain)
            if not is_htmx(request):
                return back_to_account(
                    request, Flash("error", exc.message, field="delete", reauth=reauth)
                )
            status = exc.status if isinstance(exc, LastOwner) else FORM_ERROR_STATUS
            response = await self._home.render(
                request,
                claims,
                status=status,
                delete_error=exc.message,
                sign_in_again=SIGN_IN_AGAIN if reauth else None,
                toast=Flash("error", exc.message),
            )
            return _retarget_body(response)
        response = redirect(request, routes.ACCOUNT_DELETED)
        self._cookies.clear_session(response)
        return response

    async def deleted_page(self, request: web.Request) -> web.StreamResponse:
        """Tell a former user their account is gone (GET /auth/successful-deletion)."""
        return self._renderer.page(request, "accounts/deleted.html")

    async def _password_refused(
        self,
        request: web.Request,
        claims: AccessClaims,
        error: AccountChangeRefused | InvalidPassword,
        *,
        adding: bool,
    ) -> web.StreamResponse:
        name = _field_of(error, adding=adding)
        reauth = isinstance(error, SignInAgain)
        if not is_htmx(request):
            return back_to_account(
                request, Flash("error", error.message, field=name, reauth=reauth)
            )
        response = await self._home.render(
            request,
            claims,
            status=FORM_ERROR_STATUS,
            password_error=error.message,
            password_error_field=name,
            password_sign_in_again=SIGN_IN_AGAIN if reauth else None,
            toast=Flash("error", error.message),
        )
        response.headers["HX-Push-Url"] = routes.ACCOUNT
        return _retarget_body(response)

    async def _to_account(
        self, request: web.Request, claims: AccessClaims, message: str
    ) -> web.StreamResponse:
        if not is_htmx(request):
            return back_to_account(request, Flash("success", message))
        response = await self._home.render(request, claims, toast=Flash("success", message))
        response.headers["HX-Push-Url"] = routes.ACCOUNT
        return _retarget_body(response)


def _field_of(error: AccountChangeRefused | InvalidPassword, *, adding: bool) -> str:
    """Name the form field an error is about (its message is tied to it)."""
    if isinstance(error, WrongCurrentPassword | NoPassword):
        return "current_password"
    if isinstance(error, PasswordMismatch):
        return "confirm_password"
    return "password" if adding else "new_password"


def _retarget_body(response: web.Response) -> web.Response:
    """Have HTMX swap the account page's body in, whichever form asked."""
    response.headers["HX-Retarget"] = "#body"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
