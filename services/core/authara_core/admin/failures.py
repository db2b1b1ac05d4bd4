"""The console's Failures page: failed email jobs and webhook deliveries, and their retry.

- `GET /auth/admin/failures?page=`: both kinds, newest failure first, 25 a page (offset
  pages); readable by admins, auditors and monitors.
- `POST /auth/admin/failures/email/{jobID}/retry` and `.../webhook/{eventID}/retry` (admins
  only, CSRF): put the row back in its outbox, due now, with a fresh round of attempts
  (admin/failures_store.py), audited in the same transaction (`email_job.retried`,
  `webhook_event.retried`, with the id and the attempts made so far in the metadata). A row
  that is no longer failed is refused (409), an unknown one is a 404. Without JavaScript the
  answer is 303 back to the page with a flash; under HTMX the list fragment and a toast.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from authara_contract import routes
from authara_core.admin import failures_store as store
from authara_core.admin.audit import Action, Actor, record
from authara_core.admin.failures_store import FailedJob, Kind
from authara_core.admin.guard import Operator
from authara_core.admin.layout import FAILURES, ConsoleLayout
from authara_core.platform.clock import Clock
from authara_core.platform.db import Database
from authara_core.platform.errors import (
    ConsoleChangeRefused,
    InvalidRequest,
    MailNotRebuildable,
    NotFound,
    NotRetryable,
)
from authara_core.platform.flash import Flash, set_flash
from authara_core.platform.render import is_htmx, redirect
from authara_core.sessions.listing import moment

PAGE_SIZE: Final = 25
MAX_PAGE: Final = 400
JOB_ID_PARAM: Final = "jobID"
EVENT_ID_PARAM: Final = "eventID"
_ACTIONS: Final[dict[str, Action]] = {
    "email": Action.EMAIL_JOB_RETRIED,
    "webhook": Action.WEBHOOK_EVENT_RETRIED,
}


@dataclass(frozen=True, slots=True)
class FailurePage:
    """One page of failures (`page` from 1) and the totals of each kind."""

    page: int
    rows: list[FailedJob]
    has_next: bool
    emails: int
    webhooks: int


class FailureService:
    """Reads the failed outbox rows and puts one back, audited."""

    def __init__(self, *, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def page(self, page: int) -> FailurePage:
        """Return page `page` (1-based) of both kinds, newest first."""
        async with self._db.snapshot() as conn:  # one snapshot for the counts and rows
            emails, webhooks = await store.count_failed(conn)
            rows = await store.list_failed(conn, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        return FailurePage(
            page=page,
            rows=rows[:PAGE_SIZE],
            has_next=len(rows) > PAGE_SIZE,
            emails=emails,
            webhooks=webhooks,
        )

    async def retry(self, kind: Kind, job_id: uuid.UUID, *, actor: Actor) -> store.Retried:
        """Put a failed row back in its queue, due now; NotRetryable / NotFound otherwise."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            retried = await store.retry_failed(conn, kind, job_id, now=now)
            if retried is None:
                status = await store.status_of(conn, kind, job_id)
                if status is None:
                    raise NotFound(
                        "There is no such email job."
                        if kind == "email"
                        else "There is no such webhook event."
                    )
                # Still failed, yet not put back: a mail whose contents are gone.
                raise MailNotRebuildable if status == "failed" else NotRetryable
            metadata: dict[str, Any] = {
                "id": retried.id,
                "attempts": retried.attempts,
                "what": retried.what,
            }
            await record(
                conn,
                actor.event(_ACTIONS[kind], target_email=retried.recipient, metadata=metadata),
                now=now,
            )
        return retried


def _id_of(request: web.Request, param: str) -> uuid.UUID:
    raw = request.match_info[param]
    try:
        parsed = uuid.UUID(raw)
    except ValueError:
        parsed = None
    if parsed is None or str(parsed) != raw.lower():
        raise InvalidRequest("The id must be a UUID.")
    return parsed


def _page_of(request: web.Request) -> int:
    raw = request.query.get("page", "1").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise InvalidRequest(f"The page must be a number from 1 to {MAX_PAGE}.")
    return int(raw)


def _page_url(page: int) -> str:
    return routes.ADMIN_FAILURES if page <= 1 else f"{routes.ADMIN_FAILURES}?page={page}"


def retry_url(row: FailedJob) -> str:
    """Return the row's Retry action."""
    if row.kind == "email":
        return routes.ADMIN_FAILURE_EMAIL_RETRY.format(jobID=row.id)
    return routes.ADMIN_FAILURE_WEBHOOK_RETRY.format(eventID=row.id)


class FailurePages:
    """The handlers of the Failures page (each wrapped by ConsoleGuard in routes.py)."""

    def __init__(self, *, failures: FailureService, layout: ConsoleLayout) -> None:
        self._failures = failures
        self._layout = layout

    async def page(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """GET /auth/admin/failures."""
        return await self._render(request, operator, "admin/failures.html", _page_of(request))

    async def retry_email(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """POST /auth/admin/failures/email/{jobID}/retry."""
        return await self._retry(request, operator, "email", _id_of(request, JOB_ID_PARAM))

    async def retry_webhook(self, request: web.Request, operator: Operator) -> web.StreamResponse:
        """POST /auth/admin/failures/webhook/{eventID}/retry."""
        return await self._retry(request, operator, "webhook", _id_of(request, EVENT_ID_PARAM))

    async def _retry(
        self, request: web.Request, operator: Operator, kind: Kind, job_id: uuid.UUID
    ) -> web.StreamResponse:
        form = await request.post()
        page = _page_of_form(form.get("page"))
        try:
            retried = await self._failures.retry(kind, job_id, actor=operator.actor)
        except ConsoleChangeRefused as exc:
            if is_htmx(request):
                raise
            response = redirect(request, _page_url(page))
            set_flash(response, Flash("error", exc.message))
            return response
        noun = (
            f"The {retried.what} email to {retried.recipient}"
            if kind == "email"
            else (f"The {retried.what} webhook event")
        )
        message = f"{noun} is queued again for delivery now."
        if not is_htmx(request):
            response = redirect(request, _page_url(page))
            set_flash(response, Flash("success", message))
            return response
        return await self._render(
            request, operator, "admin/_failures.html", page, toast=Flash("success", message)
        )

    async def _render(
        self,
        request: web.Request,
        operator: Operator,
        template: str,
        page: int,
        toast: Flash | None = None,
    ) -> web.Response:
        found = await self._failures.page(page)
        return self._layout.page(
            request,
            operator,
            template,
            current=FAILURES,
            show_flash=template == "admin/failures.html",
            found=found,
            retry_url=retry_url,
            moment=moment,
            newer=_page_url(page - 1) if page > 1 else None,
            older=_page_url(page + 1) if found.has_next else None,
            page_url=_page_url(page),
            toast=toast,
        )


def _page_of_form(raw: object) -> int:
    """Return the page the Retry form was on (1 when missing or not a plausible page)."""
    if isinstance(raw, str) and raw.isdigit() and 1 <= int(raw) <= MAX_PAGE:
        return int(raw)
    return 1
