"""``GET /fhir/Patient/{id}/$cgm-metrics`` over stored CGM samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.testclient import TestClient

from hygie.storage import samples
from hygie.storage.samples import SampleRow
from tests.monitoring.test_service import put, run

END = datetime(2026, 11, 20, tzinfo=UTC)


def values(answer: dict[str, Any]) -> dict[str, Any]:
    return {
        p["name"]: next(v for k, v in p.items() if k.startswith("value"))
        for p in answer["parameter"]
        if "part" not in p
    }


def test_fourteen_days_of_cgm(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "dia"})
    start = END - timedelta(days=14)
    rows = []
    for i in range(14 * 288):  # every 5 minutes; one reading in ten at 2.8 mmol/L, the rest 7.0
        at = start + timedelta(minutes=5 * i)
        value = 2.8 if i % 10 == 0 else 7.0
        rows.append(
            SampleRow(
                f"g{i}", "dia", "interstitial-glucose", int(at.timestamp() * 1000), None, value, None, "cgm"
            )
        )
    run(client, lambda env: samples.write(env.store.s, rows, now_ms=1))
    answer = client.get(
        "/fhir/Patient/dia/$cgm-metrics", params={"start": start.isoformat(), "end": END.isoformat()}
    )
    assert answer.status_code == 200, answer.text
    got = values(answer.json())
    assert got["count"] == 14 * 288
    assert got["sufficient"] is True and got["capture"] == 100
    low = len(range(0, 14 * 288, 10))  # 404 readings at 2.8 mmol/L
    assert got["tbr2"] == round(100 * low / (14 * 288), 2) and got["tir"] == round(100 - got["tbr2"], 2)
    assert got["target-tbr2"] is False and got["target-tir"] is True
    agp = [p for p in answer.json()["parameter"] if p["name"] == "agp"]
    assert len(agp) == 24


def test_no_data_and_bad_parameters(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "none"})
    assert values(client.get("/fhir/Patient/none/$cgm-metrics").json())["count"] == 0
    assert client.get("/fhir/Patient/none/$cgm-metrics?agp-bin=7").status_code == 400
    # digits outside ASCII ("²".isdigit() is True, int("²") a ValueError): refused, never a 500
    for digits in ("²", "١٥", "６０"):
        answer = client.get(f"/fhir/Patient/none/$cgm-metrics?agp-bin={digits}")
        assert answer.status_code == 400 and answer.json()["resourceType"] == "OperationOutcome"
    assert client.get("/fhir/Patient/none/$cgm-metrics?start=2020-01-01T00:00:00Z").status_code == 400
    assert client.get("/fhir/Patient/missing/$cgm-metrics").status_code == 404
