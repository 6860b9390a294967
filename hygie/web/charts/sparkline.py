"""A sparkline for worklists: the latest values of one vital sign as a small line (120 × 32),
with no text inside (too small to read) — its title and description are the text alternative,
and its table holds the values."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

from hygie.web.charts import fmt
from hygie.web.charts.axes import Linear
from hygie.web.charts.messages import check_lang, measure, t, unit_of
from hygie.web.charts.paths import line
from hygie.web.charts.series_text import Point, pair_text, points_table
from hygie.web.charts.svg import BLUE, MUTED, PLUM, Canvas, Chart, chart_id, clean

WIDTH, HEIGHT, PAD = 120.0, 32.0, 4.0


def sparkline(
    measure_key: str,
    points: Sequence[Point],
    *,
    tz: tzinfo,
    lang: str = "fr",
    title: str | None = None,
    chart_id: str | None = None,
) -> Chart:
    """The line of ``points`` over time (give the last few, e.g. 12), the latest one marked."""
    check_lang(lang)
    m = measure(measure_key)
    unit = unit_of(m, lang)
    title = clean(title) if title and title.strip() else t(f"measure.{m.key}", lang)
    for p in points:
        fmt.aware(p.at)
    ordered = sorted(points, key=lambda p: p.at)
    pair = any(p.value2 is not None for p in ordered)
    table = points_table(m, unit, lang, tz, title, ordered)
    canvas = Canvas(
        _id(chart_id, m.key, lang, title, repr(table.rows)), "sparkline", WIDTH, HEIGHT, fixed=True
    )
    if not ordered:
        summary = t("nodata.summary", lang, title=title)
        _stroke(
            canvas, f"M{PAD},{HEIGHT / 2}L{WIDTH - PAD},{HEIGHT / 2}", "hy-chart__nodata", MUTED, "3 3", 1
        )
        return Chart(canvas.render(title, summary), table, summary)

    def q(v: float) -> str:
        return fmt.quantity(v, unit, lang, m.decimals)

    values = [p.value for p in ordered]
    first, last = ordered[0], ordered[-1]
    summary = t(
        "sum.spark",
        lang,
        title=title,
        n=len(ordered),
        low=q(min(values)),
        high=q(max(values)),
        first=pair_text(first.value, first.value2, unit, lang, m),
        first_at=fmt.moment(first.at, lang, tz),
        last=pair_text(last.value, last.value2, unit, lang, m),
        last_at=fmt.moment(last.at, lang, tz),
    )
    every = values + [p.value2 for p in ordered if p.value2 is not None]
    ys = Linear(min(every), max(every), HEIGHT - PAD, PAD)
    xs = Linear(first.at.timestamp(), last.at.timestamp(), PAD, WIDTH - PAD - 3)
    main = [(xs(p.at.timestamp()), ys(p.value)) for p in ordered]
    _stroke(canvas, line([main]), "hy-chart__line", BLUE, "", 2)
    if pair:
        second = [(xs(p.at.timestamp()), ys(p.value2)) for p in ordered if p.value2 is not None]
        _stroke(canvas, line([second]), "hy-chart__line hy-chart__line--2", PLUM, "4 2", 2)
    x, y = main[-1]
    canvas.add("circle", {"class": "hy-chart__point", "cx": x, "cy": y, "r": 3, "fill": BLUE})
    return Chart(canvas.render(title, summary), table, summary)


def _stroke(canvas: Canvas, d: str, cls: str, color: str, dash: str, width: float) -> None:
    attrs: dict[str, str | float] = {
        "class": cls,
        "d": d,
        "fill": "none",
        "stroke": color,
        "stroke-width": width,
    }
    if dash:
        attrs["stroke-dasharray"] = dash
    canvas.add("path", attrs)


def _id(given: str | None, *seed: str) -> str:
    return chart_id(given, "spark", *seed)
