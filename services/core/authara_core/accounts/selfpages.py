"""The account page's own forms: change username, change or add a password, delete the account.

Without JavaScript a success redirects to the account page with a flash message (303) and a
refusal shows the page again (422) with the message next to its field and the typed values
(never passwords). With HTMX (`HX-Request: true`) the username form answers with the profile
fragment and a toast, the other forms with the page's body (`HX-Retarget: #body`) and a toast;
redirects become `HX-Redirect`.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from authara_contract import routes
from authara_contract.return_to import with_return_to
from authara_contract.tokens import AccessClaims
from authara_core.accounts.home import AccountHome
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
from authara_core.platform.flash import Flash, set_flash
from authara_core.platform.forms import FormRenderer
from authara_core.platform.render import Renderer, is_htmx, redirect

PASSWORD_PAGE: Final = "accounts/password.html"  # noqa: S105 (a template)
# Where "sign in again" goes: out, then to the login page, then back to the account page.
SIGN_IN_AGAIN: Final = with_return_to(routes.LOGOUT, with_return_to(routes.LOGIN, routes.ACCOUNT))
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
        self._forms = FormRenderer(renderer, cookie_writer)
        self._trust_proxy_headers = trust_proxy_headers

    async def username(self, request: web.Request, claims: AccessClaims) -> web.StreamResponse:
        """Change the username (POST /auth/user/username)."""
        typed = field(await read_form(request), "username")
        try:
            username = await self._service.change_username(
                user_id=claims.user_id, session_id=claims.session_id, username=typed
            )
        except AccountChangeRefused as exc:
            refused = {"username_value": typed, "username_error": exc.message}
            if is_htmx(request):
                return await self._home.render(
                    request,
                    claims,
                    status=exc.status,
                    template="accounts/profile_update.html",
                    toast=Flash("error", exc.message),
                    **refused,
                )
            return await self._home.render(request, claims, status=exc.status, **refused)
        message = f"Your username is now {username}."
        if is_htmx(request):
            return await self._home.render(
                request,
                claims,
                template="accounts/profile_update.html",
                toast=Flash("success", message),
            )
        return _done(request, message)

    async def password_change_page(
        self, request: web.Request, claims: AccessClaims
    ) -> web.StreamResponse:
        """Show the change-password form (GET /auth/providers/password/change)."""
        return await self._password_page(request, claims, adding=False)

    async def password_add_page(
        self, request: web.Request, claims: AccessClaims
    ) -> web.StreamResponse:
        """Show the add-a-password form (GET /auth/providers/password/add)."""
        return await self._password_page(request, claims, adding=True)

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
            return self._password_form(request, adding=False, error=exc)
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
            return self._password_form(request, adding=True, error=exc)
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
            status = exc.status if isinstance(exc, LastOwner) else FORM_ERROR_STATUS
            response = await self._home.render(
                request,
                claims,
                status=status,
                delete_error=exc.message,
                sign_in_again=SIGN_IN_AGAIN if isinstance(exc, SignInAgain) else None,
                toast=Flash("error", exc.message),
            )
            return _retarget_body(request, response)
        response = redirect(request, routes.ACCOUNT_DELETED)
        self._cookies.clear_session(response)
        return response

    async def deleted_page(self, request: web.Request) -> web.StreamResponse:
        """Tell a former user their account is gone (GET /auth/successful-deletion)."""
        return self._renderer.page(request, "accounts/deleted.html")

    async def _password_page(
        self, request: web.Request, claims: AccessClaims, *, adding: bool
    ) -> web.StreamResponse:
        has_password = await self._service.has_password(claims.user_id)
        if has_password == adding:  # the other form is the one this account can use
            target = routes.PASSWORD_CHANGE if has_password else routes.PASSWORD_ADD
            return redirect(request, target)
        return self._password_form(request, adding=adding, error=None)

    def _password_form(
        self,
        request: web.Request,
        *,
        adding: bool,
        error: AccountChangeRefused | InvalidPassword | None,
    ) -> web.Response:
        context: dict[str, Any] = {
            "adding": adding,
            "action": routes.PASSWORD_LINK if adding else routes.PASSWORD_CHANGE,
            "account_url": routes.ACCOUNT,
            "error": None,
            "error_field": None,
            "toast": None,
            "sign_in_again": None,
        }
        if error is not None:
            context.update(
                error=error.message,
                error_field=_field_of(error, adding=adding),
                toast=Flash("error", error.message),
                sign_in_again=SIGN_IN_AGAIN if isinstance(error, SignInAgain) else None,
            )
        return self._forms.page(
            request,
            PASSWORD_PAGE,
            status=FORM_ERROR_STATUS if error is not None else 200,
            **context,
        )

    async def _to_account(
        self, request: web.Request, claims: AccessClaims, message: str
    ) -> web.StreamResponse:
        if not is_htmx(request):
            return _done(request, message)
        response = await self._home.render(request, claims, toast=Flash("success", message))
        response.headers["HX-Push-Url"] = routes.ACCOUNT
        return _retarget_body(request, response)


def _field_of(error: AccountChangeRefused | InvalidPassword, *, adding: bool) -> str:
    """Name the form field an error is about (its message is tied to it)."""
    if isinstance(error, WrongCurrentPassword | NoPassword):
        return "current_password"
    if isinstance(error, PasswordMismatch):
        return "confirm_password"
    return "password" if adding else "new_password"


def _done(request: web.Request, message: str) -> web.Response:
    response = redirect(request, routes.ACCOUNT)
    set_flash(response, Flash("success", message))
    return response


def _retarget_body(request: web.Request, response: web.Response) -> web.Response:
    if is_htmx(request):
        response.headers["HX-Retarget"] = "#body"
        response.headers["HX-Reswap"] = "innerHTML"
    return response


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
