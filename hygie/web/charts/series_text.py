"""The inputs of the time-series charts and their words: data tables and plain-language
summaries (shared by :mod:`~hygie.web.charts.series` and :mod:`~hygie.web.charts.sparkline`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Literal

from hygie.web.charts import fmt
from hygie.web.charts.messages import Measure, t
from hygie.web.charts.svg import Table

Grain = Literal["minute", "hour", "day"]
GRAIN_WIDTH = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True, slots=True)
class Point:
    """One reading; ``value2`` is the diastolic of a blood-pressure pair."""

    at: datetime
    value: float
    value2: float | None = None


@dataclass(frozen=True, slots=True)
class Bucket:
    """One aggregate of ``$samples`` (``bucket`` part): ``[start, start + grain)``."""

    start: datetime
    count: int
    mean: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Row:
    """A point or a bucket as drawn: ``at`` is the bucket's middle."""

    at: datetime
    value: float
    value2: float | None = None
    low: float | None = None
    high: float | None = None
    count: int = 1

    @property
    def top(self) -> float:
        return self.value if self.high is None else self.high

    @property
    def bottom(self) -> float:
        return self.value if self.low is None else self.low


def cell(value: float | None, lang: str, m: Measure) -> str:
    return "—" if value is None else fmt.number(value, lang, m.decimals)


def points_table(m: Measure, unit: str, lang: str, tz: tzinfo, title: str, points: Sequence[Point]) -> Table:
    """Date and time, value (or systolic and diastolic), in time order."""
    ordered = sorted(points, key=lambda p: p.at)
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    if any(p.value2 is not None for p in ordered):
        headers = (
            t("col.time", lang),
            t("col.systolic", lang, unit=unit),
            t("col.diastolic", lang, unit=unit),
        )
        rows = tuple(
            (fmt.moment(p.at, lang, tz), cell(p.value, lang, m), cell(p.value2, lang, m)) for p in ordered
        )
    else:
        headers = (t("col.time", lang), t("col.value", lang, unit=unit))
        rows = tuple((fmt.moment(p.at, lang, tz), cell(p.value, lang, m)) for p in ordered)
    return Table(t("caption.points", lang, title=title), headers, rows)


def buckets_table(
    m: Measure, unit: str, lang: str, tz: tzinfo, title: str, buckets: Sequence[Bucket], grain: Grain
) -> Table:
    """Period start, mean, minimum, maximum and number of readings, in time order."""
    headers = (
        t("col.period", lang),
        *(t(f"col.{c}", lang, unit=unit) for c in ("mean", "min", "max")),
        t("col.count", lang),
    )
    rows = tuple(
        (
            fmt.moment(b.start, lang, tz),
            cell(b.mean, lang, m),
            cell(b.low, lang, m),
            cell(b.high, lang, m),
            fmt.number(b.count, lang),
        )
        for b in sorted(buckets, key=lambda b: b.start)
    )
    return Table(t("caption.buckets", lang, title=title, grain=t(f"grain.{grain}", lang)), headers, rows)


def nodata_summary(title: str, lang: str, tz: tzinfo, start: datetime | None, end: datetime | None) -> str:
    if start is not None and end is not None:
        return t(
            "nodata.summary.period",
            lang,
            title=title,
            start=fmt.moment(start, lang, tz),
            end=fmt.moment(end, lang, tz),
        )
    return t("nodata.summary", lang, title=title)


def pair_text(value: float, value2: float | None, unit: str, lang: str, m: Measure) -> str:
    """``72 /min`` or, for a blood-pressure pair, ``120/80 mmHg``."""
    if value2 is None:
        return fmt.quantity(value, unit, lang, m.decimals)
    return fmt.with_unit(f"{cell(value, lang, m)}/{cell(value2, lang, m)}", unit, lang)


@dataclass(frozen=True, slots=True)
class Context:
    """What a series summary is about."""

    m: Measure
    unit: str
    lang: str
    tz: tzinfo
    title: str
    grain: Grain


def _aggregated(c: Context, rows: Sequence[Row], period: str) -> list[str]:
    half = GRAIN_WIDTH[c.grain] / 2
    low, high = min(rows, key=lambda r: r.bottom), max(rows, key=lambda r: r.top)
    means = [r.value for r in rows]

    def q(v: float) -> str:
        return fmt.quantity(v, c.unit, c.lang, c.m.decimals)

    count = fmt.number(sum(r.count for r in rows), c.lang)
    grain = t(f"grain.{c.grain}", c.lang)
    return [
        t("sum.buckets", c.lang, title=c.title, grain=grain, period=period, n=len(rows), count=count),
        t(
            "sum.bucket_extremes",
            c.lang,
            mean_low=q(min(means)),
            mean_high=q(max(means)),
            low=q(low.bottom),
            low_at=fmt.moment(low.at - half, c.lang, c.tz),
            high=q(high.top),
            high_at=fmt.moment(high.at - half, c.lang, c.tz),
        ),
    ]


def _readings(c: Context, rows: Sequence[Row], period: str) -> list[str]:
    low, high = min(rows, key=lambda r: r.value), max(rows, key=lambda r: r.value)

    def shown(r: Row) -> str:
        return pair_text(r.value, r.value2, c.unit, c.lang, c.m)

    def when(r: Row) -> str:
        return fmt.moment(r.at, c.lang, c.tz)

    parts = [
        t("sum.count", c.lang, title=c.title, period=period, n=len(rows)),
        t(
            "sum.extremes",
            c.lang,
            low=shown(low),
            low_at=when(low),
            high=shown(high),
            high_at=when(high),
            last=shown(rows[-1]),
            last_at=when(rows[-1]),
        ),
    ]
    seconds = [r.value2 for r in rows if r.value2 is not None]
    if seconds:
        low2, high2 = (fmt.quantity(v, c.unit, c.lang, c.m.decimals) for v in (min(seconds), max(seconds)))
        parts.append(t("sum.range2", c.lang, label=t("legend.diastolic", c.lang), low=low2, high=high2))
    return parts


def series_summary(
    c: Context,
    rows: Sequence[Row],
    aggregated: bool,
    period: tuple[datetime, datetime],
    target: tuple[float | None, float | None] | None,
    holes: Sequence[float],
) -> str:
    """Count, extremes with their times, latest value, share within the target, gaps."""
    lang = c.lang
    first, last = period
    span = t("sum.period", lang, start=fmt.moment(first, lang, c.tz), end=fmt.moment(last, lang, c.tz))
    parts = _aggregated(c, rows, span) if aggregated else _readings(c, rows, span)
    if target is not None:
        lo, hi = target
        inside = sum(1 for r in rows if (lo is None or r.value >= lo) and (hi is None or r.value <= hi))
        parts.append(
            t(
                "sum.target.means" if aggregated else "sum.target",
                lang,
                range=fmt.bounds(lo, hi, c.unit, lang, c.m.decimals),
                share=fmt.percent(100 * inside / len(rows), lang),
            )
        )
    if holes:
        parts.append(t("sum.gaps", lang, n=len(holes), longest=fmt.duration(max(holes) / 60, lang)))
    return " ".join(parts)
