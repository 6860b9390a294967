"""CGM consensus metrics (Battelino 2019) against hand-computed cases and every range boundary,
in both units."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hygie.monitoring.cgm import classify, consensus, metrics, sampling_interval

T0 = datetime(2026, 11, 1, tzinfo=UTC)

# (value, unit, range) — the consensus thresholds, each boundary on both sides.
BOUNDARIES = [
    (40, "mg/dL", "tbr2"), (53, "mg/dL", "tbr2"), (53.9, "mg/dL", "tbr2"), (54, "mg/dL", "tbr1"),
    (69, "mg/dL", "tbr1"), (69.9, "mg/dL", "tbr1"), (70, "mg/dL", "tir"), (180, "mg/dL", "tir"),
    (180.1, "mg/dL", "tar1"), (181, "mg/dL", "tar1"), (250, "mg/dL", "tar1"), (251, "mg/dL", "tar2"),
    (400, "mg/dL", "tar2"),
    (2.2, "mmol/L", "tbr2"), (2.9, "mmol/L", "tbr2"), (3.0, "mmol/L", "tbr1"), (3.8, "mmol/L", "tbr1"),
    (3.9, "mmol/L", "tir"), (10.0, "mmol/L", "tir"), (10.1, "mmol/L", "tar1"), (13.9, "mmol/L", "tar1"),
    (14.0, "mmol/L", "tar2"), (22.2, "mmol/L", "tar2"),
]  # fmt: skip


@pytest.mark.parametrize(("value", "unit", "expected"), BOUNDARIES)
def test_range_boundaries(value: float, unit: str, expected: str) -> None:
    assert classify(value, unit) == expected  # type: ignore[arg-type]


def series(values: list[float], every: int = 5, start: datetime = T0) -> list[tuple[datetime, float]]:
    return [(start + timedelta(minutes=every * i), v) for i, v in enumerate(values)]


def test_shares_mean_cv_and_gmi_of_a_small_series() -> None:
    values: list[float] = [
        50,
        60,
        100,
        120,
        140,
        160,
        200,
        260,
        100,
        110,
    ]  # 1 tbr2, 1 tbr1, 6 tir, 1 tar1, 1 tar2
    m = metrics(series(values), "mg/dL")
    assert m.count == 10
    assert m.percent == {"tbr2": 10.0, "tbr1": 10.0, "tir": 60.0, "tar1": 10.0, "tar2": 10.0}
    assert m.mean == pytest.approx(130.0)
    assert m.sd == pytest.approx(statistics.stdev(values))
    assert m.cv_percent == pytest.approx(100 * statistics.stdev(values) / 130)
    assert m.gmi_percent == pytest.approx(3.31 + 0.02392 * 130)  # 6.42 %
    assert m.gmi_mmol_mol == pytest.approx(12.71 + 4.70587 * 130 / 18.016)
    assert m.interval_minutes == 5
    assert m.capture_percent == pytest.approx(100.0)
    assert m.sufficient is False  # under an hour of data
    assert m.targets == {
        "tir": False,
        "tbr": False,
        "tbr2": False,
        "tar": True,
        "tar2": False,
        "cv": False,
    }  # CV 48.9 %


def test_mmol_readings_use_the_mmol_thresholds() -> None:
    m = metrics(series([3.9, 10.0, 10.0, 7.0]), "mmol/L")
    assert m.percent["tir"] == 100.0  # 10.0 mmol/L is in range, not 180.2 mg/dL above it
    assert m.gmi_percent == pytest.approx(3.31 + 0.02392 * statistics.fmean([3.9, 10, 10, 7]) * 18.016)


def test_capture_and_sufficiency_over_fourteen_days() -> None:
    days14 = 14 * 288
    full = series([120.0] * days14)
    m = metrics(full, "mg/dL")
    assert m.days == pytest.approx(14.0)
    assert m.capture_percent == pytest.approx(100.0)
    assert m.sufficient is True
    assert m.targets["tir"] and m.targets["tbr"] and m.targets["tar"]
    # 70 % captured is enough, 69 % is not (consensus: 70 % of 14 days)
    end = T0 + timedelta(days=14)
    kept70 = [r for i, r in enumerate(full) if i % 10 < 7]
    assert metrics(kept70, "mg/dL", start=T0, end=end, interval_minutes=5).sufficient is True
    kept69 = kept70[: int(days14 * 0.69)]
    assert metrics(kept69, "mg/dL", start=T0, end=end, interval_minutes=5).sufficient is False
    # 13 days fully captured is not enough
    assert metrics(series([120.0] * 13 * 288), "mg/dL").sufficient is False


def test_sampling_interval_and_duplicates() -> None:
    assert sampling_interval([T0 + timedelta(minutes=15 * i) for i in range(10)]) == 15
    readings = [*series([100, 110, 120]), (T0, 100.0)]  # a resent reading counts once
    assert metrics(readings, "mg/dL").count == 3


def test_agp_percentiles_by_local_time_of_day() -> None:
    # 10 days; at 02:00-02:59 Paris time values 100..109 by day, otherwise 150
    readings = []
    paris = ZoneInfo("Europe/Paris")
    for day in range(10):
        base = datetime(2026, 11, 1 + day, tzinfo=paris)
        for minute in range(0, 1440, 60):
            value = 100.0 + day if minute == 120 else 150.0
            readings.append((base + timedelta(minutes=minute), value))
    m = metrics(readings, "mg/dL", tz=paris)
    assert len(m.agp) == 24
    two = next(b for b in m.agp if b.start_minute == 120)
    assert two.count == 10
    assert two.percentiles[50] == pytest.approx(104.5)
    assert two.percentiles[5] == pytest.approx(100.45)
    assert two.percentiles[95] == pytest.approx(108.55)
    assert all(b.percentiles[50] == 150.0 for b in m.agp if b.start_minute != 120)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="no readings"):
        metrics([], "mg/dL")
    with pytest.raises(ValueError, match="unit"):
        metrics(series([100]), "mmol")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="period"):
        metrics(series([100, 110]), "mg/dL", start=T0, end=T0)
    with pytest.raises(ValueError, match="AGP"):
        metrics(series([100, 110]), "mg/dL", agp_bin_minutes=7)


def test_sources_are_cited() -> None:
    c = consensus()
    assert "Battelino" in c["source"] and "2019" in c["source"]
    assert "Bergenstal" in c["gmi_source"] and "Danne" in c["cv_source"]
