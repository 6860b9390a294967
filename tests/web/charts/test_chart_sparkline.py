"""The worklist sparkline: a small line of the latest values with its text alternative."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hygie.web.charts import Point, sparkline
from tests.web.charts.support import SVG, by_class, parse, path_points, texts

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 11, 20, 13, 0, tzinfo=UTC)
VALUES = [88.0, 92.0, 95.0, 101.0, 97.5]


def points() -> list[Point]:
    return [Point(T0 + timedelta(minutes=15 * i), v) for i, v in enumerate(VALUES)]


@pytest.mark.parametrize("lang", ["fr", "en", "ar"])
def test_small_accessible_and_textless(lang: str) -> None:
    chart = sparkline("heart-rate", points(), tz=PARIS, lang=lang)
    root = parse(chart)
    assert (root.get("width"), root.get("height")) == ("120", "32")
    assert texts(root) == []  # too small for text: the title and description carry it
    assert len(chart.table.rows) == len(VALUES)


def test_the_line_follows_the_values_and_marks_the_latest() -> None:
    root = parse(sparkline("heart-rate", points(), tz=PARIS, lang="en"))
    ys = [y for _, y in path_points(by_class(root, "hy-chart__line")[0].get("d") or "")]
    assert len(ys) == len(VALUES)
    assert ys.index(min(ys)) == VALUES.index(max(VALUES))  # SVG y grows downwards
    latest = by_class(root, "hy-chart__point")
    assert len(latest) == 1 and latest[0].tag == f"{SVG}circle"
    assert float(latest[0].get("cy") or 0) == pytest.approx(ys[-1])


def test_text_alternative_in_french() -> None:
    chart = sparkline("heart-rate", points(), tz=PARIS, lang="fr")
    assert chart.summary == (
        "Fréquence cardiaque, dernières mesures : 5, de 88 /min à 101 /min. "
        "Première : 88 /min (20 nov. 2026 14:00). Dernière : 98 /min (20 nov. 2026 15:00)."
    )
    body_temperature = sparkline("body-temperature", [Point(T0, 38.25)], tz=PARIS, lang="fr")
    assert "38,3 °C" in body_temperature.summary


def test_blood_pressure_pairs() -> None:
    pts = [Point(T0 + timedelta(hours=i), 130.0 - i, 85.0 - i) for i in range(3)]
    chart = sparkline("blood-pressure", pts, tz=PARIS, lang="en")
    assert len(by_class(parse(chart), "hy-chart__line")) == 2
    assert "Latest: 128/83 mmHg" in chart.summary


def test_no_values() -> None:
    chart = sparkline("spo2", [], tz=PARIS, lang="en")
    assert by_class(parse(chart), "hy-chart__nodata")
    assert chart.summary == "Oxygen saturation (SpO2): no data for this period."


def test_hostile_title_is_escaped() -> None:
    chart = sparkline("heart-rate", points(), tz=PARIS, lang="en", title='<img src=x onerror="alert(1)">')
    root = parse(chart)
    assert "<img" not in chart.svg
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == '<img src=x onerror="alert(1)">'
