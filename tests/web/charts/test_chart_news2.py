"""The NEWS2 chart: scores over time on the RCP clinical-risk bands (Chart 2)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hygie.monitoring.news2 import Vitals, score
from hygie.monitoring.news2_fhir import score_observation
from hygie.web.charts import News2Point, news2_chart, news2_point
from tests.web.charts.support import SVG, by_class, parse, path_moves, rect_y_range, texts

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)  # 08:00 in Paris
SCORES = [1, 3, 4, 5, 6, 7, 9]


def points() -> list[News2Point]:
    return [News2Point(T0 + timedelta(hours=4 * i), total) for i, total in enumerate(SCORES)]


def markers(root: ET.Element) -> list[float]:
    return [float(e.get("cy") or "nan") for e in by_class(root, "hy-chart__point")]


def test_each_score_sits_in_its_risk_band() -> None:
    root = parse(news2_chart(points(), tz=PARIS, lang="en"))
    bands = {
        risk: rect_y_range(by_class(root, f"hy-chart__risk--{risk}")[0]) for risk in ("low", "medium", "high")
    }
    for total, y in zip(SCORES, markers(root), strict=True):
        risk = "high" if total >= 7 else "medium" if total >= 5 else "low"
        top, bottom = bands[risk]
        assert top < y < bottom, (total, risk, y, bands)
    assert bands["high"][1] == pytest.approx(bands["medium"][0])  # adjacent, no overlap
    assert bands["medium"][1] == pytest.approx(bands["low"][0])


def test_bands_are_labelled_and_patterned_not_only_coloured() -> None:
    root = parse(news2_chart(points(), tz=PARIS, lang="fr"))
    labels = texts(root)
    assert "Élevé ≥ 7" in labels and "Moyen 5–6" in labels and "Faible 0–4" in labels
    high = by_class(root, "hy-chart__risk-pattern--high")
    medium = by_class(root, "hy-chart__risk-pattern--medium")
    assert high and medium
    assert (high[0].get("fill") or "").startswith("url(#") and high[0].get("fill") != medium[0].get("fill")


def test_a_single_parameter_at_3_is_a_triangle_with_a_legend() -> None:
    pts = [News2Point(T0, 3, single_three=True), News2Point(T0 + timedelta(hours=4), 2)]
    chart = news2_chart(pts, tz=PARIS, lang="en")
    root = parse(chart)
    triangles = [e for e in by_class(root, "hy-chart__point") if e.tag == f"{SVG}polygon"]
    assert len(triangles) == 1
    assert "One parameter at 3" in texts(root)
    assert chart.table.rows[0] == ("20 Nov 2026 08:00", "3", "Low–medium")
    assert "with one parameter at 3: 1" in chart.summary


def test_table_and_summary_carry_every_score() -> None:
    chart = news2_chart(points(), tz=PARIS, lang="fr")
    assert chart.table.headers == ("Date et heure", "Score", "Risque clinique")
    assert [row[1] for row in chart.table.rows] == [str(s) for s in SCORES]
    assert [row[2] for row in chart.table.rows] == ["Faible"] * 3 + ["Moyen"] * 2 + ["Élevé"] * 2
    assert chart.table.rows[0][0] == "20 nov. 2026 08:00"
    assert "Dernier score : 9 (risque élevé, 21 nov. 2026 08:00)" in chart.summary
    assert "élevé (7 ou plus) 2 ; moyen (5–6) 2 ; faible (0–4) 3" in chart.summary


def test_the_scale_grows_for_high_scores() -> None:
    low = texts(parse(news2_chart(points(), tz=PARIS, lang="en")))
    assert "12" in low and "20" not in low
    high = texts(parse(news2_chart([*points(), News2Point(T0 + timedelta(days=2), 15)], tz=PARIS, lang="en")))
    assert "20" in high


def test_a_long_interval_breaks_the_line() -> None:
    pts = [*points(), News2Point(T0 + timedelta(days=3), 2)]
    root = parse(news2_chart(pts, tz=PARIS, lang="en"))
    assert path_moves(by_class(root, "hy-chart__line")[0].get("d") or "") == 2


@pytest.mark.parametrize("lang", ["fr", "en", "ar"])
def test_every_language_and_no_data(lang: str) -> None:
    parse(news2_chart(points(), tz=PARIS, lang=lang))
    empty = news2_chart([], tz=PARIS, lang=lang)
    assert by_class(parse(empty), "hy-chart__nodata") and empty.table.rows == ()
    assert "NEWS2" in empty.summary


def test_scores_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="0 to 20"):
        news2_chart([News2Point(T0, 21)], tz=PARIS)


def test_point_from_the_score_observation_of_the_monitoring_domain() -> None:
    vitals = Vitals(
        respiratory_rate=26,
        spo2=97,
        on_oxygen=False,
        systolic_bp=120,
        pulse=80,
        consciousness="A",
        temperature=37.0,
    )
    observation = score_observation(score(vitals), [{"effectiveDateTime": "2026-11-20T08:00:00+01:00"}])
    point = news2_point(observation)
    assert point == News2Point(datetime(2026, 11, 20, 7, 0, tzinfo=UTC), 3, single_three=True)
    assert news2_point({"resourceType": "Observation", "valueQuantity": {"value": 3}}) is None
    assert news2_point({"effectiveDateTime": "2026-11-20T08:00:00", "valueQuantity": {"value": 3}}) is None


def test_arabic_labels_read_right_to_left_inside_the_left_to_right_drawing() -> None:
    labels = texts(parse(news2_chart(points(), tz=PARIS, lang="ar")))
    assert "\u2067مرتفع ≥ 7\u2069" in labels  # a right-to-left isolate
    assert "12:00" in labels  # clock times stay as they are
    assert "Élevé ≥ 7" in texts(parse(news2_chart(points(), tz=PARIS, lang="fr")))
