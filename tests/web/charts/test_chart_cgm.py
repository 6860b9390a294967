"""CGM charts: the time-in-ranges stacked bar and the ambulatory glucose profile (Battelino 2019),
fed by what hygie.monitoring.cgm computes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from hygie.monitoring.cgm import AgpBin, metrics
from hygie.web.charts import agp_chart, tir_chart
from tests.web.charts.support import by_class, parse, path_moves, path_points, rect_y_range, texts

PARIS = ZoneInfo("Europe/Paris")
PERCENT = {"tbr2": 0.6, "tbr1": 3.4, "tir": 72.0, "tar1": 18.0, "tar2": 6.0}


def segment(root: ET.Element, name: str) -> tuple[float, float]:
    return rect_y_range(by_class(root, f"hy-chart__tir--{name}")[0])


def test_segments_are_stacked_in_proportion_from_very_low_to_very_high() -> None:
    root = parse(tir_chart(PERCENT, lang="en"))
    spans = {name: segment(root, name) for name in PERCENT}
    heights = {name: bottom - top for name, (top, bottom) in spans.items()}
    total = sum(heights.values())
    for name, share in PERCENT.items():
        assert heights[name] / total == pytest.approx(share / 100, abs=0.01)
    order = ["tar2", "tar1", "tir", "tbr1", "tbr2"]  # top to bottom
    for upper, lower in pairwise(order):
        assert spans[upper][1] == pytest.approx(spans[lower][0], abs=0.11)


def test_every_range_is_labelled_with_share_and_time_per_day() -> None:
    chart = tir_chart(PERCENT, lang="fr", days=14)
    labels = texts(parse(chart))
    assert "Dans la cible 3,9–10,0" in labels
    assert "72\u202f% · 17 h 17 min par jour" in labels
    assert "Très bas < 3,0" in labels and "Très haut > 13,9" in labels
    assert "1\u202f% · 9 min par jour" in labels  # 0.6 % rounds to 1 %, 8.6 min to 9
    assert chart.table.rows[2] == (
        "Dans la cible",
        "3,9–10,0",
        "72,0\u202f%",
        "17 h 17 min",
        "plus de 70\u202f% (atteint)",
    )
    assert chart.table.rows[4][0] == "Très bas" and chart.table.rows[4][4] == "moins de 1\u202f% (atteint)"
    assert chart.table.rows[0][4] == "moins de 5\u202f% (non atteint)"
    assert "(jours : 14)" in chart.summary
    assert "Dans la cible 72\u202f% (17 h 17 min par jour)" in chart.summary
    assert "Objectif dans la cible plus de 70\u202f% : atteint" in chart.summary


def test_segments_differ_by_pattern_and_outline_not_only_colour() -> None:
    root = parse(tir_chart(PERCENT, lang="en"))
    fills = {
        by_class(root, f"hy-chart__tir-pattern--{n}")[0].get("fill") for n in ("tbr2", "tbr1", "tar1", "tar2")
    }
    assert len(fills) == 4 and all((f or "").startswith("url(#") for f in fills)
    for name in PERCENT:
        assert by_class(root, f"hy-chart__tir--{name}")[0].get("stroke")


def test_mg_dl_thresholds() -> None:
    chart = tir_chart(PERCENT, unit="mg/dL", lang="en")
    assert [row[1] for row in chart.table.rows] == ["> 250", "181–250", "70–180", "54–69", "< 54"]


def test_shares_from_the_monitoring_metrics() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    readings = [(start + timedelta(minutes=5 * i), 2.5 if i % 50 == 0 else 6.0) for i in range(2880)]
    m = metrics(readings, "mmol/L")
    chart = tir_chart(m.percent, unit=m.unit, days=m.days, lang="en")
    assert chart.table.rows[4][2] == "2.0%"
    assert chart.table.rows[2][2] == "98.0%"


def test_bad_shares_are_refused_and_no_shares_is_no_data() -> None:
    with pytest.raises(ValueError, match="tbr2"):
        tir_chart({"tir": 100.0}, lang="en")
    with pytest.raises(ValueError, match="100"):
        tir_chart({**PERCENT, "tir": 90.0}, lang="en")
    empty = tir_chart({}, lang="ar")
    assert by_class(parse(empty), "hy-chart__nodata") and empty.table.rows == ()


def agp_bins() -> list[AgpBin]:
    bins = []
    for hour in range(24):
        median = 11.0 if 12 <= hour < 15 else 6.5
        pct = {5: median - 2.5, 25: median - 1, 50: median, 75: median + 1.5, 95: median + 4}
        bins.append(AgpBin(hour * 60, 14, pct if hour != 3 else {}))
    return bins


@pytest.mark.parametrize("lang", ["fr", "en", "ar"])
def test_agp_is_accessible_in_every_language(lang: str) -> None:
    parse(agp_chart(agp_bins(), lang=lang))
    empty = agp_chart([AgpBin(h * 60, 0, {}) for h in range(24)], lang=lang)
    assert by_class(parse(empty), "hy-chart__nodata")


def test_agp_bands_nest_around_the_median_and_a_missing_hour_breaks_them() -> None:
    root = parse(agp_chart(agp_bins(), lang="en"))
    outer = by_class(root, "hy-chart__agp-5-95")
    inner = by_class(root, "hy-chart__agp-25-75")
    median = by_class(root, "hy-chart__agp-median")[0].get("d") or ""
    assert len(outer) == 2 and len(inner) == 2  # hour 3 has no percentiles
    assert path_moves(median) == 2
    outer_ys = [y for e in outer for _, y in path_points(e.get("d") or "")]
    inner_ys = [y for e in inner for _, y in path_points(e.get("d") or "")]
    median_ys = [y for _, y in path_points(median)]
    assert min(outer_ys) < min(inner_ys) < min(median_ys)
    assert max(median_ys) < max(inner_ys) < max(outer_ys)
    target = by_class(root, "hy-chart__target")[0]
    top, bottom = rect_y_range(target)
    low_median = max(median_ys)  # 6.5 mmol/L: inside the target band
    assert top < low_median < bottom


def test_agp_table_and_summary() -> None:
    chart = agp_chart(agp_bins(), lang="fr")
    assert chart.table.headers[0] == "Heure de la journée"
    assert chart.table.rows[0] == ("00:00–01:00", "14", "4,0", "5,5", "6,5", "8,0", "10,5")
    assert chart.table.rows[3] == ("03:00–04:00", "14", "—", "—", "—", "—", "—")
    assert len(chart.table.rows) == 24
    assert "La médiane sort de la cible 3,9–10,0 mmol/L : 12:00–15:00 au-dessus." in chart.summary
    assert "Mesures : 336." in chart.summary
    inside = agp_chart([AgpBin(0, 3, {5: 4.0, 25: 5.0, 50: 6.0, 75: 7.0, 95: 8.0})], lang="en")
    assert "The median stays within the target 3.9–10.0 mmol/L all day." in inside.summary


def test_agp_from_the_monitoring_metrics() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    readings = [(start + timedelta(minutes=15 * i), 5.0 + (i % 4)) for i in range(96 * 3)]
    m = metrics(readings, "mmol/L", tz=PARIS, agp_bin_minutes=60)
    chart = agp_chart(m.agp, unit=m.unit, lang="en")
    assert len(chart.table.rows) == 24
    assert chart.table.rows[0][1] == "12"


def test_bad_unit_or_target_is_refused() -> None:
    with pytest.raises(ValueError, match="unit"):
        tir_chart(PERCENT, unit="mg", lang="en")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unit"):
        agp_chart(agp_bins(), unit="mmol", lang="en")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="low < high"):
        agp_chart(agp_bins(), target=(10.0, 3.9), lang="en")
