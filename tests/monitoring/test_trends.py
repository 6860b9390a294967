"""Nightly resting heart rate and temperature deviation against a personal baseline."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hygie.monitoring.trends import (
    NightValue,
    nights,
    parameters,
    resting_heart_rate,
    resting_hr_trend,
    sustained,
    temperature_trend,
    with_baseline,
)

PARIS = ZoneInfo("Europe/Paris")


def night_samples(
    day: date, values: list[float], every: int = 5, hour: int = 0
) -> list[tuple[datetime, float]]:
    """Samples from ``hour``:00 Paris time on the morning after ``day``."""
    start = datetime(day.year, day.month, day.day, hour, tzinfo=PARIS) + timedelta(days=1)
    return [(start + timedelta(minutes=every * i), v) for i, v in enumerate(values)]


def test_night_window_and_naming() -> None:
    d = date(2026, 11, 1)
    inside = night_samples(d, [60.0] * 3)  # 00:00-00:10 on the 2nd: the night of the 1st
    before = [(datetime(2026, 11, 1, 23, 30, tzinfo=PARIS), 80.0)]  # evening: not a night sample
    after = [(datetime(2026, 11, 2, 6, 0, tzinfo=PARIS), 90.0)]  # 06:00 is out
    grouped = nights([*inside, *before, *after], PARIS)
    assert list(grouped) == [d]
    assert [v for _, v in grouped[d]] == [60.0, 60.0, 60.0]
    # UTC samples are placed by local time: 23:30 UTC on the 1st is 00:30 in Paris (UTC+1)
    utc = nights([(datetime(2026, 11, 1, 23, 30, tzinfo=UTC), 55.0)], PARIS)
    assert list(utc) == [d]


def test_resting_heart_rate_is_the_lowest_half_hour() -> None:
    # 6 h of 5-min samples at 70, with one 30-min stretch at 52 and a lone 40 (artefact)
    values = [70.0] * 72
    values[30:36] = [52.0] * 6
    values[50] = 40.0
    rhr = resting_heart_rate(night_samples(date(2026, 11, 1), values))
    assert rhr == pytest.approx(52.0)
    # the night's last windows hold fewer samples: those under half the fullest (6) are left
    # out, so a low last sample weighs as one of three (not alone: 30, nor one of two: 50)
    edge = [70.0] * 71 + [30.0]
    assert resting_heart_rate(night_samples(date(2026, 11, 1), edge)) == pytest.approx((70 + 70 + 30) / 3)
    assert resting_heart_rate(night_samples(date(2026, 11, 1), [60.0] * 5)) is None  # < 6 samples


def test_baseline_is_the_median_of_up_to_14_previous_nights() -> None:
    d0 = date(2026, 10, 1)
    values = {d0 + timedelta(days=i): 55.0 + (i % 3) for i in range(20)}
    series = with_baseline(values)
    assert all(n.baseline is None for n in series[:7])  # fewer than 7 previous nights
    assert series[7].baseline == pytest.approx(56.0)
    last = series[-1]
    previous = sorted(55.0 + (i % 3) for i in range(5, 19))
    assert last.baseline == pytest.approx((previous[6] + previous[7]) / 2)
    assert last.baseline is not None
    assert last.deviation == pytest.approx(last.value - last.baseline)


def nv(day: int, deviation: float | None) -> NightValue:
    return NightValue(date(2026, 11, day), 0.0, 0.0 if deviation is not None else None, deviation)


@pytest.mark.parametrize(
    ("deviations", "threshold", "n", "expected"),
    [
        ([10, 10, 10], 10, 3, True),
        ([10, 10, 9.9], 10, 3, False),
        ([0, 12, 11, 10], 10, 3, True),
        ([12, 11], 10, 3, False),
        ([12, 11, None], 10, 3, False),
        ([-0.5, -0.6, -0.5], -0.5, 3, True),
        ([-0.5, -0.4, -0.5], -0.5, 3, False),
    ],
)
def test_sustained(deviations: list[float | None], threshold: float, n: int, expected: bool) -> None:
    series = [nv(1 + i, d) for i, d in enumerate(deviations)]
    assert sustained(series, threshold, n) is expected


def test_sustained_needs_consecutive_nights() -> None:
    assert sustained([nv(1, 12), nv(2, 12), nv(4, 12)], 10, 3) is False


def test_a_rise_of_resting_heart_rate_over_three_nights() -> None:
    samples = []
    start = date(2026, 10, 1)
    for i in range(17):
        level = 54.0 if i < 14 else 66.0  # +12 /min on the last 3 nights
        samples += night_samples(start + timedelta(days=i), [level + 8] * 40 + [level] * 8 + [level + 8] * 24)
    trend = resting_hr_trend(samples, PARIS)
    assert len(trend) == 17
    assert trend[-1].baseline == pytest.approx(54.0)
    assert trend[-1].deviation == pytest.approx(12.0)
    assert sustained(trend, 10, 3) is True
    assert sustained(trend, 10, 4) is False


def test_nightly_temperature_deviation() -> None:
    samples = []
    start = date(2026, 10, 1)
    for i in range(10):
        level = 35.0 if i < 9 else 36.2
        samples += night_samples(start + timedelta(days=i), [level] * 12)
    trend = temperature_trend(samples, PARIS)
    assert trend[-1].deviation == pytest.approx(1.2)
    assert trend[-2].deviation == pytest.approx(0.0)


def test_sources() -> None:
    sources = parameters()["sources"]
    assert "Mishra" in sources["resting_hr"] and "Smarr" in sources["temperature"]
