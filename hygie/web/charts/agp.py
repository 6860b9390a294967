"""Ambulatory Glucose Profile: the median, the 25th–75th and the 5th–95th percentiles of the
glucose readings by time of day over one 24-hour day, on the target range (International
Consensus on Time in Range, Battelino et al., Diabetes Care 2019;42:1593, Figure 2).

Input: the bins of :func:`hygie.monitoring.cgm.agp` (``CgmMetrics.agp``) or of the
``$cgm-metrics`` answer (``agp`` parts); a bin with fewer than two readings has no percentiles
and leaves a gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

from hygie.monitoring.cgm import UNITS, AgpBin, Unit, consensus
from hygie.web.charts import fmt
from hygie.web.charts.axes import Linear, Plot, nice_ticks, x_axis, y_axis
from hygie.web.charts.messages import check_lang, t
from hygie.web.charts.paths import band, line, runs
from hygie.web.charts.svg import (
    BAND_BLUE,
    BAND_BLUE_DARK,
    BLUE,
    GREEN,
    MEDIAN,
    TARGET_FILL,
    Canvas,
    Chart,
    LegendItem,
    Table,
    chart_id,
    legend,
    no_data,
)

WIDTH, HEIGHT = 360.0, 230.0
PERCENTILES = (5, 25, 50, 75, 95)


def _width(bins: Sequence[AgpBin]) -> int:
    starts = sorted(b.start_minute for b in bins)
    steps = [b - a for a, b in pairwise(starts) if b > a]
    return min(steps) if steps else 60


def agp_chart(
    bins: Sequence[AgpBin],
    *,
    unit: Unit = "mmol/L",
    lang: str = "fr",
    target: tuple[float, float] | None = None,
    chart_id: str | None = None,
) -> Chart:
    """The AGP of ``bins`` (start minute, count, percentiles 5/25/50/75/95) with the ``target``
    range (default: the consensus's 3.9–10.0 mmol/L or 70–180 mg/dL)."""
    check_lang(lang)
    title = t("title.agp", lang)
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}")
    ranges = consensus()["ranges"][unit]
    low, high = target or (float(ranges["tbr1_below"]), float(ranges["tir_upto"]))
    if not 0 <= low < high:
        raise ValueError("the target is (low, high) with 0 <= low < high")
    decimals = 1 if unit == "mmol/L" else 0
    width = _width(bins)
    ordered = sorted(bins, key=lambda b: b.start_minute)

    def n(v: float | None) -> str:
        return "—" if v is None else fmt.number(v, lang, decimals)

    headers = (t("col.time_of_day", lang), t("col.count", lang), *(t(f"col.p{p}", lang) for p in PERCENTILES))
    rows = tuple(
        (
            f"{fmt.minute_of_day(b.start_minute)}–{fmt.minute_of_day(b.start_minute + width)}",
            fmt.number(b.count, lang),
            *(n(b.percentiles.get(p)) for p in PERCENTILES),
        )
        for b in ordered
    )
    table = Table(title, headers, rows)
    cid = _id(chart_id, lang, repr(rows))
    shown = [b for b in ordered if all(p in b.percentiles for p in PERCENTILES)]
    if not shown:
        summary = t("nodata.summary", lang, title=title)
        return no_data(cid, "agp", title, summary, t("nodata", lang), table)
    range_text = fmt.bounds(low, high, unit, lang, decimals)
    summary = _summary(ordered, shown, width, lang, unit, decimals, low, high, range_text)
    canvas = Canvas(cid, "agp", WIDTH, HEIGHT)
    _draw(canvas, shown, width, lang, low, high, decimals, range_text)
    return Chart(canvas.render(title, summary), table, summary)


def _id(given: str | None, lang: str, seed: str) -> str:
    return chart_id(given, "agp", lang, seed)


def _summary(
    ordered: Sequence[AgpBin],
    shown: Sequence[AgpBin],
    width: int,
    lang: str,
    unit: str,
    decimals: int,
    low: float,
    high: float,
    range_text: str,
) -> str:
    def q(v: float) -> str:
        return fmt.quantity(v, unit, lang, decimals)

    def when(b: AgpBin) -> str:
        return fmt.minute_of_day(b.start_minute)

    lo = min(shown, key=lambda b: b.percentiles[50])
    hi = max(shown, key=lambda b: b.percentiles[50])
    text = t(
        "sum.agp",
        lang,
        n=fmt.number(sum(b.count for b in ordered), lang),
        low=q(lo.percentiles[50]),
        low_at=when(lo),
        high=q(hi.percentiles[50]),
        high_at=when(hi),
        p25=q(min(b.percentiles[25] for b in shown)),
        p75=q(max(b.percentiles[75] for b in shown)),
        p5=q(min(b.percentiles[5] for b in shown)),
        p95=q(max(b.percentiles[95] for b in shown)),
    )
    periods = [
        t(f"agp.{side}", lang, span=f"{fmt.minute_of_day(begin)}–{fmt.minute_of_day(end)}")
        for side, begin, end in outside_periods(shown, width, low, high)
    ]
    if periods:
        joined = t("list.sep", lang).join(periods)
        return f"{text} {t('sum.agp.outside', lang, range=range_text, periods=joined)}"
    return f"{text} {t('sum.agp.inside', lang, range=range_text)}"


def outside_periods(
    shown: Sequence[AgpBin], width: int, low: float, high: float
) -> list[tuple[str, int, int]]:
    """Runs of consecutive bins whose median is ``above`` or ``below`` the target:
    (side, first minute, end minute), in time order."""
    out: list[tuple[str, int, int]] = []
    for b in shown:
        median = b.percentiles[50]
        side = "above" if median > high else "below" if median < low else ""
        if not side:
            continue
        if out and out[-1][0] == side and out[-1][2] == b.start_minute:
            out[-1] = (side, out[-1][1], b.start_minute + width)
        else:
            out.append((side, b.start_minute, b.start_minute + width))
    return out


def _draw(
    canvas: Canvas,
    shown: Sequence[AgpBin],
    width: int,
    lang: str,
    low: float,
    high: float,
    decimals: int,
    range_text: str,
) -> None:
    top_value = max(*(b.percentiles[95] for b in shown), high * 1.4)
    ticks = nice_ticks(0, top_value, 5)
    left = 12 + max(len(fmt.number(v, lang)) for v in ticks) * 7.2
    hatch = canvas.hatch("p95", BLUE, angle=45, spacing=5)
    items = [
        LegendItem(t("legend.median", lang), "line", MEDIAN),
        LegendItem(t("legend.p25_75", lang), "band", BLUE, fill=BAND_BLUE_DARK),
        LegendItem(t("legend.p5_95", lang), "band", BLUE, fill=BAND_BLUE, pattern=hatch),
        LegendItem(t("legend.target", lang, range=range_text), "band", GREEN, fill=TARGET_FILL),
    ]
    top = legend(canvas, items, left, 6, WIDTH - 8) + 6
    right = WIDTH - 10 - 7.2 * len(fmt.number(high, lang, decimals))
    plot = Plot(left, top, right - 6, HEIGHT - 26)
    ys = Linear(ticks[0], ticks[-1], plot.bottom, plot.top)
    xs = Linear(0, 1440, plot.left, plot.right)
    canvas.add(
        "rect",
        {
            "class": "hy-chart__target",
            "x": plot.left,
            "y": ys(high),
            "width": plot.right - plot.left,
            "height": ys(low) - ys(high),
            "fill": TARGET_FILL,
        },
    )
    y_axis(canvas, plot, ys, ticks, lang)
    x_axis(canvas, plot, [(xs(m), fmt.minute_of_day(m)) for m in range(0, 1441, 360)])
    mids = [b.start_minute + width / 2 for b in shown]
    segments = runs([float(b.start_minute) for b in shown], width * 1.5)
    for seg in segments:

        def edge(p: int, seg: range = seg) -> list[tuple[float, float]]:
            return [(xs(mids[i]), ys(shown[i].percentiles[p])) for i in seg]

        outer = band(edge(95), edge(5))
        canvas.add("path", {"class": "hy-chart__agp-5-95", "d": outer, "fill": BAND_BLUE})
        canvas.add(
            "path",
            {
                "class": "hy-chart__agp-5-95-pattern",
                "d": outer,
                "fill": hatch,
                "stroke": BLUE,
                "stroke-width": 0.75,
            },
        )
        canvas.add(
            "path",
            {
                "class": "hy-chart__agp-25-75",
                "d": band(edge(75), edge(25)),
                "fill": BAND_BLUE_DARK,
                "stroke": BLUE,
                "stroke-width": 0.75,
            },
        )
    median = line([[(xs(mids[i]), ys(shown[i].percentiles[50])) for i in seg] for seg in segments])
    canvas.add(
        "path",
        {
            "class": "hy-chart__agp-median",
            "d": median,
            "fill": "none",
            "stroke": MEDIAN,
            "stroke-width": 2.5,
            "stroke-linejoin": "round",
        },
    )
    for bound in (low, high):
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
        canvas.text(
            plot.right + 4,
            ys(bound) + 4,
            fmt.number(bound, lang, decimals),
            "hy-chart__target-label",
            fill=GREEN,
        )
