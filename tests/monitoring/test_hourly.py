"""Closed hours of dense streams become standard SampledData Observations, found by FHIR search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from starlette.testclient import TestClient

from hygie.fhir.validation import validate_resource
from hygie.monitoring.hourly import grid, materialize
from hygie.storage import samples
from hygie.storage.samples import SampleRow
from tests.monitoring.test_service import put, run

HOUR = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def rows(n: int, every: int, value: float = 70.0, tag: str = "") -> list[SampleRow]:
    times = [int((HOUR + timedelta(minutes=every * i)).timestamp() * 1000) for i in range(n)]
    return [
        SampleRow(f"{tag}{i}", "hs", "heart-rate", t, None, value + i % 3, None, "watch")
        for i, t in enumerate(times)
    ]


def test_closed_hours_become_sampled_data(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "hs"})
    run(client, lambda env: samples.write(env.store.s, rows(90, 1), now_ms=1_000))  # 08:00-09:29
    # at 09:10 only 08:00-09:00 is closed
    assert run(client, lambda env: materialize(env, 0, HOUR + timedelta(minutes=70))) == 1
    found = client.get(
        "/fhir/Observation?patient=Patient/hs&code=http://loinc.org|8867-4&date=ge2026-11-20"
    ).json()
    assert found["total"] == 1
    obs = found["entry"][0]["resource"]
    assert validate_resource(obs) == []
    data = obs["valueSampledData"]
    assert data["period"] == 60000 and len(data["data"].split()) == 60 and "E" not in data["data"].split()
    assert obs["effectivePeriod"]["start"].startswith("2026-11-20T08:00:00")
    assert obs["device"] == {"reference": "Device/watch"}
    # running again writes nothing; the next hour closes later
    assert run(client, lambda env: materialize(env, 0, HOUR + timedelta(minutes=70))) == 0
    assert run(client, lambda env: materialize(env, 0, HOUR + timedelta(hours=3))) == 1
    # a late, corrected sample for 08:xx: a new version of the same Observation
    late = [SampleRow("0", "hs", "heart-rate", int(HOUR.timestamp() * 1000), None, 120.0, None, "watch")]
    run(client, lambda env: samples.write(env.store.s, late, now_ms=5_000))
    assert run(client, lambda env: materialize(env, 5_000, HOUR + timedelta(hours=3))) == 1
    again = client.get(f"/fhir/Observation/{obs['id']}").json()
    assert again["meta"]["versionId"] == "2" and again["valueSampledData"]["data"].split()[0] == "120"


def test_gaps_are_e_and_the_grid_follows_the_device(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "hs"})
    sparse = [r for r in rows(12, 5, tag="c") if r.key not in ("c3", "c4")]  # a CGM every 5 min, 2 missed
    run(client, lambda env: samples.write(env.store.s, sparse, now_ms=1))
    run(client, lambda env: materialize(env, 0, HOUR + timedelta(hours=2)))
    obs = client.get("/fhir/Observation?patient=Patient/hs").json()["entry"][0]["resource"]
    data = obs["valueSampledData"]
    assert data["period"] == 300000
    assert data["data"].split()[3:5] == ["E", "E"] and len(data["data"].split()) == 12


@pytest.mark.parametrize(("minutes", "expected"), [(1, 1), (2, 1), (5, 5), (10, 5), (15, 15), (60, 15)])
def test_grid(minutes: int, expected: int) -> None:
    times = [HOUR + timedelta(minutes=minutes * i) for i in range(5)]
    assert grid(times) == timedelta(minutes=expected)


def test_an_hour_that_closes_after_its_last_sample_is_written_at_the_next_round(client: TestClient) -> None:
    put(client, {"resourceType": "Patient", "id": "hs"})
    received = int((HOUR + timedelta(minutes=40)).timestamp() * 1000)
    run(client, lambda env: samples.write(env.store.s, rows(40, 1, tag="s"), now_ms=received))
    # a round at 08:45 (the hour is open), then one at 09:05 with nothing new received
    assert run(client, lambda env: materialize(env, 0, HOUR + timedelta(minutes=45))) == 0
    since = int((HOUR + timedelta(minutes=45)).timestamp() * 1000)
    assert run(client, lambda env: materialize(env, since, HOUR + timedelta(minutes=65))) == 1
