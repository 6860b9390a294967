"""Chart inputs read from the real ``$samples`` and ``$cgm-metrics`` answers (both databases)
and from hand-made answers with malformed parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from starlette.testclient import TestClient

from hygie.monitoring.cgm import AgpBin
from hygie.storage import samples
from hygie.storage.samples import SampleRow
from hygie.web.charts import (
    Bucket,
    Point,
    agp_chart,
    cgm_agp,
    cgm_percent,
    samples_buckets,
    samples_points,
    time_series,
    tir_chart,
)
from tests.monitoring.test_service import put, run
from tests.web.charts.support import by_class, parse, path_moves

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def test_samples_answer_to_a_chart_with_its_gap(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "hp"})
    minutes = [*range(30), *range(120, 150)]  # an hour and a half without data
    rows = [
        SampleRow(f"h{i}", "hp", "heart-rate", ms(T0 + timedelta(minutes=i)), None, 60.0 + i % 7, None, "w")
        for i in minutes
    ]
    run(client, lambda env: samples.write(env.store.s, rows, now_ms=1))
    url = "/fhir/Patient/hp/$samples?measure=heart-rate&start=2026-11-20T08:00:00Z&end=2026-11-20T11:00:00Z"
    raw = client.get(url + "&grain=raw")
    assert raw.status_code == 200, raw.text
    points = samples_points(raw.json())
    assert len(points) == 60 and points[0] == Point(T0, 60.0)
    chart = time_series(
        "heart-rate", points=points, tz=PARIS, lang="fr", start=T0, end=T0 + timedelta(hours=3)
    )
    assert len(chart.table.rows) == 60 and chart.table.rows[1] == ("20 nov. 2026 09:01", "61")
    assert path_moves(by_class(parse(chart), "hy-chart__line")[0].get("d") or "") == 2
    hourly = samples_buckets(client.get(url).json())
    assert [b.count for b in hourly] == [30, 30]
    assert hourly[0] == Bucket(T0, 30, hourly[0].mean, 60.0, 66.0)
    parse(time_series("heart-rate", buckets=hourly, tz=PARIS, lang="en"))


def test_blood_pressure_pairs_from_samples(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "bp"})
    rows = [
        SampleRow(f"b{i}", "bp", "blood-pressure", ms(T0 + timedelta(days=i)), None, 130.0 + i, 85.0, "cuff")
        for i in range(3)
    ]
    run(client, lambda env: samples.write(env.store.s, rows, now_ms=1))
    answer = client.get(
        "/fhir/Patient/bp/$samples?measure=blood-pressure&grain=raw"
        "&start=2026-11-20T00:00:00Z&end=2026-11-25T00:00:00Z"
    )
    points = samples_points(answer.json())
    assert [(p.value, p.value2) for p in points] == [(130, 85), (131, 85), (132, 85)]
    assert time_series("blood-pressure", points=points, tz=PARIS, lang="en").table.rows[0][1:] == (
        "130",
        "85",
    )


def test_cgm_metrics_answer_to_tir_and_agp(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "dia"})
    start = T0 - timedelta(days=2)
    rows = [
        SampleRow(
            f"g{i}",
            "dia",
            "interstitial-glucose",
            ms(start + timedelta(minutes=5 * i)),
            None,
            2.8 if i % 10 == 0 else 7.0,
            None,
            "cgm",
        )
        for i in range(2 * 288)
    ]
    run(client, lambda env: samples.write(env.store.s, rows, now_ms=1))
    answer = client.get(
        "/fhir/Patient/dia/$cgm-metrics", params={"start": start.isoformat(), "end": T0.isoformat()}
    )
    assert answer.status_code == 200, answer.text
    percent = cgm_percent(answer.json())
    assert percent == {"tbr2": 10.07, "tbr1": 0.0, "tir": 89.93, "tar1": 0.0, "tar2": 0.0}
    tir = tir_chart(percent, lang="fr", days=2)
    assert tir.table.rows[4][2] == "10,1\u202f%"  # very low, last row
    bins = cgm_agp(answer.json())
    assert len(bins) == 24 and all(b.count == 24 for b in bins)
    agp = agp_chart(bins, lang="fr")
    assert len(agp.table.rows) == 24
    parse(tir)
    parse(agp)
    empty = client.get(
        "/fhir/Patient/dia/$cgm-metrics",
        params={"start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"},
    )
    assert cgm_percent(empty.json()) == {} and cgm_agp(empty.json()) == []


def test_malformed_parts_are_skipped_not_guessed() -> None:
    answer = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "point",
                "part": [
                    {"name": "time", "valueInstant": "2026-11-20T08:00:00Z"},
                    {"name": "value", "valueDecimal": 70},
                ],
            },
            {
                "name": "point",
                "part": [
                    {"name": "time", "valueInstant": "2026-11-20T08:01:00"},
                    {"name": "value", "valueDecimal": 71},
                ],
            },  # no time zone
            {"name": "point", "part": [{"name": "time", "valueInstant": "yesterday"}]},
            {
                "name": "point",
                "part": [
                    {"name": "time", "valueInstant": "2026-11-20T08:02:00Z"},
                    {"name": "value", "valueBoolean": True},
                ],
            },
            {"name": "point"},
            "junk",
            {
                "name": "bucket",
                "part": [
                    {"name": "start", "valueInstant": "2026-11-20T08:00:00Z"},
                    {"name": "count", "valueInteger": 2},
                ],
            },
            {
                "name": "agp",
                "part": [{"name": "minute", "valueInteger": 0}, {"name": "count", "valueInteger": 1}],
            },
            {"name": "tir", "valueDecimal": 100},
        ],
    }
    assert samples_points(answer) == [Point(T0, 70.0)]
    assert samples_buckets(answer) == []
    assert cgm_agp(answer) == [AgpBin(0, 1, {})]
    assert cgm_percent(answer) == {}
