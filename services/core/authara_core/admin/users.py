"""The console's Users pages: search, one user's page, and the actions on it.

- `GET /auth/admin/users?q=&page=`: search by email, username or id prefix (admin/store.py
  `search_users`), 25 a page (offset pages); a plain GET form, and under HTMX the results
  fragment of `GET /auth/admin/users/search` replaces the list as the operator types.
- `GET /auth/admin/users/{userID}`: roles, sign-in methods, organizations, live sessions.
- POST actions (admins only, CSRF): disable, enable, grant or revoke a role, sign out one
  session or all, mail a password reset link. Without JavaScript each answers 303 back to
  the user's page with a flash message (a refusal too); under HTMX, the user's page
  fragment and a toast (a refusal: the error toast, nothing swapped). Destructive ones
  (disable, revoke a role, sign out all) need the `confirm` checkbox ticked.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from authara_contract import routes
from authara_contract.headers import HX_REPLACE_URL
from authara_core.admin.console import MAX_PAGE, MAX_QUERY, ConsoleService
from authara_core.admin.guard import Operator
from authara_core.admin.layout import USERS, ConsoleLayout
from authara_core.admin.service import ROLE_NAMES, AdminService
from authara_core.platform.errors import (
    ConsoleChangeRefused,
    InvalidRequest,
    NotFound,
    SessionNotFound,
)
from authara_core.platform.flash import Flash, set_flash
from authara_core.platform.render import is_htmx, redirect
from authara_core.sessions.listing import moment, session_id_of, session_rows

USER_ID_PARAM: Final = "userID"
ROLE_PARAM: Final = "role"
CONFIRM_FIELD: Final = "confirm"
NOT_CONFIRMED: Final = "Tick the confirmation box first. Nothing was changed."


def user_id_of(request: web.Request) -> uuid.UUID:
    """Return the `{userID}` of the path; 400 unless it is a UUID in its canonical form."""
    raw = request.match_info[USER_ID_PARAM]
    try:
        parsed = uuid.UUID(raw)
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != raw.lower():
        raise InvalidRequest("The user id must be a UUID.")
    return parsed


def role_of(request: web.Request) -> str:
    """Return the `{role}` of the path: admin, auditor or monitor (404 otherwise)."""
    role = request.match_info[ROLE_PARAM]
    if role not in ROLE_NAMES:
        raise NotFound("There is no such role.")
    return role


def user_url(user_id: uuid.UUID) -> str:
    """Return the user's page."""
    return routes.ADMIN_USER.format(userID=user_id)


def _search_args(request: web.Request) -> tuple[str, int]:
    query = request.query.get("q", "")
    if len(query) > MAX_QUERY:
        raise InvalidRequest(f"The search is too long (at most {MAX_QUERY} characters).")
    raw = request.query.get("page", "1").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise InvalidRequest(f"The page must be a number from 1 to {MAX_PAGE}.")
    return query, int(raw)


def _sessions_ended(count: int) -> str:
    return f"{count} session{'s' if count != 1 else ''} signed out"


class UserPages:
    """The handlers of the Users pages (each wrapped by ConsoleGuard in routes.py)."""

    def __init__(
        self, *, console: ConsoleService, admin: AdminService, layout: ConsoleLayout
    ) -> None:
        self._console = console
        self._admin = admin
        self._layout = layout

    # Pages ----------------------------------------------------------------------------------

    async def list_page(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """GET /auth/admin/users: the search form and a page of results."""
        query, page = _search_args(request)
        found = await self._console.search_users(query, page)
        return self._page(request, operator, "admin/users.html", found=found)

    async def results(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """GET /auth/admin/users/search: the results alone (HTMX live search)."""
        query, page = _search_args(request)
        found = await self._console.search_users(query, page)
        response = self._page(request, operator, "admin/_user_results.html", found=found)
        if is_htmx(request):  # the address bar follows, so reload and back show these results
            response.headers[HX_REPLACE_URL] = _list_url(found.query, found.page)
        return response

    async def detail_page(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """GET /auth/admin/users/{userID}: the user's page (400 malformed id, 404 unknown)."""
        return await self._detail(request, operator, user_id_of(request), "admin/user.html")

    # Actions --------------------------------------------------------------------------------

    async def disable(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """POST .../disable: disable the account and sign it out everywhere (confirmed)."""
        user_id = user_id_of(request)

        async def act() -> str:
            await self._confirmed(request)
            ended = await self._admin.disable_user(user_id, actor=operator.actor)
            if ended is None:
                return "The account was already disabled."
            return f"The account is disabled; {_sessions_ended(ended)}."

        return await self._act(request, operator, user_id, act)

    async def enable(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """POST .../enable: let the account sign in again."""
        user_id = user_id_of(request)

        async def act() -> str:
            changed = await self._admin.enable_user(user_id, actor=operator.actor)
            return "The account is enabled." if changed else "The account was already enabled."

        return await self._act(request, operator, user_id, act)

    async def grant_role(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """POST .../roles/{role}/grant."""
        user_id, role = user_id_of(request), role_of(request)

        async def act() -> str:
            if await self._admin.grant_user_role(user_id, role, actor=operator.actor):
                return f"Granted the {role} role."
            return f"The account already had the {role} role."

        return await self._act(request, operator, user_id, act)

    async def revoke_role(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """POST .../roles/{role}/revoke: take the role and sign the account out (confirmed)."""
        user_id, role = user_id_of(request), role_of(request)

        async def act() -> str:
            await self._confirmed(request)
            ended = await self._admin.revoke_user_role(user_id, role, actor=operator.actor)
            if ended is None:
                return f"The account did not have the {role} role."
            return f"Revoked the {role} role; {_sessions_ended(ended)}."

        return await self._act(request, operator, user_id, act)

    async def revoke_session(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """POST .../sessions/{sessionID}/revoke: sign out one session."""
        user_id, session_id = user_id_of(request), session_id_of(request)

        async def act() -> str:
            await self._admin.end_user_session(user_id, session_id, actor=operator.actor)
            return "The session was signed out."

        return await self._act(request, operator, user_id, act)

    async def revoke_sessions(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """POST .../sessions/revoke-all: sign out every session of the account (confirmed)."""
        user_id = user_id_of(request)

        async def act() -> str:
            await self._confirmed(request)
            ended = await self._admin.end_user_sessions(user_id, actor=operator.actor)
            if not ended:
                return "There were no sessions to sign out."
            return f"Signed out {ended} session{'s' if ended != 1 else ''}."

        return await self._act(request, operator, user_id, act)

    async def password_reset(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """POST .../password-reset: mail the user a link to choose a new password."""
        user_id = user_id_of(request)

        async def act() -> str:
            email = await self._admin.request_password_reset(user_id, actor=operator.actor)
            return f"A password reset email is on its way to {email}."

        return await self._act(request, operator, user_id, act)

    # Shared ---------------------------------------------------------------------------------

    @staticmethod
    async def _confirmed(request: web.Request) -> None:
        form = await request.post()
        if form.get(CONFIRM_FIELD) != "yes":
            raise ConsoleChangeRefused(NOT_CONFIRMED)

    async def _act(
        self,
        request: web.Request,
        operator: Operator,
        user_id: uuid.UUID,
        act: Callable[[], Awaitable[str]],
    ) -> web.StreamResponse:
        """Run an action; answer the user's page (303 + flash, or fragment + toast).

        A refusal (a guard, a missing confirmation, a session already gone) goes back to the
        page with the error as a flash without JavaScript; under HTMX it is the error toast.
        An unknown user stays a 404 page, a demoted operator a 403.
        """
        try:
            message = await act()
        except (ConsoleChangeRefused, SessionNotFound) as exc:
            if is_htmx(request):
                raise
            response = redirect(request, user_url(user_id))
            set_flash(response, Flash("error", exc.message))
            return response
        if not is_htmx(request):
            response = redirect(request, user_url(user_id))
            set_flash(response, Flash("success", message))
            return response
        return await self._detail(
            request, operator, user_id, "admin/user_update.html", toast=Flash("success", message)
        )

    async def _detail(
        self,
        request: web.Request,
        operator: Operator,
        user_id: uuid.UUID,
        template: str,
        toast: Flash | None = None,
    ) -> web.StreamResponse:
        detail = await self._console.user_detail(user_id)

        def revoke_url(session_id: uuid.UUID) -> str:
            return routes.ADMIN_USER_SESSION_REVOKE.format(userID=user_id, sessionID=session_id)

        return self._page(
            request,
            operator,
            template,
            show_flash=template == "admin/user.html",
            detail=detail,
            user=detail.user,
            created=moment(detail.user.created_at),
            disabled=None if detail.user.disabled_at is None else moment(detail.user.disabled_at),
            sessions=session_rows(detail.sessions, revoke_url),
            roles=ROLE_NAMES,
            is_self=user_id == operator.user_id,
            urls=_UserUrls(user_id),
            moment=moment,
            toast=toast,
        )

    def _page(
        self, request: web.Request, operator: Operator, template: str, **context: Any
    ) -> web.Response:
        return self._layout.page(
            request,
            operator,
            template,
            current=USERS,
            users_url=routes.ADMIN_USERS,
            search_url=routes.ADMIN_USERS_SEARCH,
            **context,
        )


def _list_url(query: str, page: int) -> str:
    params = {"q": query} if query else {}
    if page > 1:
        params["page"] = str(page)
    return f"{routes.ADMIN_USERS}?{urlencode(params)}" if params else routes.ADMIN_USERS


class _UserUrls:
    """The action URLs of one user's page."""

    def __init__(self, user_id: uuid.UUID) -> None:
        self._id = user_id
        self.page = user_url(user_id)
        self.disable = routes.ADMIN_USER_DISABLE.format(userID=user_id)
        self.enable = routes.ADMIN_USER_ENABLE.format(userID=user_id)
        self.revoke_all = routes.ADMIN_USER_SESSIONS_REVOKE.format(userID=user_id)
        self.password_reset = routes.ADMIN_USER_PASSWORD_RESET.format(userID=user_id)

    def grant(self, role: str) -> str:
        """Grant `role`."""
        return routes.ADMIN_USER_ROLE_GRANT.format(userID=self._id, role=role)

    def revoke(self, role: str) -> str:
        """Revoke `role`."""
        return routes.ADMIN_USER_ROLE_REVOKE.format(userID=self._id, role=role)
