"""The dashboard's signup chart layout and the console's audience rule."""

from __future__ import annotations

from datetime import date

import pytest

from authara_contract.claims import Audience
from authara_core.admin.chart import HEIGHT, MIN_BAR, WIDTH, signup_chart
from authara_core.sessions.audience import audience_for

TODAY = date(2026, 12, 4)


def test_thirty_days_end_today_and_the_busiest_day_fills_the_height() -> None:
    chart = signup_chart({TODAY: 10, date(2026, 11, 20): 5, date(2026, 10, 1): 99}, today=TODAY)
    assert len(chart.bars) == 30
    assert (chart.first, chart.last) == (date(2026, 11, 5), TODAY)
    assert (chart.total, chart.peak) == (15, 10)  # 1 Oct is outside the 30 days
    last = chart.bars[-1]
    assert (last.height, last.y) == (HEIGHT, 0)
    assert chart.bars[15].height == HEIGHT / 2
    assert all(bar.x + bar.width <= WIDTH for bar in chart.bars)
    assert chart.summary == "15 signups from 5 Nov to 4 Dec 2026; the busiest day had 10."
    assert last.label == "Fri 4 Dec: 10 signups"


def test_a_small_day_stays_visible_and_an_empty_chart_draws_nothing() -> None:
    chart = signup_chart({TODAY: 1000, date(2026, 12, 3): 1}, today=TODAY)
    assert chart.bars[-2].height == MIN_BAR
    assert chart.bars[-2].label == "Thu 3 Dec: 1 signup"
    empty = signup_chart({}, today=TODAY, days=7)
    assert (empty.total, empty.peak) == (0, 0)
    assert {bar.height for bar in empty.bars} == {0}
    with pytest.raises(ValueError, match="at least one day"):
        signup_chart({}, today=TODAY, days=0)


@pytest.mark.parametrize(
    ("return_to", "audience"),
    [
        ("/auth/admin", Audience.ADMIN),
        ("/auth/admin/", Audience.ADMIN),
        ("/auth/admin/users?q=a", Audience.ADMIN),
        ("/auth/admin?x=1", Audience.ADMIN),
        ("/admin/anything", Audience.ADMIN),  # upstream's rule, kept
        ("/auth/administrators", Audience.APP),
        ("/auth/account", Audience.APP),
        ("/", Audience.APP),
    ],
)
def test_sign_ins_headed_for_the_console_ask_for_the_admin_audience(
    return_to: str, audience: Audience
) -> None:
    assert audience_for(return_to) is audience
