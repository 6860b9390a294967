"""Scales and axes: "nice" value ticks (1, 2, 2.5 or 5 × 10ⁿ) and calendar time ticks chosen
for the span (quarter hours to years), aligned on the wall clock of the display time zone."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from hygie.web.charts import fmt
from hygie.web.charts.svg import GRID, INK, MUTED, Canvas, text_width

_STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)
# (unit, amount, approximate seconds) from the finest to the coarsest
_TIME_STEPS: tuple[tuple[str, int, float], ...] = (
    ("minute", 15, 900),
    ("minute", 30, 1800),
    ("hour", 1, 3600),
    ("hour", 2, 7200),
    ("hour", 3, 10800),
    ("hour", 6, 21600),
    ("hour", 12, 43200),
    ("day", 1, 86400),
    ("day", 2, 172800),
    ("week", 1, 604800),
    ("week", 2, 1209600),
    ("month", 1, 2629746),
    ("month", 2, 5259492),
    ("month", 3, 7889238),
    ("month", 6, 15778476),
    ("year", 1, 31556952),
    ("year", 2, 63113904),
    ("year", 5, 157784760),
    ("year", 10, 315569520),
)


@dataclass(frozen=True, slots=True)
class Plot:
    """The plotting area inside the chart, in viewBox units."""

    left: float
    top: float
    right: float
    bottom: float


@dataclass(frozen=True, slots=True)
class Linear:
    """Maps ``[lo, hi]`` onto ``[a, b]``."""

    lo: float
    hi: float
    a: float
    b: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo
        return self.a + (value - self.lo) / span * (self.b - self.a) if span else (self.a + self.b) / 2


def nice_step(span: float, count: int) -> float:
    raw = span / max(count, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in _STEPS if m * magnitude >= raw * (1 - 1e-9))


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round ticks covering ``[lo, hi]`` (the first ≤ lo, the last ≥ hi)."""
    if hi < lo:
        lo, hi = hi, lo
    if hi - lo < 1e-9:
        pad = max(abs(lo) * 0.1, 1.0)
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, count)
    first = math.floor(lo / step + 1e-9) * step
    last = math.ceil(hi / step - 1e-9) * step
    n = round((last - first) / step)
    return [round(first + i * step, 10) for i in range(n + 1)]


def time_scale(start: datetime, end: datetime, a: float, b: float) -> Callable[[datetime], float]:
    scale = Linear(start.timestamp(), end.timestamp(), a, b)
    return lambda at: scale(at.timestamp())


def _step_for(span_s: float, max_ticks: int) -> tuple[str, int]:
    for unit, amount, seconds in _TIME_STEPS:
        if span_s / seconds <= max_ticks:
            return unit, amount
    return "year", 10


def _midnight(d: date, tz: tzinfo) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=tz)


def _candidates(start: datetime, end: datetime, tz: tzinfo, unit: str, amount: int) -> list[datetime]:
    if unit in ("minute", "hour"):
        t = start.astimezone(UTC).replace(second=0, microsecond=0)
        t -= timedelta(minutes=t.minute % 15)
        out = []
        while t <= end:
            local = t.astimezone(tz)
            if (unit == "minute" and local.minute % amount == 0) or (
                unit == "hour" and local.minute == 0 and local.hour % amount == 0
            ):
                out.append(t)
            t += timedelta(minutes=15)
        return out
    first, last = start.astimezone(tz).date(), end.astimezone(tz).date()
    if unit in ("day", "week"):
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        if unit == "day":
            days = [d for d in days if d.toordinal() % amount == 0]
        else:
            days = [d for d in days if d.weekday() == 0 and (d.toordinal() // 7) % amount == 0]
        return [_midnight(d, tz) for d in days]
    months = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        if (unit == "month" and (m - 1) % amount == 0) or (unit == "year" and m == 1 and y % amount == 0):
            months.append(_midnight(date(y, m, 1), tz))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return months


def time_ticks(
    start: datetime, end: datetime, tz: tzinfo, lang: str, max_ticks: int = 5
) -> list[tuple[datetime, str]]:
    """Ticks inside ``[start, end]`` with their labels: clock times (a local midnight shows the
    date), days, months (with the year on the first tick and on January) or years."""
    unit, amount = _step_for((end - start).total_seconds(), max_ticks)
    ticks = [at for at in _candidates(start, end, tz, unit, amount) if start <= at <= end]
    out = []
    for i, at in enumerate(ticks):
        local = at.astimezone(tz)
        if unit in ("minute", "hour"):
            midnight = local.hour == 0 and local.minute == 0
            label = fmt.day(at, lang, tz) if midnight else fmt.clock(at, tz)
        elif unit in ("day", "week"):
            label = fmt.day(at, lang, tz)
        elif unit == "month":
            label = fmt.month(at, lang, tz, year=i == 0 or local.month == 1)
        else:
            label = str(local.year)
        out.append((at, label))
    return out


def y_axis(canvas: Canvas, plot: Plot, scale: Linear, ticks: Sequence[float], lang: str) -> None:
    """Horizontal grid lines and value labels on the left."""
    decimals = fmt.decimals_for(ticks[1] - ticks[0]) if len(ticks) > 1 else 0
    for value in ticks:
        y = scale(value)
        canvas.add(
            "line",
            {
                "class": "hy-chart__grid",
                "x1": plot.left,
                "y1": y,
                "x2": plot.right,
                "y2": y,
                "stroke": GRID,
                "stroke-width": 1,
            },
        )
        canvas.text(
            plot.left - 5, y + 4, fmt.number(value, lang, decimals), "hy-chart__tick", anchor="end", fill=INK
        )
    canvas.add(
        "line",
        {
            "class": "hy-chart__axis",
            "x1": plot.left,
            "y1": plot.top,
            "x2": plot.left,
            "y2": plot.bottom,
            "stroke": MUTED,
            "stroke-width": 1,
        },
    )


def x_axis(canvas: Canvas, plot: Plot, ticks: Sequence[tuple[float, str]]) -> None:
    """The time (or time-of-day) axis along the bottom, with tick marks and labels."""
    canvas.add(
        "line",
        {
            "class": "hy-chart__axis",
            "x1": plot.left,
            "y1": plot.bottom,
            "x2": plot.right,
            "y2": plot.bottom,
            "stroke": MUTED,
            "stroke-width": 1,
        },
    )
    for x, label in ticks:
        canvas.add(
            "line",
            {
                "class": "hy-chart__axis",
                "x1": x,
                "y1": plot.bottom,
                "x2": x,
                "y2": plot.bottom + 4,
                "stroke": MUTED,
                "stroke-width": 1,
            },
        )
        half = text_width(label) / 2 + 2
        at = min(max(x, half), canvas.width - half)  # a label at an edge stays inside the picture
        canvas.text(at, plot.bottom + 17, label, "hy-chart__tick", anchor="middle")
