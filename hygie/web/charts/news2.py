"""NEWS2 aggregate scores over time on the clinical-risk bands of the Royal College of Physicians
(NEWS2 report, December 2017, Chart 2: 0–4 low, 5–6 medium, 7 or more high; a single parameter
scoring 3 makes a low total "low–medium", shown by a triangle marker). The thresholds are read
from the monitoring domain's chart data (``hygie/monitoring/data/news2.json``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from hygie.monitoring.news2 import chart as news2_data
from hygie.monitoring.news2 import risk_of
from hygie.web.charts import fmt
from hygie.web.charts.axes import Linear, Plot, time_scale, time_ticks, x_axis, y_axis
from hygie.web.charts.messages import check_lang, t
from hygie.web.charts.paths import gaps, line, runs
from hygie.web.charts.series_text import nodata_summary
from hygie.web.charts.svg import (
    HATCH_HIGH,
    HATCH_MEDIUM,
    HIGH_FILL,
    INK,
    LOW_FILL,
    MEDIUM_FILL,
    MUTED,
    Canvas,
    Chart,
    LegendItem,
    Table,
    chart_id,
    legend,
    marker,
    no_data,
    text_width,
)

WIDTH, HEIGHT = 360.0, 220.0
MAX_TOTAL = 20  # 3 + 3 + 2 + 3 + 3 + 3 + 3


@dataclass(frozen=True, slots=True)
class News2Point:
    """One aggregate score; ``single_three``: one parameter scored 3."""

    at: datetime
    total: int
    single_three: bool = False


def thresholds() -> tuple[int, int]:
    """The first totals of the medium and high bands (5 and 7), from the chart data."""
    lows = {band["risk"]: band["min"] for band in news2_data()["risk"] if "min" in band}
    return int(lows["medium"]), int(lows["high"])


def risk(p: News2Point) -> str:
    """``low``, ``low-medium``, ``medium`` or ``high`` (Chart 2, via the monitoring domain)."""
    return risk_of(p.total, {"single": 3 if p.single_three else 0}).risk


def news2_chart(
    points: Sequence[News2Point],
    *,
    tz: tzinfo,
    lang: str = "fr",
    start: datetime | None = None,
    end: datetime | None = None,
    max_gap: timedelta = timedelta(hours=24),
    chart_id: str | None = None,
) -> Chart:
    """Scores over time: a line (broken where two scores are more than ``max_gap`` apart) with
    one marker per score on the shaded, patterned and labelled risk bands."""
    check_lang(lang)
    for p in points:
        fmt.aware(p.at)
        if not 0 <= p.total <= MAX_TOTAL:
            raise ValueError(f"a NEWS2 total goes from 0 to {MAX_TOTAL}")
    title = t("title.news2", lang)
    ordered = sorted(points, key=lambda p: p.at)
    table = Table(
        title,
        (t("col.time", lang), t("col.score", lang), t("col.risk", lang)),
        tuple(
            (fmt.moment(p.at, lang, tz), fmt.number(p.total, lang), t(f"risk.{risk(p)}", lang))
            for p in ordered
        ),
    )
    cid = _chart_id(chart_id, lang, table)
    if not ordered:
        summary = nodata_summary(title, lang, tz, start, end)
        return no_data(cid, "news2", title, summary, t("nodata", lang), table)
    first, last = min(start or ordered[0].at, ordered[0].at), max(end or ordered[-1].at, ordered[-1].at)
    if last <= first:
        first, last = first - timedelta(hours=1), last + timedelta(hours=1)
    times = [p.at.timestamp() for p in ordered]
    summary = _summary(ordered, lang, tz, title, first, last, gaps(times, max_gap.total_seconds()))
    canvas = Canvas(cid, "news2", WIDTH, HEIGHT)
    _draw(canvas, ordered, lang, tz, first, last, runs(times, max_gap.total_seconds()))
    return Chart(canvas.render(title, summary), table, summary)


def _chart_id(given: str | None, lang: str, table: Table) -> str:
    return chart_id(given, "news2", lang, repr(table.rows))


def _band_labels(lang: str) -> dict[str, str]:
    medium, high = thresholds()
    return {
        "high": f"{t('risk.high', lang)} ≥ {high}",
        "medium": f"{t('risk.medium', lang)} {medium}–{high - 1}",
        "low": f"{t('risk.low', lang)} 0–{medium - 1}",
    }


def _draw(
    canvas: Canvas,
    ordered: Sequence[News2Point],
    lang: str,
    tz: tzinfo,
    first: datetime,
    last: datetime,
    segments: Sequence[range],
) -> None:
    medium, high = thresholds()
    top_total = 12 if max(p.total for p in ordered) <= 12 else MAX_TOTAL
    ticks = list(range(0, top_total + 1, 2 if top_total == 12 else 5))
    labels = _band_labels(lang)
    right = WIDTH - 10 - max(text_width(label) for label in labels.values())
    items = []
    if any(p.single_three for p in ordered):
        items = [
            LegendItem("NEWS2", "marker", INK),
            LegendItem(t("legend.single3", lang), "marker", INK, shape="triangle"),
        ]
    top = legend(canvas, items, 30, 6, WIDTH - 8) + 6 if items else 14
    plot = Plot(30, top, right - 8, HEIGHT - 26)
    ys = Linear(0, top_total, plot.bottom, plot.top)
    edges = {
        "low": (0.0, medium - 0.5),
        "medium": (medium - 0.5, high - 0.5),
        "high": (high - 0.5, top_total),
    }
    fills = {
        "low": (LOW_FILL, ""),
        "medium": (MEDIUM_FILL, canvas.dots("dots", HATCH_MEDIUM)),
        "high": (HIGH_FILL, canvas.hatch("hatch", HATCH_HIGH)),
    }
    for name, (lo, hi) in edges.items():
        box: dict[str, str | float] = {
            "x": plot.left,
            "y": ys(hi),
            "width": plot.right - plot.left,
            "height": ys(lo) - ys(hi),
        }
        fill, pattern = fills[name]
        canvas.add("rect", {**box, "class": f"hy-chart__risk hy-chart__risk--{name}", "fill": fill})
        if pattern:
            canvas.add(
                "rect",
                {**box, "class": f"hy-chart__risk-pattern hy-chart__risk-pattern--{name}", "fill": pattern},
            )
        canvas.text(
            plot.right + 6,
            (ys(lo) + ys(hi)) / 2 + 4,
            labels[name],
            f"hy-chart__band-label hy-chart__band-label--{name}",
        )
    for boundary in (medium - 0.5, high - 0.5):
        canvas.add(
            "line",
            {
                "class": "hy-chart__band-edge",
                "x1": plot.left,
                "y1": ys(boundary),
                "x2": plot.right,
                "y2": ys(boundary),
                "stroke": MUTED,
                "stroke-width": 1,
                "stroke-dasharray": "4 3",
            },
        )
    y_axis(canvas, plot, ys, ticks, lang)
    xs = time_scale(first, last, plot.left, plot.right)
    x_axis(canvas, plot, [(xs(at), label) for at, label in time_ticks(first, last, tz, lang, 4)])
    coords = [[(xs(ordered[i].at), ys(ordered[i].total)) for i in seg] for seg in segments]
    canvas.add(
        "path",
        {
            "class": "hy-chart__line",
            "d": line(coords),
            "fill": "none",
            "stroke": INK,
            "stroke-width": 1.5,
            "stroke-linejoin": "round",
        },
    )
    for p in ordered:
        marker(
            canvas, xs(p.at), ys(p.total), "triangle" if p.single_three else "circle", INK, "hy-chart__point"
        )


def _summary(
    ordered: Sequence[News2Point],
    lang: str,
    tz: tzinfo,
    title: str,
    first: datetime,
    last: datetime,
    holes: Sequence[float],
) -> str:
    medium, high = thresholds()
    latest = ordered[-1]
    top = max(ordered, key=lambda p: p.total)
    period = t("sum.period", lang, start=fmt.moment(first, lang, tz), end=fmt.moment(last, lang, tz))
    parts = [
        t("sum.scores", lang, title=title, period=period, n=len(ordered)),
        t(
            "sum.news2",
            lang,
            last=latest.total,
            risk=t(f"risk.{risk(latest)}", lang).lower(),
            at=fmt.moment(latest.at, lang, tz),
            high=top.total,
            high_at=fmt.moment(top.at, lang, tz),
        ),
        t(
            "sum.news2.bands",
            lang,
            high=sum(p.total >= high for p in ordered),
            medium=sum(medium <= p.total < high for p in ordered),
            low=sum(p.total < medium for p in ordered),
            single=sum(p.single_three for p in ordered),
        ),
    ]
    if holes:
        parts.append(t("sum.gaps", lang, n=len(holes), longest=fmt.duration(max(holes) / 60, lang)))
    return " ".join(parts)
