"""The time-series chart: accessible SVG, data table equal to the input, gaps, bands, target."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hygie.web.charts import Bucket, Point, time_series
from tests.web.charts.support import SVG, by_class, parse, path_moves, path_points, texts

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # 09:00 in Paris


def heart_rate(n: int = 6, every: int = 10) -> list[Point]:
    return [Point(T0 + timedelta(minutes=every * i), 70.0 + i) for i in range(n)]


@pytest.mark.parametrize("lang", ["fr", "en", "ar"])
def test_well_formed_and_accessible_in_every_language(lang: str) -> None:
    chart = time_series("heart-rate", points=heart_rate(), tz=PARIS, lang=lang)
    root = parse(chart)
    assert root.get("width") == "100%"
    title = root.find(f"{SVG}title")
    assert title is not None
    assert title.text == {"fr": "Fréquence cardiaque", "en": "Heart rate", "ar": "معدل ضربات القلب"}[lang]
    assert (
        chart.table.headers[0] == {"fr": "Date et heure", "en": "Date and time", "ar": "التاريخ والوقت"}[lang]
    )


def test_table_rows_equal_the_points_in_time_order() -> None:
    points = [Point(T0 + timedelta(minutes=5), 36.55), Point(T0, 37.25)]
    chart = time_series("body-temperature", points=points, tz=PARIS, lang="fr")
    assert chart.table.headers == ("Date et heure", "Valeur (°C)")
    # rounded half away from zero, as a nurse would chart it
    assert chart.table.rows == (("20 nov. 2026 09:00", "37,3"), ("20 nov. 2026 09:05", "36,6"))
    en = time_series("body-temperature", points=points, tz=PARIS, lang="en")
    assert en.table.rows == (("20 Nov 2026 09:00", "37.3"), ("20 Nov 2026 09:05", "36.6"))


def test_french_summary_uses_decimal_comma_and_24_hour_clock() -> None:
    points = [Point(T0 + timedelta(hours=6 * i), v) for i, v in enumerate([36.4, 38.6, 37.1])]
    chart = time_series("body-temperature", points=points, tz=PARIS, lang="fr")
    assert "Plus haute : 38,6 °C (20 nov. 2026 15:00)" in chart.summary
    assert "Dernière : 37,1 °C (20 nov. 2026 21:00)" in chart.summary
    assert "Mesures : 3." in chart.summary


def test_blood_pressure_pairs_are_two_series_told_apart_by_shape() -> None:
    points = [Point(T0 + timedelta(hours=i), 120.0 + i, 80.0 - i) for i in range(3)]
    chart = time_series("blood-pressure", points=points, tz=PARIS, lang="en")
    root = parse(chart)
    assert chart.table.headers == ("Date and time", "Systolic (mmHg)", "Diastolic (mmHg)")
    assert chart.table.rows[2] == ("20 Nov 2026 11:00", "122", "78")
    assert len(by_class(root, "hy-chart__line")) == 2
    second = by_class(root, "hy-chart__line--2")[0]
    assert second.get("stroke-dasharray")  # dashed, not only another colour
    squares = [e for e in by_class(root, "hy-chart__point--2") if e.tag == f"{SVG}rect"]
    assert len(squares) == 3
    assert "Systolic" in texts(root) and "Diastolic" in texts(root)
    assert "Diastolic: from 78 mmHg to 80 mmHg." in chart.summary


def test_a_gap_longer_than_the_factor_times_the_step_splits_the_line() -> None:
    points = heart_rate(4) + [Point(T0 + timedelta(hours=3, minutes=i * 10), 80.0) for i in range(4)]
    chart = time_series("heart-rate", points=points, tz=PARIS, lang="en")
    line = by_class(parse(chart), "hy-chart__line")[0]
    assert path_moves(line.get("d") or "") == 2
    assert len(path_points(line.get("d") or "")) == 8
    assert "Gaps in the data: 1 (longest: 2 h 30 min)." in chart.summary
    joined = time_series("heart-rate", points=points, tz=PARIS, lang="en", gap_factor=20)
    assert path_moves(by_class(parse(joined), "hy-chart__line")[0].get("d") or "") == 1


def test_a_lone_point_between_gaps_is_still_drawn() -> None:
    points = [*heart_rate(3), Point(T0 + timedelta(hours=5), 90.0), Point(T0 + timedelta(hours=10), 91.0)]
    root = parse(time_series("heart-rate", points=points, tz=PARIS, lang="fr"))
    assert path_moves(by_class(root, "hy-chart__line")[0].get("d") or "") == 3
    assert len(by_class(root, "hy-chart__point")) == 5


def test_buckets_draw_a_min_max_band_and_a_mean_line() -> None:
    buckets = [Bucket(T0 + timedelta(hours=i), 60, 70.0 + i, 55.0 + i, 100.0 + i) for i in range(5)]
    chart = time_series("heart-rate", buckets=buckets, grain="hour", tz=PARIS, lang="fr")
    root = parse(chart)
    assert chart.table.headers == (
        "Début de la période",
        "Moyenne (/min)",
        "Minimum (/min)",
        "Maximum (/min)",
        "Nombre de mesures",
    )
    assert chart.table.rows[0] == ("20 nov. 2026 09:00", "70", "55", "100", "60")
    assert len(chart.table.rows) == 5
    band = by_class(root, "hy-chart__band")
    assert len(band) == 1
    band_ys = [y for _, y in path_points(band[0].get("d") or "")]
    mean_ys = [y for _, y in path_points(by_class(root, "hy-chart__line")[0].get("d") or "")]
    assert min(band_ys) < min(mean_ys) and max(mean_ys) < max(band_ys)  # the mean inside the band
    assert "Minimum–maximum" in texts(root) and "Moyenne par heure" in texts(root)
    assert "Minimum : 55 /min (20 nov. 2026 09:00)" in chart.summary
    assert "Maximum : 104 /min (20 nov. 2026 13:00)" in chart.summary


def test_target_band_covers_the_goal_range() -> None:
    points = [Point(T0 + timedelta(minutes=10 * i), v) for i, v in enumerate([86.0, 90.0, 93.0, 95.0])]
    chart = time_series("spo2", points=points, tz=PARIS, lang="en", target=(88, 92))
    root = parse(chart)
    rect = by_class(root, "hy-chart__target")[0]
    top, bottom = float(rect.get("y") or 0), float(rect.get("y") or 0) + float(rect.get("height") or 0)
    ys = {
        v: y
        for (_, y), v in zip(
            path_points(by_class(root, "hy-chart__line")[0].get("d") or ""), [86, 90, 93, 95], strict=True
        )
    }
    assert top < ys[90] < bottom
    assert ys[86] > bottom and ys[93] < top  # SVG y grows downwards
    assert "Target 88–92%" in texts(root)
    assert "Target 88–92%: 25% of values within it." in chart.summary


def test_one_sided_target() -> None:
    chart = time_series("spo2", points=heart_rate(), tz=PARIS, lang="fr", target=(94, None))
    assert "Cible ≥ 94\u202f%" in texts(parse(chart))


def test_hostile_title_and_target_text_are_escaped() -> None:
    hostile = "<script>alert('x')</script> & \"quoted\" \x00"
    chart = time_series("heart-rate", points=heart_rate(), tz=PARIS, lang="en", title=hostile)
    root = parse(chart)
    assert "<script>" not in chart.svg
    title = root.find(f"{SVG}title")
    assert title is not None and title.text == "<script>alert('x')</script> & \"quoted\" "
    # plain text (the template escapes it), without the NUL XML cannot carry
    assert chart.table.caption.startswith(hostile.replace("\x00", ""))


def test_no_data_gives_a_clear_chart_and_summary() -> None:
    for lang in ("fr", "en", "ar"):
        chart = time_series(
            "heart-rate", points=[], tz=PARIS, lang=lang, start=T0, end=T0 + timedelta(days=1)
        )
        root = parse(chart)
        assert chart.table.rows == ()
        assert by_class(root, "hy-chart__nodata")
    fr = time_series("heart-rate", tz=PARIS, lang="fr", start=T0, end=T0 + timedelta(days=1))
    assert fr.summary == "Fréquence cardiaque : aucune donnée du 20 nov. 2026 09:00 au 21 nov. 2026 09:00."
    assert "Aucune donnée pour cette période" in texts(parse(fr))


def test_x_ticks_follow_the_span() -> None:
    hours = parse(time_series("heart-rate", points=heart_rate(7, 60), tz=PARIS, lang="fr"))
    assert [t for t in texts(hours) if ":" in t][:2] == ["10:00", "12:00"]
    days = [Point(T0 + timedelta(days=i), 70.0) for i in range(10)]
    assert [
        t for t in texts(parse(time_series("heart-rate", points=days, tz=PARIS, lang="fr"))) if "nov." in t
    ] == ["22 nov.", "24 nov.", "26 nov.", "28 nov."]
    months = [Point(T0 + timedelta(days=30 * i), 70.0) for i in range(7)]
    labels = texts(parse(time_series("body-weight", points=months, tz=PARIS, lang="en")))
    assert "Jan 2027" in labels and "Mar" in labels


def test_y_ticks_are_nice_numbers_in_the_language() -> None:
    points = [Point(T0 + timedelta(hours=i), v) for i, v in enumerate([36.2, 37.9])]
    labels = texts(parse(time_series("body-temperature", points=points, tz=PARIS, lang="fr")))
    assert "36,5" in labels and "37,5" in labels


def test_invalid_input_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        time_series("heart-rate", points=[Point(datetime(2026, 11, 20, 8), 70.0)], tz=PARIS)
    with pytest.raises(ValueError, match="unknown measure"):
        time_series("pulse-wave", points=heart_rate(), tz=PARIS)
    with pytest.raises(ValueError, match="lang"):
        time_series("heart-rate", points=heart_rate(), tz=PARIS, lang="de")
    with pytest.raises(ValueError, match="chart_id"):
        time_series("heart-rate", points=heart_rate(), tz=PARIS, chart_id='x" onload="y')
    with pytest.raises(ValueError, match="low <= high"):
        time_series("spo2", points=heart_rate(), tz=PARIS, target=(95, 88))
    with pytest.raises(ValueError, match="finite"):
        time_series("spo2", points=heart_rate(), tz=PARIS, target=(88, float("inf")))
    with pytest.raises(ValueError, match="finite"):
        time_series("spo2", points=[Point(T0, float("nan"))], tz=PARIS)
    with pytest.raises(ValueError, match="points or buckets"):
        time_series("heart-rate", points=heart_rate(), buckets=[Bucket(T0, 1, 1, 1, 1)], tz=PARIS)


def test_chart_id_names_every_id_so_two_charts_can_share_a_page() -> None:
    root = parse(time_series("heart-rate", points=heart_rate(), tz=PARIS, chart_id="hr-1"))
    assert root.get("aria-labelledby") == "hr-1-title hr-1-desc"
    other = time_series("heart-rate", points=heart_rate(5), tz=PARIS)
    assert parse(other).get("id") != parse(time_series("heart-rate", points=heart_rate(6), tz=PARIS)).get(
        "id"
    )


def test_jinja_inserts_the_svg_as_markup() -> None:
    chart = time_series("heart-rate", points=heart_rate(), tz=PARIS)
    assert chart.__html__() == chart.svg


def test_a_single_reading_and_an_empty_title() -> None:
    chart = time_series("body-weight", points=[Point(T0, 72.45)], tz=PARIS, lang="en", title=" ")
    root = parse(chart)
    assert len(by_class(root, "hy-chart__point")) == 1
    assert chart.summary.startswith("Weight, from 20 Nov 2026 08:30 to 20 Nov 2026 09:30. Readings: 1.")
    assert chart.table.rows == (("20 Nov 2026 09:00", "72.5"),)


def test_readings_outside_the_period_widen_it_instead_of_leaving_the_axes() -> None:
    chart = time_series(
        "heart-rate",
        points=heart_rate(),
        tz=PARIS,
        lang="en",
        start=T0 + timedelta(minutes=20),
        end=T0 + timedelta(hours=1),
    )
    root = parse(chart)
    xs = [x for x, _ in path_points(by_class(root, "hy-chart__line")[0].get("d") or "")]
    assert min(xs) > 0 and max(xs) < 360
    assert "from 20 Nov 2026 09:00 to 20 Nov 2026 10:00" in chart.summary
