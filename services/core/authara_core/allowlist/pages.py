"""The console's allowlist pages: list and search, add one, remove one (confirmed), import.

Each handler is wrapped by ConsoleGuard; every page is 404 while the policy is off (upstream).
"""

from __future__ import annotations

import uuid
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from authara_contract import routes
from authara_core.admin.guard import Operator
from authara_core.admin.layout import ALLOWLIST, ConsoleLayout
from authara_core.allowlist.service import (
    MAX_IMPORT_BYTES,
    MAX_IMPORT_LINES,
    PAGE_SIZE,
    AllowlistPage,
    AllowlistService,
    ImportReport,
    Outcome,
)
from authara_core.platform.bodies import field, read_form
from authara_core.platform.errors import InvalidRequest, NotFound, PayloadTooLarge
from authara_core.platform.flash import Flash, set_flash
from authara_core.platform.render import redirect

MAX_QUERY: Final = 320
CONFIRM_VALUE: Final = "yes"


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw is not None and len(raw) < 10 else default
    except ValueError:
        return default


def _entry_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["emailID"])
    except ValueError:
        raise NotFound("That email is not on the allowlist (any more).") from None


def _delete_url(entry_id: uuid.UUID) -> str:
    return routes.ADMIN_ALLOWLIST_DELETE.format(emailID=entry_id)


class AllowlistPages:
    """GET/POST /auth/admin/allowlist, its results fragment, import and removal."""

    def __init__(self, *, allowlist: AllowlistService, layout: ConsoleLayout) -> None:
        self._allowlist = allowlist
        self._layout = layout

    def _check_enabled(self) -> None:
        if not self._allowlist.enabled:
            raise NotFound

    async def _listing(self, request: web.Request) -> AllowlistPage:
        query = request.query
        return await self._allowlist.search(
            query.get("q", "")[:MAX_QUERY],
            page=_int(query.get("page"), 1),
            size=_int(query.get("size"), PAGE_SIZE),
        )

    def _context(self, listing: AllowlistPage) -> dict[str, Any]:
        def page_url(number: int) -> str:
            params = {"q": listing.query, "page": number, "size": listing.size}
            return f"{routes.ADMIN_ALLOWLIST}?{urlencode(params)}"

        return {
            "listing": listing,
            "page_url": page_url,
            "delete_url": _delete_url,
            "allowlist_url": routes.ADMIN_ALLOWLIST,
            "results_url": routes.ADMIN_ALLOWLIST_RESULTS,
            "import_url": routes.ADMIN_ALLOWLIST_IMPORT,
            "max_lines": MAX_IMPORT_LINES,
            "max_kib": MAX_IMPORT_BYTES // 1024,
        }

    async def _render(
        self, request: web.Request, operator: Operator, *, status: int = 200, **extra: Any
    ) -> web.Response:
        listing = await self._listing(request)
        return self._layout.page(
            request,
            operator,
            "allowlist/page.html",
            current=ALLOWLIST,
            status=status,
            show_flash=True,
            **self._context(listing) | extra,
        )

    async def page(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """Show the list (a search of 3+ characters filters it), the add and import forms."""
        self._check_enabled()
        return await self._render(request, operator)

    async def results(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """Render the list alone (HTMX live search)."""
        self._check_enabled()
        listing = await self._listing(request)
        return self._layout.page(
            request,
            operator,
            "allowlist/_results.html",
            current=ALLOWLIST,
            **self._context(listing),
        )

    async def add(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """Add one email; 400 with the reason when invalid or listed already."""
        self._check_enabled()
        email = field(await read_form(request), "email").strip()
        try:
            entry = await self._allowlist.add(operator.actor, email)
        except InvalidRequest as exc:
            return await self._render(
                request, operator, status=400, add_error=exc.message, email=email[:MAX_QUERY]
            )
        response = redirect(request, routes.ADMIN_ALLOWLIST)
        set_flash(response, Flash("success", f"Added {entry.email} to the allowlist."))
        return response

    async def import_emails(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """Add many (pasted or a CSV file); report each line; 413 over the limits."""
        self._check_enabled()
        form = await read_form(request)
        text = field(form, "emails")
        upload = form.get("file")
        if isinstance(upload, web.FileField) and upload.filename:
            data = upload.file.read(MAX_IMPORT_BYTES + 1)
            try:
                text = data.decode("utf-8-sig")
            except UnicodeDecodeError:
                return await self._render(
                    request, operator, status=400, import_error="The file is not UTF-8 text."
                )
        if not text.strip():
            return await self._render(
                request, operator, status=400, import_error="Paste emails or choose a file."
            )
        try:
            report = await self._allowlist.import_emails(operator.actor, text)
        except PayloadTooLarge as exc:
            return await self._render(request, operator, status=413, import_error=exc.message)
        except InvalidRequest as exc:
            return await self._render(request, operator, status=400, import_error=exc.message)
        return await self._render(request, operator, report=report, outcomes=Outcome)

    async def confirm_remove(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """Ask before removing (works without JavaScript)."""
        self._check_enabled()
        entry = await self._allowlist.get(_entry_id(request))
        return self._confirm(request, operator, entry.email, entry.id)

    def _confirm(
        self,
        request: web.Request,
        operator: Operator,
        email: str,
        entry_id: uuid.UUID,
        *,
        status: int = 200,
        error: str | None = None,
    ) -> web.Response:
        return self._layout.page(
            request,
            operator,
            "allowlist/confirm.html",
            current=ALLOWLIST,
            status=status,
            email=email,
            action_url=_delete_url(entry_id),
            allowlist_url=routes.ADMIN_ALLOWLIST,
            error=error,
        )

    async def remove(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """Remove one email once confirmed; never the operator's own (400)."""
        self._check_enabled()
        entry_id = _entry_id(request)
        form = await read_form(request)
        if field(form, "confirm") != CONFIRM_VALUE:
            entry = await self._allowlist.get(entry_id)
            return self._confirm(
                request,
                operator,
                entry.email,
                entry_id,
                status=400,
                error="Tick “I understand” to remove this email.",
            )
        try:
            entry = await self._allowlist.remove(operator.actor, entry_id)
        except InvalidRequest as exc:
            found = await self._allowlist.get(entry_id)
            return self._confirm(
                request, operator, found.email, entry_id, status=400, error=exc.message
            )
        response = redirect(request, routes.ADMIN_ALLOWLIST)
        set_flash(response, Flash("success", f"Removed {entry.email} from the allowlist."))
        return response


__all__ = ["AllowlistPages", "ImportReport"]
