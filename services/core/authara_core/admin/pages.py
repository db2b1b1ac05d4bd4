"""The console's page handlers: the dashboard (each handler is wrapped by ConsoleGuard)."""

from __future__ import annotations

from aiohttp import web

from authara_core.admin.console import ConsoleService
from authara_core.admin.guard import Operator
from authara_core.admin.layout import DASHBOARD, ConsoleLayout


class ConsolePages:
    """GET /auth/admin: counts and the signup chart."""

    def __init__(self, *, console: ConsoleService, layout: ConsoleLayout) -> None:
        self._console = console
        self._layout = layout

    async def dashboard(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """Show the dashboard."""
        dashboard = await self._console.dashboard()
        return self._layout.page(
            request, operator, "admin/dashboard.html", current=DASHBOARD, dashboard=dashboard
        )
