"""Nice value ticks and calendar time ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hygie.web.charts.axes import nice_ticks, time_ticks

PARIS = ZoneInfo("Europe/Paris")


def test_nice_ticks_cover_the_data_with_round_steps() -> None:
    assert nice_ticks(52, 131, 5) == [40, 60, 80, 100, 120, 140]
    assert nice_ticks(36.2, 37.9, 5) == [36.0, 36.5, 37.0, 37.5, 38.0]
    assert nice_ticks(0, 1, 4) == [0, 0.25, 0.5, 0.75, 1.0]
    flat = nice_ticks(70, 70, 5)
    assert flat[0] < 70 < flat[-1]
    assert nice_ticks(10, 2, 4)[0] <= 2


def test_time_ticks_adapt_to_the_span() -> None:
    start = datetime(2026, 11, 20, 8, 10, tzinfo=UTC)  # 09:10 in Paris
    hours = time_ticks(start, start + timedelta(hours=3), PARIS, "fr")
    assert [label for _, label in hours] == ["10:00", "11:00", "12:00"]
    night = time_ticks(start, start + timedelta(hours=24), PARIS, "fr")
    assert [label for _, label in night] == ["12:00", "18:00", "21 nov.", "06:00"]
    weeks = time_ticks(start, start + timedelta(days=30), PARIS, "en")
    assert [label for _, label in weeks] == ["23 Nov", "30 Nov", "7 Dec", "14 Dec"]
    months = time_ticks(start, start + timedelta(days=300), PARIS, "en")
    assert [label for _, label in months] == ["Jan 2027", "Mar", "May", "Jul", "Sep"]
    years = time_ticks(start, start + timedelta(days=1500), PARIS, "fr")
    assert [label for _, label in years] == ["2027", "2028", "2029", "2030"]


def test_time_ticks_stay_on_the_wall_clock_across_daylight_saving() -> None:
    start = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # 25 Oct 00:00 in Paris, the 25-hour day
    ticks = time_ticks(start, start + timedelta(hours=25), PARIS, "en")
    assert [label for _, label in ticks] == ["25 Oct", "06:00", "12:00", "18:00", "26 Oct"]
