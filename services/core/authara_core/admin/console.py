"""ConsoleService: what the admin console's pages show (the dashboard so far).

Pages add their reads here (each in its own transaction or connection), with the SQL in
admin/store.py; changes go through AdminService (admin/service.py), audited by the
operator's `Actor` (admin/guard.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Final

from authara_core.admin import store
from authara_core.admin.chart import SignupChart, signup_chart
from authara_core.platform.clock import Clock
from authara_core.platform.db import Database

CHART_DAYS: Final = 30


@dataclass(frozen=True, slots=True)
class Dashboard:
    """The dashboard's counts and its signup chart, as of `at`."""

    at: datetime
    totals: store.Totals
    chart: SignupChart


class ConsoleService:
    """Reads for the admin console's pages."""

    def __init__(self, *, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def dashboard(self) -> Dashboard:
        """Count users, signups (24 h, 7 d, per day for 30 days), disabled users, sessions."""
        now = self._clock.now()
        today = now.astimezone(UTC).date()
        since = datetime.combine(today - timedelta(days=CHART_DAYS - 1), time(), tzinfo=UTC)
        async with self._db.transaction() as conn:  # one snapshot for every number
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            totals = await store.totals(conn, now)
            per_day = await store.signups_per_day(conn, since)
        return Dashboard(
            at=now, totals=totals, chart=signup_chart(per_day, today=today, days=CHART_DAYS)
        )
