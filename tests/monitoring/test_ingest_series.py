"""The compact ``series`` batch format: values on a grid or timed points, checked per value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from hygie.fhir.outcome import FhirError
from hygie.monitoring.ingest.series import read_series
from tests.monitoring.test_service import put

START = "2026-11-20T08:00:00+01:00"


def series(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "heart-rate",
        "unit": "/min",
        "device": {"manufacturer": "Withings", "model": "ScanWatch", "identifier": "00:24:e4:aa"},
        "start": START,
        "period": 60,
        "values": [72, 71, None, 75],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def test_values_on_a_grid() -> None:
    result = read_series(series())
    assert result.errors == []
    assert [s.value for s in result.samples] == [72, 71, 75]
    t0 = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    assert [s.start for s in result.samples] == [t0, t0 + timedelta(minutes=1), t0 + timedelta(minutes=3)]
    assert result.samples[0].device is not None and result.samples[0].device.model == "ScanWatch"


def test_points_and_unit_conversion() -> None:
    body = series(kind="interstitial-glucose", unit="mg/dL", values=..., start=..., period=...,
                  points=[["2026-11-20T08:00:00Z", 90], ["2026-11-20T08:07:00Z", 180.16]])  # fmt: skip
    result = read_series(body)
    assert [round(s.value or 0, 2) for s in result.samples] == [5.0, 10.0]
    assert {s.kind for s in result.samples} == {"interstitial-glucose"}


def test_bad_values_are_per_record_errors() -> None:
    result = read_series(
        [series(values=[72, 400, "x", True]), series(start="2026-11-21T08:00:00Z", values=[60])]
    )
    assert [s.value for s in result.samples] == [72, 60]
    assert [(e.location, e.key) for e in result.errors] == [
        ("[0].values[1]", "ingest_range"),
        ("[0].values[2]", "ingest_number"),
        ("[0].values[3]", "ingest_number"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        series(kind="furlongs"),
        series(unit="K"),
        series(kind="steps", unit="{steps}"),  # an interval kind needs its own ends
        series(kind="blood-pressure", unit="mm[Hg]"),  # components: not a single series
        series(start="2026-11-20T08:00:00"),  # no time zone
        series(period=0),
        series(period=True),
        series(values="72"),
        series(values=..., start=..., period=...),
        series(device={"colour": "blue"}),
        series(points=[["2026-11-20T08:00:00Z"]], values=...),
        "not an object",
    ],
)
def test_malformed_headers_refuse_the_body(body: Any) -> None:
    with pytest.raises(FhirError) as caught:
        read_series([body] if isinstance(body, str) else body)
    assert caught.value.status == 400


def test_through_ingest(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "ser"})
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    body = series(start=(now - timedelta(minutes=599)).isoformat(), values=[70 + i % 20 for i in range(600)])
    first = client.post("/fhir/Patient/ser/$ingest", json=body)
    assert first.status_code == 200, first.text
    assert "nouveaux : 600" in first.json()["issue"][0]["diagnostics"]
    again = client.post("/fhir/Patient/ser/$ingest?format=series", json=body)
    assert "inchangés : 600" in again.json()["issue"][0]["diagnostics"]
