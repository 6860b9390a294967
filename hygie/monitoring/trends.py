"""Nightly trends against a personal baseline: resting heart rate and temperature deviation.

Wearables see early signs of infection as a resting heart rate above the person's own usual
value during sleep (Mishra 2020, Radin 2020) and a nightly skin temperature above their own
baseline (Smarr 2020) — sources and parameters in ``data/trends.json``:

- a **night** is 00:00–06:00 local time, named by the evening it starts on;
- the **resting heart rate** of a night is the mean of the lowest rolling 30-minute window of its
  heart-rate samples (at least 6 samples); its **temperature** is the mean of its samples;
- a night's **baseline** is the median of the 14 previous nights that have a value (at least 7,
  else none): a deviation compares the person with themselves, never with a population norm;
- :func:`sustained` says whether the last N nights all deviate by at least a threshold (e.g.
  resting heart rate +10 /min over 3 nights) — the alert rules of a later module use it.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import cache
from importlib import resources
from itertools import pairwise
from typing import Any


@cache
def parameters() -> dict[str, Any]:
    """Night window, methods and baseline rule, with their sources."""
    data: dict[str, Any] = json.loads(
        resources.files("hygie.monitoring").joinpath("data/trends.json").read_text("utf-8")
    )
    return data


def nights(samples: Sequence[tuple[datetime, float]], tz: tzinfo) -> dict[date, list[tuple[datetime, float]]]:
    """Samples taken in a night window, grouped by night (time-ordered)."""
    n = parameters()["night"]
    grouped: dict[date, list[tuple[datetime, float]]] = {}
    for at, value in sorted(samples):
        local = at.astimezone(tz)
        if n["from_hour"] <= local.hour < n["to_hour"]:
            grouped.setdefault(local.date() - timedelta(days=1), []).append((at, float(value)))
    return grouped


def resting_heart_rate(night: Sequence[tuple[datetime, float]]) -> float | None:
    """The mean of the lowest 30-minute window ``[t, t + 30 min)`` starting at a sample; windows
    holding fewer than half the samples of the fullest one (the night's edges, gaps) are left
    out. None when the night has too few samples."""
    p = parameters()["resting_hr"]
    if len(night) < p["min_samples"]:
        return None
    span = timedelta(minutes=p["window_minutes"])
    windows = []
    end = 0
    for start in range(len(night)):
        end = max(end, start)
        while end < len(night) and night[end][0] - night[start][0] < span:
            end += 1
        windows.append([v for _, v in night[start:end]])
    fullest = max(len(w) for w in windows)
    return min(statistics.fmean(w) for w in windows if len(w) * 2 >= fullest)


def night_temperature(night: Sequence[tuple[datetime, float]]) -> float | None:
    """The mean temperature of a night (None: too few samples)."""
    if len(night) < parameters()["temperature"]["min_samples"]:
        return None
    return statistics.fmean(v for _, v in night)


@dataclass(frozen=True, slots=True)
class NightValue:
    night: date
    value: float
    baseline: float | None
    deviation: float | None  # value − baseline


def with_baseline(values: dict[date, float]) -> list[NightValue]:
    """Each night's value with the median of up to 14 previous nights (needs 7)."""
    b = parameters()["baseline"]
    ordered = sorted(values.items())
    out = []
    for i, (night, value) in enumerate(ordered):
        previous = [v for _, v in ordered[max(0, i - b["nights"]) : i]]
        baseline = statistics.median(previous) if len(previous) >= b["min_nights"] else None
        deviation = value - baseline if baseline is not None else None
        out.append(NightValue(night, value, baseline, deviation))
    return out


def sustained(series: Sequence[NightValue], threshold: float, nights_in_a_row: int) -> bool:
    """The last ``nights_in_a_row`` consecutive nights all deviate by ``threshold`` or more
    (a negative threshold: by that much or more below baseline)."""
    if nights_in_a_row < 1 or len(series) < nights_in_a_row:
        return False
    last = series[-nights_in_a_row:]
    consecutive = all((b.night - a.night).days == 1 for a, b in pairwise(last))
    if not consecutive:
        return False
    if threshold >= 0:
        return all(n.deviation is not None and n.deviation >= threshold for n in last)
    return all(n.deviation is not None and n.deviation <= threshold for n in last)


def resting_hr_trend(samples: Sequence[tuple[datetime, float]], tz: tzinfo) -> list[NightValue]:
    """Resting heart rate per night with its personal baseline."""
    values = {d: v for d, s in nights(samples, tz).items() if (v := resting_heart_rate(s)) is not None}
    return with_baseline(values)


def temperature_trend(samples: Sequence[tuple[datetime, float]], tz: tzinfo) -> list[NightValue]:
    """Nightly temperature with its personal baseline (the deviation is the signal)."""
    values = {d: v for d, s in nights(samples, tz).items() if (v := night_temperature(s)) is not None}
    return with_baseline(values)
