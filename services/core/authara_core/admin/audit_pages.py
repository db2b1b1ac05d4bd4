"""GET /auth/admin/audit (the log, filtered and paged) and its CSV and JSON Lines exports.

The filter form is a GET form: without JavaScript it loads the page; with HTMX it swaps the
results (`#audit-results`) and pushes the URL. Bad filters answer 400 with the form and the
reason. Exports stream the matching events in batches (admin/auditlog.py), never all at once.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import UTC
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web

from authara_contract import routes
from authara_contract.headers import NO_STORE
from authara_core.admin.audit_store import EventRow
from authara_core.admin.auditlog import (
    ACTIONS,
    DEFAULT_SIZE,
    AuditLog,
    AuditPage,
    AuditQuery,
    encode_cursor,
    parse_query,
)
from authara_core.admin.guard import Operator
from authara_core.admin.layout import AUDIT, ConsoleLayout
from authara_core.platform.clock import Clock
from authara_core.platform.errors import InvalidRequest

UA_SHOWN: Final = 48
CSV_COLUMNS: Final = (
    "id",
    "created_at",
    "action",
    "actor_user_id",
    "actor_email",
    "actor_label",
    "target_user_id",
    "target_email",
    "ip",
    "user_agent",
    "request_id",
    "metadata",
)
# A spreadsheet runs a cell starting with one of these as a formula (OWASP CSV injection).
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """Prefix a cell a spreadsheet would read as a formula with an apostrophe."""
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def event_record(event: EventRow) -> dict[str, Any]:
    """Return one event as the exports write it (times in UTC, ISO 8601)."""
    return {
        "id": str(event.id),
        "created_at": event.created_at.astimezone(UTC).isoformat(),
        "action": event.action,
        "actor_user_id": str(event.actor_user_id) if event.actor_user_id else None,
        "actor_email": event.actor_email,
        "actor_label": event.actor_label,
        "target_user_id": str(event.target_user_id) if event.target_user_id else None,
        "target_email": event.target_email or event.target_account_email,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "metadata": event.metadata,
    }


def csv_lines(events: Iterable[EventRow]) -> str:
    """Write events as CSV rows, every text cell injection-safe."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for event in events:
        record = event_record(event)
        record["metadata"] = json.dumps(record["metadata"], separators=(",", ":"))
        writer.writerow(safe_cell(str(record[name] or "")) for name in CSV_COLUMNS)
    return out.getvalue()


def csv_header() -> str:
    """Return the CSV export's first line."""
    return ",".join(CSV_COLUMNS) + "\r\n"


def jsonl_lines(events: Iterable[EventRow]) -> str:
    """Write events as JSON Lines."""
    return "".join(
        json.dumps(event_record(event), separators=(",", ":")) + "\n" for event in events
    )


def event_view(event: EventRow) -> dict[str, Any]:
    """Describe one event for the page: who, what, to whom, when, from where."""
    agent = event.user_agent or ""
    return {
        "id": str(event.id),
        "action": event.action,
        "at": event.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "at_iso": event.created_at.astimezone(UTC).isoformat(),
        "actor": event.actor_email or event.actor_label or _short_id(event.actor_user_id),
        "actor_id": str(event.actor_user_id) if event.actor_user_id else "",
        "target": event.target_email
        or event.target_account_email
        or _short_id(event.target_user_id),
        "target_id": str(event.target_user_id) if event.target_user_id else "",
        "ip": event.ip or "",
        "agent": agent if len(agent) <= UA_SHOWN else agent[: UA_SHOWN - 1] + "\u2026",
        "agent_full": agent,
        "request_id": event.request_id or "",
        "metadata": (
            json.dumps(event.metadata, separators=(", ", ": "), sort_keys=True)
            if event.metadata
            else ""
        ),
    }


def _short_id(user_id: object) -> str:
    return f"user {str(user_id)[:8]}" if user_id else ""


class AuditPages:
    """The audit log page and its exports (readable by admin, auditor and monitor)."""

    def __init__(self, *, log: AuditLog, layout: ConsoleLayout, clock: Clock) -> None:
        self._log = log
        self._layout = layout
        self._clock = clock

    async def page(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """Show the log, newest first; 400 with the form and the reason for bad filters."""
        try:
            query = parse_query(request.query)
        except InvalidRequest as exc:
            values = {name: request.query.get(name, "") for name in ("actor", "target")}
            values |= {name: request.query.get(name, "") for name in ("action", "from", "to")}
            return self._render(request, operator, values, None, error=str(exc), status=400)
        found = await self._log.page(query)
        return self._render(request, operator, query.values, found, query=query)

    def _render(
        self,
        request: web.Request,
        operator: Operator,
        values: Mapping[str, str],
        found: AuditPage | None,
        *,
        query: AuditQuery | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> web.Response:
        links: dict[str, str | None] = {"newer": None, "older": None, "csv": None, "jsonl": None}
        if query is not None and found is not None:
            keep = dict(query.filters)
            if query.size != DEFAULT_SIZE:
                keep["size"] = str(query.size)
            if found.newer is not None:
                links["newer"] = _url(routes.ADMIN_AUDIT, keep, after=encode_cursor(found.newer))
            if found.older is not None:
                links["older"] = _url(routes.ADMIN_AUDIT, keep, before=encode_cursor(found.older))
            links["csv"] = _url(routes.ADMIN_AUDIT_EXPORT_CSV, query.filters)
            links["jsonl"] = _url(routes.ADMIN_AUDIT_EXPORT_JSONL, query.filters)
        return self._layout.page(
            request,
            operator,
            "admin/audit.html",
            current=AUDIT,
            status=status,
            values=values,
            actions=ACTIONS,
            found=found,
            events=[event_view(event) for event in found.events] if found else [],
            links=links,
            error=error,
            filtered=bool(query and query.filters),
            audit_url=routes.ADMIN_AUDIT,
        )

    async def export_csv(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """Stream the matching events as CSV (UTF-8, a header line, injection-safe cells)."""
        del operator
        return await self._export(request, "csv", "text/csv", csv_lines, csv_header())

    async def export_jsonl(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """Stream the matching events as JSON Lines (one object per line)."""
        del operator
        return await self._export(request, "jsonl", "application/x-ndjson", jsonl_lines, "")

    async def _export(
        self,
        request: web.Request,
        extension: str,
        content_type: str,
        lines: Callable[[list[EventRow]], str],
        header: str,
    ) -> web.StreamResponse:
        """Answer with a body streamed batch by batch (chunked; the middleware's headers apply).

        The filters are checked first, so bad ones are a 400 before anything is sent.
        """
        query = parse_query(request.query)
        stamp = self._clock.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")

        async def body() -> AsyncIterator[bytes]:
            if header:
                yield header.encode()
            async for batch in self._log.export(query):
                yield lines(batch).encode()

        response = web.Response(
            body=body(),
            headers={
                "Content-Disposition": f'attachment; filename="authara-audit-{stamp}.{extension}"',
                "Cache-Control": NO_STORE,
            },
        )
        response.content_type = content_type
        response.charset = "utf-8"
        return response


def _url(path: str, params: dict[str, str], **extra: str) -> str:
    """Build a link to `path` with the filters kept."""
    query = urlencode({**params, **extra})
    return f"{path}?{query}" if query else path
