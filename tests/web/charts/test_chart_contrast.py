"""Contrast (WCAG 2.2 AA: 4.5:1 for text, 3:1 for the graphics needed to read a chart)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hygie.monitoring.cgm import AgpBin
from hygie.web.charts import (
    Bucket,
    Chart,
    News2Point,
    Point,
    agp_chart,
    news2_chart,
    sparkline,
    time_series,
    tir_chart,
)
from hygie.web.charts import svg as palette
from hygie.web.charts.tir import COLOURS
from tests.web.charts.support import SVG, contrast, parse

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def every_chart(lang: str) -> list[Chart]:
    points = [Point(T0 + timedelta(hours=i), 120.0 + i, 80.0) for i in range(5)]
    buckets = [Bucket(T0 + timedelta(hours=i), 60, 70.0, 60.0, 90.0) for i in range(5)]
    bins = [AgpBin(h * 60, 10, {5: 4.0, 25: 5.0, 50: 6.0, 75: 8.0, 95: 11.0}) for h in range(24)]
    return [
        time_series("blood-pressure", points=points, tz=PARIS, lang=lang, target=(100, 130)),
        time_series("heart-rate", buckets=buckets, tz=PARIS, lang=lang, target=(50, 100)),
        time_series("heart-rate", tz=PARIS, lang=lang),
        news2_chart([News2Point(T0, 3, True), News2Point(T0 + timedelta(hours=4), 7)], tz=PARIS, lang=lang),
        tir_chart({"tbr2": 1.0, "tbr1": 3.0, "tir": 70.0, "tar1": 20.0, "tar2": 6.0}, lang=lang),
        agp_chart(bins, lang=lang),
        sparkline("blood-pressure", points, tz=PARIS, lang=lang),
    ]


def test_palette_contrast() -> None:
    for text in (palette.INK, palette.MUTED, palette.GREEN):
        assert all(contrast(text, fill) >= 4.5 for fill in palette.LIGHT_FILLS), text
    for stroke in (palette.INK, palette.MUTED, palette.BLUE, palette.PLUM, palette.GREEN, palette.MEDIAN):
        assert all(contrast(stroke, fill) >= 3 for fill in palette.LIGHT_FILLS), stroke
    assert contrast(palette.MEDIAN, palette.BAND_BLUE_DARK) >= 3
    assert contrast(palette.BAND_BLUE_DARK, palette.BAND_BLUE) >= 3
    for name, colour in COLOURS.items():  # each segment against its white separators, or the ink frame
        assert max(contrast(colour, palette.WHITE), contrast(colour, palette.INK)) >= 3, name


@pytest.mark.parametrize("lang", ["fr", "en", "ar"])
def test_rendered_text_and_lines_have_enough_contrast(lang: str) -> None:
    for chart in every_chart(lang):
        root = parse(chart)
        textures = {e for defs in root.iter(f"{SVG}defs") for e in defs.iter()}  # pattern tiles
        for element in root.iter():
            if element in textures:
                continue
            cls = element.get("class") or ""
            if element.tag == f"{SVG}text":
                assert contrast(element.get("fill") or "", palette.WHITE) >= 4.5, cls
            stroke = element.get("stroke") or ""
            if (
                element.tag in (f"{SVG}path", f"{SVG}line", f"{SVG}polyline")
                and stroke.startswith("#")
                and ("hy-chart__grid" not in cls and "pattern" not in cls)
            ):
                assert contrast(stroke, palette.WHITE) >= 3, cls
