"""``GET /fhir/Patient/{id}/$samples``: raw and aggregated device samples, access, limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from hygie.storage import samples
from hygie.storage.samples import SampleRow
from tests.monitoring.test_service import put, run

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def parts(answer: dict[str, Any], name: str) -> list[dict[str, Any]]:
    out = []
    for p in answer["parameter"]:
        if p["name"] == name:
            out.append({q["name"]: next(v for k, v in q.items() if k.startswith("value")) for q in p["part"]})
    return out


@pytest.fixture
def heart(client: TestClient) -> TestClient:
    put(client, {"resourceType": "Patient", "id": "hp"})
    rows = [
        SampleRow(f"h{i}", "hp", "heart-rate", int((T0 + timedelta(minutes=i)).timestamp() * 1000), None,
                  60.0 + i % 10, None, "watch1")
        for i in range(180)
    ]  # fmt: skip
    run(client, lambda env: samples.write(env.store.s, rows, now_ms=1))
    return client


def test_hourly_buckets(heart: TestClient) -> None:
    answer = heart.get(
        "/fhir/Patient/hp/$samples?measure=heart-rate&start=2026-11-20T08:00:00Z&end=2026-11-20T11:00:00Z"
    )
    assert answer.status_code == 200, answer.text
    buckets = parts(answer.json(), "bucket")
    assert [b["start"] for b in buckets] == [
        "2026-11-20T08:00:00Z",
        "2026-11-20T09:00:00Z",
        "2026-11-20T10:00:00Z",
    ]
    assert all(b["count"] == 60 and b["min"] == 60 and b["max"] == 69 and b["mean"] == 64.5 for b in buckets)


def test_raw_and_minute(heart: TestClient) -> None:
    url = "/fhir/Patient/hp/$samples?measure=heart-rate&start=2026-11-20T08:00:00Z&end=2026-11-20T08:05:00Z"
    raw = parts(heart.get(url + "&grain=raw").json(), "point")
    assert [p["value"] for p in raw] == [60, 61, 62, 63, 64]
    assert raw[0]["device"] == {"reference": "Device/watch1"} and raw[0]["time"] == "2026-11-20T08:00:00Z"
    minutes = parts(heart.get(url + "&grain=minute").json(), "bucket")
    assert [m["count"] for m in minutes] == [1, 1, 1, 1, 1]


def test_day_buckets(heart: TestClient) -> None:
    answer = heart.get(
        "/fhir/Patient/hp/$samples?measure=heart-rate&grain=day&start=2026-11-20T00:00:00Z&end=2026-11-21T00:00:00Z"
    )
    days = parts(answer.json(), "bucket")
    assert len(days) == 1 and days[0]["count"] == 180


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("", 400),
        ("measure=heart-rate&grain=week", 400),
        ("measure=heart-rate&start=yesterday", 400),
        ("measure=heart-rate&start=2026-11-20T08:00:00", 400),
        ("measure=heart-rate&start=2026-11-21T00:00:00Z&end=2026-11-20T00:00:00Z", 400),
        ("measure=heart-rate&grain=minute&start=2026-01-01T00:00:00Z&end=2026-11-20T00:00:00Z", 422),
    ],
)
def test_bad_parameters(heart: TestClient, query: str, status: int) -> None:
    answer = heart.get(f"/fhir/Patient/hp/$samples?{query}")
    assert answer.status_code == status
    assert answer.json()["resourceType"] == "OperationOutcome"


def test_access(heart: TestClient, settings: Any) -> None:
    from tests.support import operator_header

    assert heart.get("/fhir/Patient/nobody/$samples?measure=heart-rate").status_code == 404
    other = operator_header(settings, scope="patient/*.rs", patient="someone-else")
    assert heart.get("/fhir/Patient/hp/$samples?measure=heart-rate", headers=other).status_code == 404
    own = operator_header(settings, scope="patient/*.rs", patient="hp")
    assert heart.get("/fhir/Patient/hp/$samples?measure=heart-rate", headers=own).status_code == 200
    no_obs = operator_header(settings, scope="patient/Patient.rs", patient="hp")
    assert heart.get("/fhir/Patient/hp/$samples?measure=heart-rate", headers=no_obs).status_code == 403
    assert heart.post("/fhir/Patient/hp/$samples?measure=heart-rate").status_code == 405
