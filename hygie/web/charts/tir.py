"""Time in ranges as one stacked bar, very high on top and very low at the bottom, as in the
International Consensus on Time in Range (Battelino et al., Diabetes Care 2019;42:1593,
Figure 3): each range labelled with its limits, its share and its time per day, and its target.

Input: the five shares of :func:`hygie.monitoring.cgm.metrics` (``CgmMetrics.percent``) or of the
``$cgm-metrics`` answer; thresholds and targets come from ``hygie/monitoring/data/cgm.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from hygie.monitoring.cgm import RANGES, UNITS, Unit, consensus, targets_met
from hygie.web.charts import fmt
from hygie.web.charts.messages import check_lang, t
from hygie.web.charts.svg import (
    INK,
    MUTED,
    WHITE,
    Canvas,
    Chart,
    Table,
    chart_id,
    no_data,
)

WIDTH, HEIGHT = 360.0, 240.0
BAR_LEFT, BAR_RIGHT, BAR_TOP, BAR_BOTTOM = 16.0, 72.0, 14.0, 226.0
LABEL_X, LABEL_GAP = 108.0, 38.0
TOP_DOWN = ("tar2", "tar1", "tir", "tbr1", "tbr2")
COLOURS = {"tar2": "#a14a00", "tar1": "#f5b82e", "tir": "#007f3b", "tbr1": "#d5281b", "tbr2": "#8a1538"}
# White lines separate the segments (at least 5:1 against every colour but the amber of "high",
# which its neighbours' contrast outlines); an ink frame holds the bar.
# (kind, colour, angle) of the texture over each colour: the ranges differ by more than hue
PATTERNS = {
    "tar2": ("hatch", WHITE, 45),
    "tar1": ("hatch", "#6b4e00", -45),
    "tbr1": ("dots", WHITE, 0),
    "tbr2": ("hatch", WHITE, 90),
}


def limits(unit: Unit, lang: str) -> dict[str, str]:
    """The printed limits of each range: ``< 3,0``, ``3,0–3,8``, ``3,9–10,0``, ``10,1–13,9``, ``> 13,9``."""
    r = consensus()["ranges"][unit]
    d = 1 if unit == "mmol/L" else 0
    step = 10**-d

    def n(v: float) -> str:
        return fmt.number(v, lang, d)

    return {
        "tbr2": f"< {n(r['tbr2_below'])}",
        "tbr1": f"{n(r['tbr2_below'])}–{n(r['tbr1_below'] - step)}",
        "tir": f"{n(r['tbr1_below'])}–{n(r['tir_upto'])}",
        "tar1": f"{n(r['tir_upto'] + step)}–{n(r['tar1_upto'])}",
        "tar2": f"> {n(r['tar1_upto'])}",
    }


def _targets(percent: Mapping[str, float], lang: str) -> dict[str, tuple[str, bool]]:
    """Per range: the standard adult target as text and whether it is met."""
    goal = consensus()["targets"]["standard"]
    met = targets_met(dict(percent), 0.0)

    def below(v: float) -> str:
        return t("target.below", lang, value=fmt.percent(v, lang))

    return {
        "tar2": (below(goal["tar2_max"]), met["tar2"]),
        "tar1": (t("target.with_tar2", lang, target=below(goal["tar1_plus_max"])), met["tar"]),
        "tir": (t("target.above", lang, value=fmt.percent(goal["tir_min"], lang)), met["tir"]),
        "tbr1": (t("target.with_tbr2", lang, target=below(goal["tbr1_plus_max"])), met["tbr"]),
        "tbr2": (below(goal["tbr2_max"]), met["tbr2"]),
    }


def _check(percent: Mapping[str, float]) -> None:
    missing = [k for k in RANGES if k not in percent]
    if missing:
        raise ValueError(f"the shares of {', '.join(missing)} are missing")
    if any(not 0 <= percent[k] <= 100 for k in RANGES) or abs(sum(percent[k] for k in RANGES) - 100) > 1:
        raise ValueError("the five shares are percentages adding up to 100")


def tir_chart(
    percent: Mapping[str, float],
    *,
    unit: Unit = "mmol/L",
    lang: str = "fr",
    days: float | None = None,
    chart_id: str | None = None,
) -> Chart:
    """The stacked bar of the five shares (``tbr2``, ``tbr1``, ``tir``, ``tar1``, ``tar2`` in %);
    ``days``: the period's length, told in the summary. No shares: the "no data" chart."""
    check_lang(lang)
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}")
    title = t("title.tir", lang)
    headers = (
        t("col.range", lang),
        t("col.limits", lang, unit=unit),
        t("col.share", lang),
        t("col.per_day", lang),
        t("col.target", lang),
    )
    if not percent:
        cid = _id(chart_id, lang, "")
        summary = t("nodata.summary", lang, title=title)
        return no_data(cid, "tir", title, summary, t("nodata", lang), Table(title, headers, ()))
    _check(percent)
    lims, goals = limits(unit, lang), _targets(percent, lang)
    names = {k: t(f"range.{k}", lang) for k in RANGES}
    per_day = {k: fmt.duration(percent[k] * 1440 / 100, lang) for k in RANGES}

    def status(k: str) -> str:
        text, met = goals[k]
        return t("target.status", lang, target=text, status=t("target.met" if met else "target.missed", lang))

    rows = tuple(
        (names[k], lims[k], fmt.percent(percent[k], lang, 1), per_day[k], status(k)) for k in TOP_DOWN
    )
    table = Table(title, headers, rows)
    items = t("list.sep", lang).join(
        t(
            "sum.tir.item",
            lang,
            range=names[k],
            share=fmt.percent(percent[k], lang),
            per_day=t("per_day", lang, duration=per_day[k]),
        )
        for k in TOP_DOWN
    )
    summary = t(
        "sum.tir",
        lang,
        days=t("sum.days", lang, days=fmt.number(days, lang, 0)) if days else "",
        items=items,
        target=goals["tir"][0],
        met=t("target.met" if goals["tir"][1] else "target.missed", lang),
    )
    missed = [f"{names[k]} ({goals[k][0]})" for k in TOP_DOWN if k != "tir" and not goals[k][1]]
    if missed:
        summary += " " + t("sum.tir.missed", lang, items=t("list.sep", lang).join(missed))
    canvas = Canvas(_id(chart_id, lang, repr(rows)), "tir", WIDTH, HEIGHT)
    _draw(canvas, percent, lang, names, lims, per_day)
    return Chart(canvas.render(title, summary), table, summary)


def _id(given: str | None, lang: str, seed: str) -> str:
    return chart_id(given, "tir", lang, seed)


def spread(ideal: Sequence[float], gap: float, low: float, high: float) -> list[float]:
    """Label positions as close as possible to ``ideal`` (ascending), at least ``gap`` apart,
    within ``[low, high]``."""
    out: list[float] = []
    for y in ideal:
        out.append(max(y, low, out[-1] + gap if out else low))
    for i in range(len(out) - 1, -1, -1):
        limit = high if i == len(out) - 1 else out[i + 1] - gap
        out[i] = min(out[i], limit)
    return out


def _draw(
    canvas: Canvas,
    percent: Mapping[str, float],
    lang: str,
    names: Mapping[str, str],
    lims: Mapping[str, str],
    per_day: Mapping[str, str],
) -> None:
    total = sum(percent[k] for k in RANGES)
    scale = (BAR_BOTTOM - BAR_TOP) / total
    y = BAR_TOP
    centres = {}
    for k in TOP_DOWN:
        height = percent[k] * scale
        centres[k] = y + height / 2
        if height > 0:
            box: dict[str, str | float] = {
                "x": BAR_LEFT,
                "y": y,
                "width": BAR_RIGHT - BAR_LEFT,
                "height": height,
            }
            canvas.add(
                "rect",
                {
                    **box,
                    "class": f"hy-chart__tir hy-chart__tir--{k}",
                    "fill": COLOURS[k],
                    "stroke": WHITE,
                    "stroke-width": 1.5,
                },
            )
            if k in PATTERNS:
                canvas.add(
                    "rect",
                    {
                        **box,
                        "class": f"hy-chart__tir-pattern hy-chart__tir-pattern--{k}",
                        "fill": _pattern(canvas, k),
                        "stroke": WHITE,
                        "stroke-width": 1.5,
                    },
                )
        y += height
    canvas.add(
        "rect",
        {
            "class": "hy-chart__frame",
            "x": BAR_LEFT - 1,
            "y": BAR_TOP - 1,
            "width": BAR_RIGHT - BAR_LEFT + 2,
            "height": BAR_BOTTOM - BAR_TOP + 2,
            "fill": "none",
            "stroke": INK,
            "stroke-width": 1,
        },
    )
    positions = spread([centres[k] for k in TOP_DOWN], LABEL_GAP, BAR_TOP + 14, BAR_BOTTOM - 20)
    for k, label_y in zip(TOP_DOWN, positions, strict=True):
        canvas.add(
            "polyline",
            {
                "class": "hy-chart__leader",
                "fill": "none",
                "stroke": MUTED,
                "stroke-width": 1,
                "points": f"{BAR_RIGHT},{centres[k]:.1f} {BAR_RIGHT + 12},{centres[k]:.1f} "
                f"{LABEL_X - 20},{label_y - 4:.1f}",
            },
        )
        swatch: dict[str, str | float] = {"x": LABEL_X - 16, "y": label_y - 10, "width": 12, "height": 12}
        canvas.add(
            "rect",
            {**swatch, "class": "hy-chart__legend", "fill": COLOURS[k], "stroke": INK, "stroke-width": 1},
        )
        if k in PATTERNS:
            canvas.add(
                "rect",
                {
                    **swatch,
                    "class": "hy-chart__legend",
                    "fill": _pattern(canvas, k),
                    "stroke": INK,
                    "stroke-width": 1,
                },
            )
        canvas.text(LABEL_X, label_y, f"{names[k]} {lims[k]}", "hy-chart__label")
        canvas.text(
            LABEL_X,
            label_y + 16,
            t(
                "tir.label",
                lang,
                share=fmt.percent(percent[k], lang),
                per_day=t("per_day", lang, duration=per_day[k]),
            ),
            "hy-chart__label hy-chart__label--value",
            weight="bold",
        )


def _pattern(canvas: Canvas, k: str) -> str:
    url = f"url(#{canvas.cid}-{k})"
    if any(f'id="{canvas.cid}-{k}"' in d for d in canvas.defs):
        return url
    kind, colour, angle = PATTERNS[k]
    return canvas.dots(k, colour) if kind == "dots" else canvas.hatch(k, colour, angle=angle)
