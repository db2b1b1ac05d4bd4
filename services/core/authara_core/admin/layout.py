"""The console's page layout: the navigation and what every console page renders with.

A console page is `ConsoleLayout.page(request, operator, "admin/<page>.html", current=KEY,
...)`; its template extends `admin/layout.html`. To add a page to the navigation, append a
`NavItem` in `console_nav` (in the order operators read it), and only once the page exists:
the nav never links a page that is not served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from authara_contract import routes
from authara_contract.return_to import with_return_to
from authara_core.admin.guard import Operator
from authara_core.platform.cookies import CookieWriter
from authara_core.platform.forms import FormRenderer
from authara_core.platform.render import Renderer

DASHBOARD: Final = "dashboard"
AUDIT: Final = "audit"
ALLOWLIST: Final = "allowlist"
USERS: Final = "users"
FAILURES: Final = "failures"


@dataclass(frozen=True, slots=True)
class NavItem:
    """A console page in the navigation: `key` marks it current (aria-current="page")."""

    key: str
    label: str
    url: str


def console_nav(*, allowlist_enabled: bool) -> tuple[NavItem, ...]:
    """List the console's pages for the navigation.

    Users, Audit log, Allowlist (only while `allowlist_enabled`), Failures.
    """
    items = [
        NavItem(DASHBOARD, "Dashboard", routes.ADMIN_DASHBOARD),
        NavItem(USERS, "Users", routes.ADMIN_USERS),
        NavItem(AUDIT, "Audit log", routes.ADMIN_AUDIT),
    ]
    if allowlist_enabled:
        items.append(NavItem(ALLOWLIST, "Allowlist", routes.ADMIN_ALLOWLIST))
    items.append(NavItem(FAILURES, "Failures", routes.ADMIN_FAILURES))
    return tuple(items)


class ConsoleLayout:
    """Renders console pages: nav, the operator, CSRF token, links out; never cached."""

    def __init__(
        self,
        *,
        renderer: Renderer,
        cookie_writer: CookieWriter,
        allowlist_enabled: bool,
        app_url: str,
    ) -> None:
        self._forms = FormRenderer(renderer, cookie_writer)
        self._nav = console_nav(allowlist_enabled=allowlist_enabled)
        self._app_url = app_url

    @property
    def nav(self) -> tuple[NavItem, ...]:
        """The navigation every page shows."""
        return self._nav

    def page(
        self,
        request: web.Request,
        operator: Operator,
        template: str,
        *,
        current: str,
        status: int = 200,
        **context: Any,
    ) -> web.Response:
        """Render a console page (a fragment for HTMX) with the layout's context."""
        return self._forms.page(
            request,
            template,
            status=status,
            nav=self._nav,
            current=current,
            operator=operator,
            read_only=not operator.can_write,
            app_url=self._app_url,
            account_url=routes.ACCOUNT,
            logout_url=with_return_to(routes.LOGOUT, routes.LOGIN),
            **context,
        )
