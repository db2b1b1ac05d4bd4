"""The dashboard's signup chart: days → bar geometry for a server-rendered inline SVG.

Pure layout (no I/O), so the template only draws: one `Bar` per day, oldest first, in a
`WIDTH` by `HEIGHT` viewBox that the stylesheet scales to the page's width.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

WIDTH: Final = 600
HEIGHT: Final = 160
GAP: Final = 4  # between bars
MIN_BAR: Final = 2  # a day with signups stays visible next to a large maximum


@dataclass(frozen=True, slots=True)
class Bar:
    """One day's bar: its date, count and rectangle (height 0 for a day without signups)."""

    day: date
    count: int
    x: float
    y: float
    width: float
    height: float

    @property
    def label(self) -> str:
        """E.g. "Thu 3 Dec: 4 signups" (the bar's tooltip and the data table's row)."""
        noun = "signup" if self.count == 1 else "signups"
        return f"{self.day:%a} {self.day.day} {self.day:%b}: {self.count} {noun}"


@dataclass(frozen=True, slots=True)
class SignupChart:
    """Signups per day over the last `len(bars)` days, ending today (UTC)."""

    bars: tuple[Bar, ...]
    total: int
    peak: int
    width: int = WIDTH
    height: int = HEIGHT

    @property
    def first(self) -> date:
        """The oldest day shown."""
        return self.bars[0].day

    @property
    def last(self) -> date:
        """Today."""
        return self.bars[-1].day

    @property
    def summary(self) -> str:
        """The chart in one sentence (its SVG <desc>)."""
        return (
            f"{self.total} signups from {self.first:%-d %b} to {self.last:%-d %b %Y}; "
            f"the busiest day had {self.peak}."
        )


def signup_chart(counts: Mapping[date, int], *, today: date, days: int = 30) -> SignupChart:
    """Lay out `days` bars ending `today`; days missing from `counts` had no signups."""
    if days < 1:
        raise ValueError("a chart needs at least one day")
    series = [today - timedelta(days=days - 1 - i) for i in range(days)]
    peak = max((counts.get(day, 0) for day in series), default=0)
    slot = WIDTH / days
    bars = []
    for i, day in enumerate(series):
        count = counts.get(day, 0)
        height = 0.0 if count == 0 else max(MIN_BAR, HEIGHT * count / peak)
        bars.append(
            Bar(
                day=day,
                count=count,
                x=round(i * slot + GAP / 2, 2),
                y=round(HEIGHT - height, 2),
                width=round(slot - GAP, 2),
                height=round(height, 2),
            )
        )
    return SignupChart(bars=tuple(bars), total=sum(b.count for b in bars), peak=peak)
