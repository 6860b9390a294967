"""Time series of one measurement: points (raw samples, spot measurements, a blood-pressure pair)
or aggregates (minute/hour/day buckets of ``$samples``: mean line inside a min–max band), with an
optional target range (e.g. from a Goal), gaps left open, nice value ticks and calendar time ticks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta, tzinfo

from hygie.web.charts import fmt
from hygie.web.charts.axes import Linear, Plot, nice_ticks, time_scale, time_ticks, x_axis, y_axis
from hygie.web.charts.messages import Measure, check_lang, measure, t, unit_of
from hygie.web.charts.paths import band, gaps, line, runs, typical_step
from hygie.web.charts.series_text import (
    GRAIN_WIDTH,
    Bucket,
    Context,
    Grain,
    Point,
    Row,
    buckets_table,
    nodata_summary,
    points_table,
    series_summary,
)
from hygie.web.charts.svg import (
    BAND_BLUE,
    BLUE,
    GREEN,
    PLUM,
    TARGET_FILL,
    Canvas,
    Chart,
    LegendItem,
    chart_id,
    clean,
    legend,
    marker,
    no_data,
    text_width,
)

WIDTH, HEIGHT = 360.0, 220.0
MARKERS_UP_TO = 60  # beyond, only the points a gap isolates get a marker


def time_series(
    measure_key: str,
    *,
    tz: tzinfo,
    lang: str = "fr",
    points: Sequence[Point] = (),
    buckets: Sequence[Bucket] = (),
    grain: Grain = "hour",
    start: datetime | None = None,
    end: datetime | None = None,
    target: tuple[float | None, float | None] | None = None,
    title: str | None = None,
    gap_factor: float = 3.0,
    step: timedelta | None = None,
    chart_id: str | None = None,
) -> Chart:
    """The chart of ``points`` or ``buckets`` of a catalogue measure (``heart-rate``, ``spo2``,
    ``blood-pressure``, ``body-temperature``…) shown in ``tz``. The line breaks where two
    consecutive items are more than ``gap_factor`` × the step apart (``step``: the grain for
    buckets, else the median interval). ``target`` = (low, high), either may be None."""
    check_lang(lang)
    m = measure(measure_key)
    if points and buckets:
        raise ValueError("give points or buckets, not both")
    title = clean(title) if title and title.strip() else t(f"measure.{m.key}", lang)
    for at in (start, end, *(p.at for p in points), *(b.start for b in buckets)):
        if at is not None:
            fmt.aware(at)
    if target is not None:
        low, high = target
        if (low is None and high is None) or (low is not None and high is not None and low > high):
            raise ValueError("a target is (low, high) with low <= high, either may be None")
        if not all(math.isfinite(v) for v in target if v is not None):
            raise ValueError("a target's bounds must be finite numbers")
    unit = unit_of(m, lang)
    if buckets:
        table = buckets_table(m, unit, lang, tz, title, buckets, grain)
    else:
        table = points_table(m, unit, lang, tz, title, points)
    half = GRAIN_WIDTH[grain] / 2
    rows = sorted(
        [Row(p.at, p.value, p.value2) for p in points]
        or [Row(b.start + half, b.mean, None, b.low, b.high, b.count) for b in buckets],
        key=lambda r: r.at,
    )
    cid = _id(chart_id, m.key, lang, title, table)
    if not rows:
        summary = nodata_summary(title, lang, tz, start, end)
        return no_data(cid, "series", title, summary, t("nodata", lang), table)
    times = [r.at.timestamp() for r in rows]
    every = (
        step.total_seconds()
        if step
        else (GRAIN_WIDTH[grain].total_seconds() if buckets else typical_step(times))
    )
    max_gap = gap_factor * every if every else float("inf")
    # the period asked for, widened to any reading outside it (nothing is drawn off the axes)
    first, last = min(start or rows[0].at, rows[0].at), max(end or rows[-1].at, rows[-1].at)
    if last <= first:
        first, last = first - timedelta(minutes=30), last + timedelta(minutes=30)
    context = Context(m, unit, lang, tz, title, grain)
    summary = series_summary(context, rows, bool(buckets), (first, last), target, gaps(times, max_gap))
    svg = _draw(
        cid, m, unit, lang, tz, title, summary, rows, bool(buckets), grain, first, last, target, max_gap
    )
    return Chart(svg, table, summary)


def _id(given: str | None, *seed: object) -> str:
    return chart_id(given, *(repr(s) for s in seed))


def _draw(
    cid: str,
    m: Measure,
    unit: str,
    lang: str,
    tz: tzinfo,
    title: str,
    summary: str,
    rows: Sequence[Row],
    aggregated: bool,
    grain: Grain,
    first: datetime,
    last: datetime,
    target: tuple[float | None, float | None] | None,
    max_gap: float,
) -> str:
    canvas = Canvas(cid, "series", WIDTH, HEIGHT)
    pair = any(r.value2 is not None for r in rows)
    values = [r.value for r in rows] + [r.value2 for r in rows if r.value2 is not None]
    values += [v for r in rows for v in (r.low, r.high) if v is not None]
    if target is not None:
        values += [v for v in target if v is not None]
    ticks = nice_ticks(min(values), max(values), 5)
    decimals = fmt.decimals_for(ticks[1] - ticks[0]) if len(ticks) > 1 else 0
    left = 10 + max(text_width(fmt.number(v, lang, decimals)) for v in ticks)
    items = _legend_items(m, unit, lang, aggregated, grain, pair, target)
    top = legend(canvas, items, left, 6, WIDTH - 8) + 6 if items else 14
    plot = Plot(left, top, WIDTH - 12, HEIGHT - 26)
    ys = Linear(ticks[0], ticks[-1], plot.bottom, plot.top)
    xs = time_scale(first, last, plot.left, plot.right)
    if target is not None:
        lo, hi = (v if v is not None else d for v, d in zip(target, (ticks[0], ticks[-1]), strict=True))
        canvas.add(
            "rect",
            {
                "class": "hy-chart__target",
                "x": plot.left,
                "y": ys(hi),
                "width": plot.right - plot.left,
                "height": max(ys(lo) - ys(hi), 0),
                "fill": TARGET_FILL,
            },
        )
    y_axis(canvas, plot, ys, ticks, lang)
    x_axis(canvas, plot, [(xs(at), label) for at, label in time_ticks(first, last, tz, lang)])
    runs_ = runs([r.at.timestamp() for r in rows], max_gap)
    if aggregated:
        for run in runs_:
            upper = [(xs(rows[i].at), ys(rows[i].top)) for i in run]
            lower = [(xs(rows[i].at), ys(rows[i].bottom)) for i in run]
            canvas.add(
                "path",
                {
                    "class": "hy-chart__band",
                    "d": band(upper, lower),
                    "fill": BAND_BLUE,
                    "stroke": BLUE,
                    "stroke-width": 0.5,
                },
            )
    if target is not None:
        for bound in target:
            if bound is not None:
                canvas.add(
                    "line",
                    {
                        "class": "hy-chart__target-line",
                        "x1": plot.left,
                        "y1": ys(bound),
                        "x2": plot.right,
                        "y2": ys(bound),
                        "stroke": GREEN,
                        "stroke-width": 1.5,
                        "stroke-dasharray": "6 3",
                    },
                )
    _series(
        canvas, [[(xs(rows[i].at), ys(rows[i].value)) for i in run] for run in runs_], BLUE, "", "circle", ""
    )
    if pair:
        second = [
            [(xs(rows[i].at), ys(v)) for i in run if (v := rows[i].value2) is not None] for run in runs_
        ]
        _series(canvas, second, PLUM, "5 3", "square", "--2")
    return canvas.render(title, summary)


def _series(
    canvas: Canvas,
    segments: Sequence[Sequence[tuple[float, float]]],
    color: str,
    dash: str,
    shape: str,
    suffix: str,
) -> None:
    attrs: dict[str, str | float] = {
        "class": f"hy-chart__line hy-chart__line{suffix}" if suffix else "hy-chart__line",
        "d": line(segments),
        "fill": "none",
        "stroke": color,
        "stroke-width": 2,
        "stroke-linejoin": "round",
    }
    if dash:
        attrs["stroke-dasharray"] = dash
    canvas.add("path", attrs)
    total = sum(len(s) for s in segments)
    cls = f"hy-chart__point hy-chart__point{suffix}" if suffix else "hy-chart__point"
    for seg in segments:
        if total <= MARKERS_UP_TO or len(seg) == 1:
            for x, y in seg:
                marker(canvas, x, y, shape, color, cls)


def _legend_items(
    m: Measure,
    unit: str,
    lang: str,
    aggregated: bool,
    grain: Grain,
    pair: bool,
    target: tuple[float | None, float | None] | None,
) -> list[LegendItem]:
    items = []
    if aggregated:
        items.append(LegendItem(t(f"legend.mean.{grain}", lang), "line", BLUE))
        items.append(LegendItem(t("legend.minmax", lang), "band", BLUE, fill=BAND_BLUE))
    if pair:
        items.append(LegendItem(t("legend.systolic", lang), "marker", BLUE, shape="circle"))
        items.append(LegendItem(t("legend.diastolic", lang), "marker", PLUM, shape="square"))
    if target is not None:
        text = fmt.bounds(target[0], target[1], unit, lang, m.decimals)
        items.append(
            LegendItem(t("legend.target", lang, range=text), "band", GREEN, fill=TARGET_FILL, dash="6 3")
        )
    return items
