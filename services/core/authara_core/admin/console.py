"""ConsoleService: what the admin console's pages show (the dashboard so far).

Pages add their reads here (each in its own transaction or connection), with the SQL in
admin/store.py; changes go through AdminService (admin/service.py), audited by the
operator's `Actor` (admin/guard.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Final

from authara_core.admin import store
from authara_core.admin.chart import SignupChart, signup_chart
from authara_core.platform.clock import Clock
from authara_core.platform.db import Database
from authara_core.platform.errors import UserNotFound
from authara_core.sessions.service import SessionService, SessionView

CHART_DAYS: Final = 30
PAGE_SIZE: Final = 25
MAX_PAGE: Final = 400  # 10,000 rows deep: past that, narrow the search
MAX_QUERY: Final = 254  # an email's longest


@dataclass(frozen=True, slots=True)
class UserPage:
    """One page of the user list (`query` as typed, trimmed; `page` from 1)."""

    query: str
    page: int
    users: list[store.UserSummary]
    has_next: bool


@dataclass(frozen=True, slots=True)
class UserDetail:
    """Everything the user page shows, read at `at`."""

    at: datetime
    user: store.UserSummary
    methods: list[store.SignInMethod]
    memberships: list[store.Membership]
    sessions: list[SessionView]


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The dashboard's counts and its signup chart, as of `at`."""

    at: datetime
    totals: store.Totals
    chart: SignupChart


class ConsoleService:
    """Reads for the admin console's pages."""

    def __init__(self, *, db: Database, clock: Clock, sessions: SessionService) -> None:
        self._db = db
        self._clock = clock
        self._sessions = sessions

    async def dashboard(self) -> Dashboard:
        """Count users, signups (24 h, 7 d, per day for 30 days), disabled users, sessions."""
        now = self._clock.now()
        today = now.astimezone(UTC).date()
        since = datetime.combine(today - timedelta(days=CHART_DAYS - 1), time(), tzinfo=UTC)
        async with self._db.snapshot() as conn:  # one snapshot for every number
            totals = await store.totals(conn, now)
            per_day = await store.signups_per_day(conn, since)
        return Dashboard(
            at=now, totals=totals, chart=signup_chart(per_day, today=today, days=CHART_DAYS)
        )

    async def search_users(self, query: str, page: int) -> UserPage:
        """Find users by email, username or id prefix: `PAGE_SIZE` a page (offset pages).

        The caller checks `query` (at most MAX_QUERY characters) and `page` (1 to MAX_PAGE).
        """
        term = query.strip()
        async with self._db.connection() as conn:
            found = await store.search_users(
                conn, term, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE
            )
        return UserPage(
            query=term, page=page, users=found[:PAGE_SIZE], has_next=len(found) > PAGE_SIZE
        )

    async def user_detail(self, user_id: uuid.UUID) -> UserDetail:
        """Load a user's roles, sign-in methods, organizations and live sessions (404 if none)."""
        async with self._db.snapshot() as conn:  # one snapshot for the user's rows
            user = await store.find_user(conn, user_id)
            if user is None:
                raise UserNotFound
            methods = await store.sign_in_methods(conn, user_id)
            memberships = await store.memberships(conn, user_id)
        sessions = await self._sessions.sessions_of(user_id)
        return UserDetail(
            at=self._clock.now(),
            user=user,
            methods=methods,
            memberships=memberships,
            sessions=sessions,
        )
