"""The email allowlist (AUTHARA_ACCESS_POLICY_ALLOWLIST_ENABLED): the policy and its console.

`AccessPolicy` is what the other domains ask, inside their transactions: sessions refuse to
start or refresh for an email that is not listed (sessions/service.py, the one place every
sign-in and refresh passes), signups refuse before any work, and an accepted invitation admits
its email. While the flag is off the policy allows everyone and admits no one.

`move_in` and `forget_in` keep the list in step with accounts (email change, deletion) whatever
the flag says. `AllowlistService` is the console's: search, add, remove, bulk import, each
change audited (admin/audit.py) in its transaction.
"""

from __future__ import annotations

import csv
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from authara_core.accounts import users
from authara_core.accounts.validation import normalize_email, validate_email
from authara_core.admin.audit import Action, Actor, record
from authara_core.allowlist import store
from authara_core.allowlist.store import AllowedEmail
from authara_core.platform.clock import Clock
from authara_core.platform.db import Connection, Database
from authara_core.platform.errors import (
    AlreadyAllowed,
    EmailNotAllowed,
    InvalidEmail,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
)

MIN_SEARCH: Final = 3
"""Shorter search terms list everything (upstream's minimum)."""
PAGE_SIZE: Final = 25
MAX_PAGE_SIZE: Final = 100
MAX_IMPORT_BYTES: Final = 512 * 1024
"""Below the app's 1 MiB body limit, so an oversize import gets this page's own 413."""
MAX_IMPORT_LINES: Final = 10_000
HEADERS: Final = frozenset({"email", "emails", "e-mail", "email address", "address"})


class AccessPolicy:
    """Whether an email may sign up or hold a session; admission by invitation."""

    def __init__(self, *, db: Database, clock: Clock, enabled: bool) -> None:
        self._db = db
        self._clock = clock
        self.enabled = enabled

    async def allows_in(self, conn: Connection, email: str) -> bool:
        """Whether `email` may sign in (always, while the policy is off)."""
        return not self.enabled or await store.is_listed(conn, normalize_email(email))

    async def check_in(self, conn: Connection, email: str, message: str | None = None) -> None:
        """Raise EmailNotAllowed (403) unless `email` may sign in."""
        if not await self.allows_in(conn, email):
            raise EmailNotAllowed(message)

    async def check(self, email: str, message: str | None = None) -> None:
        """`check_in` on a connection of its own (before a signup does any work)."""
        if self.enabled:
            async with self._db.connection() as conn:
                await self.check_in(conn, email, message)

    async def admit_in(self, conn: Connection, email: str) -> None:
        """Add an invited email (an invitation being accepted); nothing while the policy is off."""
        if self.enabled:
            await store.insert(conn, normalize_email(email), self._clock.now())


async def move_in(conn: Connection, old: str, new: str, *, clock: Clock) -> None:
    """Move an entry to an account's new email, inside the caller's transaction."""
    old, new = normalize_email(old), normalize_email(new)
    if old != new and await store.is_listed(conn, old):
        await store.rename(conn, old, new, clock.now())


async def forget_in(conn: Connection, email: str) -> None:
    """Take a deleted account's email off the list, inside the caller's transaction."""
    await store.delete_email(conn, normalize_email(email))


class Outcome(StrEnum):
    """What happened to one line of an import."""

    ADDED = "added"
    LISTED = "already listed"
    INVALID = "invalid"


@dataclass(frozen=True, slots=True)
class ImportLine:
    """One non-blank line of an import and what became of it."""

    number: int
    text: str
    outcome: Outcome
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ImportReport:
    """An import's lines and counts."""

    lines: tuple[ImportLine, ...]

    def count(self, outcome: Outcome) -> int:
        """How many lines ended so."""
        return sum(1 for line in self.lines if line.outcome is outcome)


@dataclass(frozen=True, slots=True)
class AllowlistPage:
    """A page of entries for the console."""

    entries: list[AllowedEmail]
    total: int
    query: str
    page: int
    size: int

    @property
    def pages(self) -> int:
        """Number of pages (at least one)."""
        return max(1, -(-self.total // self.size))


def parse_import(text: str) -> list[tuple[int, str, str | None, str]]:
    """Split an import into (line number, raw text, normalized email or None, reason).

    One email per line, or CSV with the email in the first column; blank lines are skipped,
    and a first line naming the column (`email`) is a header.
    """
    if len(text.encode()) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"An import is at most {MAX_IMPORT_BYTES // 1024} KiB.")
    raw_lines = text.splitlines()
    if len(raw_lines) > MAX_IMPORT_LINES:
        raise PayloadTooLarge(f"An import is at most {MAX_IMPORT_LINES:,} lines.")
    parsed: list[tuple[int, str, str | None, str]] = []
    for number, line in enumerate(raw_lines, start=1):
        if not line.strip():
            continue
        try:
            first = next(csv.reader([line]), [""])
        except csv.Error:
            first = [line]
        cell = (first[0] if first else "").strip()
        if not parsed and cell.lower() in HEADERS:
            continue  # the header line
        try:
            parsed.append((number, line.strip()[:200], validate_email(cell), ""))
        except InvalidEmail as exc:
            reason = "empty first column" if not cell else exc.message
            parsed.append((number, line.strip()[:200], None, reason))
    return parsed


class AllowlistService:
    """The console's allowlist: search, add, remove and import, each change audited."""

    def __init__(self, *, db: Database, clock: Clock, policy: AccessPolicy) -> None:
        self._db = db
        self._clock = clock
        self.policy = policy

    @property
    def enabled(self) -> bool:
        """Whether the policy is on (the console's pages exist only then)."""
        return self.policy.enabled

    async def search(self, query: str, *, page: int = 1, size: int = PAGE_SIZE) -> AllowlistPage:
        """Return a page of entries; a term of MIN_SEARCH or more characters filters by prefix."""
        term = normalize_email(query)
        size = min(max(size, 1), MAX_PAGE_SIZE)
        page = max(page, 1)
        prefix = term if len(term) >= MIN_SEARCH else None
        async with self._db.connection() as conn:
            entries, total = await store.search(conn, prefix, limit=size, offset=(page - 1) * size)
        return AllowlistPage(entries, total, query.strip(), page, size)

    async def add(self, actor: Actor, raw_email: str) -> AllowedEmail:
        """Add one email (400 when invalid or listed already), audited."""
        email = validate_email(raw_email)
        now = self._clock.now()
        async with self._db.transaction() as conn:
            entry_id = await store.insert(conn, email, now)
            if entry_id is None:
                raise AlreadyAllowed(f"{email} is already on the allowlist.")
            await record(
                conn,
                actor.event(Action.ALLOWLIST_EMAIL_ADDED, target_email=email),
                now=now,
            )
        return AllowedEmail(entry_id, email, now)

    async def get(self, entry_id: uuid.UUID) -> AllowedEmail:
        """One entry (404 when unknown)."""
        async with self._db.connection() as conn:
            entry = await store.get(conn, entry_id)
        if entry is None:
            raise NotFound("That email is not on the allowlist (any more).")
        return entry

    async def remove(self, actor: Actor, entry_id: uuid.UUID) -> AllowedEmail:
        """Remove one entry, never the operator's own email (400); audited."""
        now = self._clock.now()
        async with self._db.transaction() as conn:
            entry = await store.get(conn, entry_id, lock=True)
            if entry is None:
                raise NotFound("That email is not on the allowlist (any more).")
            me = None if actor.user_id is None else await users.get_user(conn, actor.user_id)
            if me is not None and normalize_email(me.email) == entry.email:
                raise InvalidRequest("You cannot remove your own email from the allowlist.")
            await store.delete(conn, entry.id)
            await record(
                conn,
                actor.event(Action.ALLOWLIST_EMAIL_REMOVED, target_email=entry.email),
                now=now,
            )
        return entry

    async def import_emails(self, actor: Actor, text: str) -> ImportReport:
        """Add every valid email of an import in one transaction; report each line.

        Invalid lines are reported and skipped; the good ones are kept. One audit event
        records the import with its counts.
        """
        parsed = parse_import(text)
        wanted = list(dict.fromkeys(email for _, _, email, _ in parsed if email is not None))
        now = self._clock.now()
        async with self._db.transaction() as conn:
            added = await store.insert_many(conn, wanted, now) if wanted else set()
            seen: set[str] = set()
            lines: list[ImportLine] = []
            for number, raw, email, reason in parsed:
                if email is None:
                    lines.append(ImportLine(number, raw, Outcome.INVALID, reason))
                elif email in added and email not in seen:
                    lines.append(ImportLine(number, raw, Outcome.ADDED))
                else:
                    why = "repeated in this import" if email in seen else ""
                    lines.append(ImportLine(number, raw, Outcome.LISTED, why))
                if email is not None:
                    seen.add(email)
            report = ImportReport(tuple(lines))
            metadata = {
                "bulk": True,
                "added": report.count(Outcome.ADDED),
                "already_listed": report.count(Outcome.LISTED),
                "invalid": report.count(Outcome.INVALID),
            }
            await record(
                conn, actor.event(Action.ALLOWLIST_EMAIL_ADDED, metadata=metadata), now=now
            )
        return report
