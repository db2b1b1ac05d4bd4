"""The audit log's reader: filters from a query string, newest-first pages, export, retention.

Filters (all optional, combined with AND), as the page's GET form sends them:
- `actor`: a user id, an account's email, or a label for actors that are not users (`cli`,
  `system`, `anonymous`);
- `target`: a user id or an email (an email with an account matches its user id, one without
  matches the event's recorded `target_email`);
- `action`: one of `audit.Action`;
- `from`, `to`: UTC dates (YYYY-MM-DD), both inclusive.

Pages are keyset pages on (created_at, id): `before=<cursor>` (older), `after=<cursor>` (newer).
Upstream's `page` (1-based) and `size` (default 50, max 100) are accepted: `size` is the page
size everywhere, and `page=N` without a cursor skips (N-1)*size events (an OFFSET; links
we render use cursors). Bad input raises InvalidRequest (400) naming the field.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from authara_core.accounts.validation import normalize_email
from authara_core.admin import audit_store as store
from authara_core.admin.audit import Action
from authara_core.admin.audit_store import Criteria, Cursor, EventRow
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import InvalidRequest

DEFAULT_SIZE: Final = 50
MAX_SIZE: Final = 100
MAX_PAGE: Final = 1000  # upstream's page numbers: OFFSET beyond 100k rows is not a page to read
MAX_TERM: Final = 320
EXPORT_BATCH: Final = 500
RETENTION_BATCH: Final = 1000
ACTIONS: Final = tuple(action.value for action in Action)
FILTER_FIELDS: Final = ("actor", "target", "action", "from", "to")


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """A parsed request: the form's values (as typed), the filter, and the page wanted."""

    values: Mapping[str, str]
    actor: str = ""
    target: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None
    size: int = DEFAULT_SIZE
    page: int = 1
    before: Cursor | None = None
    after: Cursor | None = None

    @property
    def filters(self) -> dict[str, str]:
        """The non-empty filter values, for links that keep them."""
        return {name: self.values[name] for name in FILTER_FIELDS if self.values.get(name)}


@dataclass(frozen=True, slots=True)
class AuditPage:
    """Events newest first, with cursors to the neighbouring pages (None: no such page)."""

    events: list[EventRow]
    newer: Cursor | None = None
    older: Cursor | None = None
    matched_nothing: bool = False


def parse_query(query: Mapping[str, str]) -> AuditQuery:
    """Read the filters and the page from a query string; InvalidRequest names what is wrong."""
    values = {name: query.get(name, "").strip() for name in FILTER_FIELDS}
    problems: list[str] = []
    for name in ("actor", "target"):
        if len(values[name]) > MAX_TERM:
            problems.append(f"{name.capitalize()} is too long (at most {MAX_TERM} characters).")
    if values["target"] and not _is_uuid(values["target"]) and "@" not in values["target"]:
        problems.append("Target: enter an email address or a user id.")
    if values["action"] and values["action"] not in ACTIONS:
        problems.append("Action: choose one from the list.")
    since = _date(values["from"], "From", problems)
    until = _date(values["to"], "To", problems)
    if since and until and since > until:
        problems.append("From must be on or before To.")
    size = _int(query.get("size", ""), "size", DEFAULT_SIZE, 1, MAX_SIZE, problems)
    page = _int(query.get("page", ""), "page", 1, 1, MAX_PAGE, problems)
    before = _cursor(query.get("before", ""), "before", problems)
    after = _cursor(query.get("after", ""), "after", problems)
    if problems:
        raise InvalidRequest(" ".join(problems))
    return AuditQuery(
        values=values,
        actor=values["actor"],
        target=values["target"],
        action=values["action"],
        since=since,
        until=until,
        size=size,
        page=page,
        before=before,
        after=after if before is None else None,
    )


def encode_cursor(cursor: Cursor) -> str:
    """Write a cursor for a URL: microseconds since the epoch, `_`, the event id."""
    micros = (cursor.created_at - _EPOCH) // timedelta(microseconds=1)
    return f"{micros}_{cursor.id.hex}"


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _cursor(raw: str, name: str, problems: list[str]) -> Cursor | None:
    if not raw:
        return None
    micros, _, hex_id = raw.strip().partition("_")
    try:
        return Cursor(_EPOCH + timedelta(microseconds=int(micros)), uuid.UUID(hex=hex_id))
    except (ValueError, OverflowError):
        problems.append(f"The {name} position is not valid; start from the first page.")
        return None


def _date(raw: str, label: str, problems: list[str]) -> date | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        day = None
    if day is None or day >= date.max:  # the day after must exist (`to` is inclusive)
        problems.append(f"{label}: enter a date as YYYY-MM-DD.")
        return None
    return day


def _int(raw: str, name: str, default: int, low: int, high: int, problems: list[str]) -> int:
    if not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        problems.append(f"{name} must be a whole number from {low} to {high}.")
        return default
    return value


def _is_uuid(raw: str) -> bool:
    try:
        uuid.UUID(raw)
    except ValueError:
        return False
    return True


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


class AuditLog:
    """Read the audit log (pages, exports) and delete what is older than the retention."""

    def __init__(self, *, db: Database, clock: Clock, retention: timedelta) -> None:
        self._db = db
        self._clock = clock
        self._retention = retention

    async def page(self, query: AuditQuery) -> AuditPage:
        """Return the page `query` asks for (see the module docstring)."""
        limit = query.size
        async with self._db.connection() as conn:
            criteria = await self._criteria(conn, query)
            if criteria is None:
                return AuditPage(events=[], matched_nothing=True)
            if query.after is not None:
                rows = await store.events(conn, criteria, limit=limit + 1, after=query.after)
                if len(rows) > limit:
                    return AuditPage(rows[1:], newer=rows[1].cursor, older=rows[-1].cursor)
                rows = await store.events(conn, criteria, limit=limit + 1)  # back at the top
                return self._page(rows, limit, has_newer=False)
            if query.before is not None:
                rows = await store.events(conn, criteria, limit=limit + 1, before=query.before)
                return self._page(rows, limit, has_newer=True)
            offset = (query.page - 1) * limit
            rows = await store.events(conn, criteria, limit=limit + 1, offset=offset)
            return self._page(rows, limit, has_newer=offset > 0)

    @staticmethod
    def _page(rows: list[EventRow], limit: int, *, has_newer: bool) -> AuditPage:
        shown = rows[:limit]
        return AuditPage(
            events=shown,
            newer=shown[0].cursor if has_newer and shown else None,
            older=shown[-1].cursor if len(rows) > limit else None,
        )

    async def export(self, query: AuditQuery) -> AsyncIterator[list[EventRow]]:
        """Yield every event matching the filters, newest first, in batches (one query each)."""
        async with self._db.connection() as conn:
            criteria = await self._criteria(conn, query)
        if criteria is None:
            return
        before: Cursor | None = None
        while True:
            async with self._db.connection() as conn:
                rows = await store.events(conn, criteria, limit=EXPORT_BATCH, before=before)
            if rows:
                yield rows
            if len(rows) < EXPORT_BATCH:
                return
            before = rows[-1].cursor

    async def cleanup(self) -> int:
        """Delete events older than the retention, a batch per transaction; return how many."""
        cutoff = self._clock.now() - self._retention
        deleted = 0
        while True:
            async with self._db.transaction() as conn:
                count = await store.delete_before(conn, cutoff, batch=RETENTION_BATCH)
            deleted += count
            if count < RETENTION_BATCH:
                return deleted

    async def _criteria(self, conn: Connection, query: AuditQuery) -> Criteria | None:
        """Resolve emails to user ids; None when a filter can match nothing (unknown actor)."""
        actor_id: uuid.UUID | None = None
        actor_label: str | None = None
        if _is_uuid(query.actor):
            actor_id = uuid.UUID(query.actor)
        elif "@" in query.actor:
            actor_id = await store.user_id_by_email(conn, normalize_email(query.actor))
            if actor_id is None:
                return None
        elif query.actor:
            actor_label = query.actor.lower()  # the labels are lowercase (`cli`, `system`)
        target_id: uuid.UUID | None = None
        target_email: str | None = None
        if _is_uuid(query.target):
            target_id = uuid.UUID(query.target)
        elif query.target:
            target_email = normalize_email(query.target)
            target_id = await store.user_id_by_email(conn, target_email)
            if target_id is not None:
                target_email = None
        return Criteria(
            actor_user_id=actor_id,
            actor_label=actor_label,
            target_user_id=target_id,
            target_email=target_email,
            action=query.action or None,
            since=_midnight(query.since) if query.since else None,
            until=_midnight(query.until + timedelta(days=1)) if query.until else None,
        )
