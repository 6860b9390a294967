"""Continuous glucose monitoring metrics of the International Consensus on Time in Range.

Battelino et al., Diabetes Care 2019;42:1593 (the ranges, targets and data sufficiency live in
``data/cgm.json`` with their sources): time below range level 2 and 1, in range, above range
level 1 and 2; mean glucose, standard deviation and coefficient of variation; the Glucose
Management Indicator (Bergenstal 2018); data capture and sufficiency (14 days, 70 % of the
expected readings); and the data of an Ambulatory Glucose Profile: the 5th, 25th, 50th, 75th
and 95th percentiles of the readings by time of day.

Each reading is classified in the unit it was given in, with that unit's consensus thresholds
(3.9–10.0 mmol/L, not 70/18.016–180/18.016): exactly what the consensus tables print. Pure
functions over ``(aware datetime, value)`` pairs.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any, Literal

Unit = Literal["mg/dL", "mmol/L"]
UNITS: tuple[Unit, ...] = ("mg/dL", "mmol/L")
RANGES = ("tbr2", "tbr1", "tir", "tar1", "tar2")
"""Below range level 2 and 1, in range, above range level 1 and 2 — the consensus's order."""


@cache
def consensus() -> dict[str, Any]:
    """Thresholds, targets and sufficiency rules, with their sources."""
    data: dict[str, Any] = json.loads(
        resources.files("hygie.monitoring").joinpath("data/cgm.json").read_text("utf-8")
    )
    return data


def classify(value: float, unit: Unit) -> str:
    """The range of one reading: ``tbr2`` (< 54 mg/dL, < 3.0 mmol/L), ``tbr1`` (< 70, < 3.9),
    ``tir`` (≤ 180, ≤ 10.0), ``tar1`` (≤ 250, ≤ 13.9) or ``tar2`` (above)."""
    r = consensus()["ranges"][unit]
    if value < r["tbr2_below"]:
        return "tbr2"
    if value < r["tbr1_below"]:
        return "tbr1"
    if value <= r["tir_upto"]:
        return "tir"
    if value <= r["tar1_upto"]:
        return "tar1"
    return "tar2"


@dataclass(frozen=True, slots=True)
class AgpBin:
    """Readings whose local time of day falls in ``[start_minute, start_minute + width)``."""

    start_minute: int
    count: int
    percentiles: dict[int, float]  # 5, 25, 50, 75, 95 → value (empty when count < 2)


@dataclass(frozen=True, slots=True)
class CgmMetrics:
    unit: Unit
    count: int
    start: datetime
    end: datetime
    days: float
    interval_minutes: float
    capture_percent: float
    sufficient: bool
    mean: float
    sd: float
    cv_percent: float
    gmi_percent: float
    gmi_mmol_mol: float
    percent: dict[str, float]  # RANGES → share of readings (%)
    targets: dict[str, bool] = field(default_factory=dict)  # standard adult targets met
    agp: list[AgpBin] = field(default_factory=list)


def sampling_interval(times: Sequence[datetime]) -> float:
    """The sensor's interval in minutes: the median gap between consecutive readings (5 when
    fewer than two readings)."""
    gaps = [(b - a).total_seconds() / 60 for a, b in pairwise(times) if b > a]
    return round(statistics.median(gaps), 2) if gaps else 5.0


def metrics(
    readings: Sequence[tuple[datetime, float]],
    unit: Unit,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    interval_minutes: float | None = None,
    tz: tzinfo | None = None,
    agp_bin_minutes: int = 60,
) -> CgmMetrics:
    """The consensus metrics of ``readings`` over ``[start, end)`` (default: first reading to
    last reading plus one interval). Readings outside the period are ignored; duplicates (same
    time) count once. ``tz`` sets the time of day of the AGP (default: each reading's own)."""
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}")
    if not readings:
        raise ValueError("no readings")
    by_time = {t: float(v) for t, v in readings}
    times = sorted(by_time)
    interval = interval_minutes or sampling_interval(times)
    start = start or times[0]
    end = end or times[-1] + timedelta(minutes=interval)
    if end <= start:
        raise ValueError("the period must end after it starts")
    kept = [t for t in times if start <= t < end]
    if not kept:
        raise ValueError("no readings in the period")
    values = [by_time[t] for t in kept]
    c = consensus()
    period_min = (end - start).total_seconds() / 60
    capture = min(100.0, 100 * len(values) / max(period_min / interval, 1))
    days = period_min / 1440
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    mean_mg = mean * c["mg_per_mmol"] if unit == "mmol/L" else mean
    mean_mmol = mean if unit == "mmol/L" else mean / c["mg_per_mmol"]
    counts = dict.fromkeys(RANGES, 0)
    for v in values:
        counts[classify(v, unit)] += 1
    percent = {k: 100 * n / len(values) for k, n in counts.items()}
    suff = c["sufficiency"]
    return CgmMetrics(
        unit=unit,
        count=len(values),
        start=start,
        end=end,
        days=days,
        interval_minutes=interval,
        capture_percent=capture,
        sufficient=days >= suff["days_min"] and capture >= suff["capture_min_percent"],
        mean=mean,
        sd=sd,
        cv_percent=100 * sd / mean if mean else 0.0,
        gmi_percent=3.31 + 0.02392 * mean_mg,
        gmi_mmol_mol=12.71 + 4.70587 * mean_mmol,
        percent=percent,
        targets=targets_met(percent, 100 * sd / mean if mean else 0.0),
        agp=agp([(t, by_time[t]) for t in kept], tz, agp_bin_minutes),
    )


def targets_met(percent: dict[str, float], cv_percent: float, group: str = "standard") -> dict[str, bool]:
    """Which consensus targets the shares meet (Battelino 2019, Figure 3; CV: Danne 2017)."""
    t = consensus()["targets"][group]
    met = {
        "tir": percent["tir"] > t["tir_min"],
        "tbr": percent["tbr1"] + percent["tbr2"] < t["tbr1_plus_max"],
    }
    if "tbr2_max" in t:
        met["tbr2"] = percent["tbr2"] < t["tbr2_max"]
    if "tar1_plus_max" in t:
        met["tar"] = percent["tar1"] + percent["tar2"] < t["tar1_plus_max"]
    met["tar2"] = percent["tar2"] < t["tar2_max"]
    met["cv"] = cv_percent <= consensus()["cv_max_percent"]
    return met


def agp(readings: Sequence[tuple[datetime, float]], tz: tzinfo | None, bin_minutes: int = 60) -> list[AgpBin]:
    """Ambulatory Glucose Profile data: per time-of-day bin, the consensus percentiles
    (linear interpolation between closest ranks, as ``statistics.quantiles(method="inclusive")``)."""
    if not 1 <= bin_minutes <= 1440 or 1440 % bin_minutes:
        raise ValueError("the AGP bin must divide the day (e.g. 5, 15, 30 or 60 minutes)")
    bins: dict[int, list[float]] = {m: [] for m in range(0, 1440, bin_minutes)}
    for t, v in readings:
        local = t.astimezone(tz) if tz is not None else t
        minute = local.hour * 60 + local.minute
        bins[minute - minute % bin_minutes].append(v)
    wanted = consensus()["agp_percentiles"]
    out = []
    for start, values in bins.items():
        pct: dict[int, float] = {}
        if len(values) >= 2:
            cuts = statistics.quantiles(values, n=100, method="inclusive")
            pct = {p: cuts[p - 1] for p in wanted}
        out.append(AgpBin(start, len(values), pct))
    return out
