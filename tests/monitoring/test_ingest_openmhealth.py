"""Open mHealth data points → samples, validated against the shipped schemas."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from hygie.fhir.outcome import FhirError
from hygie.fhir.validation import validate_resource
from hygie.monitoring.ingest.fhir_out import observation
from hygie.monitoring.ingest.omh_schemas import SUPPORTED
from hygie.monitoring.ingest.openmhealth import read_openmhealth

UPSTREAM = Path(__file__).resolve().parents[3] / "shared" / "data" / "openmhealth-schemas"
SHIPPED = Path(__file__).resolve().parents[2] / "hygie" / "monitoring" / "data" / "omh"
AT = "2026-11-20T08:01:00+01:00"


def point(
    name: str, version: str, body: dict[str, Any], pid: str = "dp-1", source: str | None = "Omron Connect"
) -> dict[str, Any]:
    header: dict[str, Any] = {
        "id": pid,
        "creation_date_time": "2026-11-20T08:05:00+01:00",
        "schema_id": {"namespace": "omh", "name": name, "version": version},
    }
    if source:
        header["acquisition_provenance"] = {"source_name": source, "modality": "sensed"}
    return {"header": header, "body": body}


def at(when: str = AT) -> dict[str, Any]:
    return {"date_time": when}


def interval(start: str, end: str) -> dict[str, Any]:
    return {"time_interval": {"start_date_time": start, "end_date_time": end}}


EXAMPLES = [
    point(
        "heart-rate",
        "2.0",
        {
            "heart_rate": {"value": 62, "unit": "beats/min"},
            "effective_time_frame": at(),
            "temporal_relationship_to_physical_activity": "at rest",
        },
    ),
    point(
        "blood-pressure",
        "4.0",
        {
            "systolic_blood_pressure": {"value": 132, "unit": "mmHg"},
            "diastolic_blood_pressure": {"value": 84, "unit": "mmHg"},
            "effective_time_frame": at(),
            "body_posture": "sitting",
        },
    ),
    point(
        "blood-glucose",
        "4.0",
        {
            "blood_glucose": {"value": 110, "unit": "mg/dL"},
            "effective_time_frame": at(),
            "specimen_source": "capillary blood",
            "temporal_relationship_to_meal": "fasting",
        },
    ),
    point(
        "blood-glucose",
        "4.0",
        {
            "blood_glucose": {"value": 7.2, "unit": "mmol/L"},
            "effective_time_frame": at(),
            "specimen_source": "interstitial fluid",
        },
    ),
    point(
        "step-count",
        "3.0",
        {
            "step_count": {"value": 1432, "unit": "steps"},
            "effective_time_frame": {
                "time_interval": {
                    "start_date_time": "2026-11-20T08:00:00Z",
                    "duration": {"value": 15, "unit": "min"},
                }
            },
        },
    ),
    point(
        "sleep-duration",
        "2.0",
        {
            "sleep_duration": {"value": 6.5, "unit": "h"},
            "effective_time_frame": interval("2026-11-19T23:10:00+01:00", "2026-11-20T06:40:00+01:00"),
        },
    ),
    point(
        "sleep-episode",
        "1.1",
        {
            "effective_time_frame": interval("2026-11-19T23:10:00+01:00", "2026-11-20T06:40:00+01:00"),
            "total_sleep_time": {"value": 400, "unit": "min"},
            "is_main_sleep": True,
        },
    ),
    point(
        "oxygen-saturation",
        "2.0",
        {
            "oxygen_saturation": {"value": 96, "unit": "%"},
            "effective_time_frame": at(),
            "measurement_method": "pulse oximetry",
        },
    ),
    point(
        "body-temperature",
        "4.0",
        {
            "body_temperature": {"value": 99.1, "unit": "F"},
            "effective_time_frame": at(),
            "measurement_location": "oral",
        },
    ),
    point(
        "respiratory-rate",
        "2.0",
        {"respiratory_rate": {"value": 16, "unit": "breaths/min"}, "effective_time_frame": at()},
    ),
    point("body-weight", "3.0", {"body_weight": {"value": 72.4, "unit": "kg"}, "effective_time_frame": at()}),
]
for _n, _p in enumerate(EXAMPLES):
    _p["header"]["id"] = f"dp-{_n + 1}"


def test_shipped_schemas_are_unmodified_copies() -> None:
    shipped = sorted(p.name for p in SHIPPED.glob("*.json") if p.name != "index.json")
    assert len(shipped) >= len(SUPPORTED)
    for name in shipped:
        assert json.loads((SHIPPED / name).read_text("utf-8")) == json.loads(
            (UPSTREAM / name).read_text("utf-8")
        )
    assert (SHIPPED / "LICENSE.md").read_text("utf-8").count("Apache License, Version 2.0") == 1


def test_realistic_data_points() -> None:
    result = read_openmhealth(json.dumps(EXAMPLES))
    assert result.errors == []
    got = {(s.kind, s.value, s.components) for s in result.samples}
    assert got == {
        ("heart-rate", 62.0, ()),
        ("blood-pressure", None, (("systolic", 132.0), ("diastolic", 84.0))),
        ("glucose", 6.1057, ()),
        ("interstitial-glucose", 7.2, ()),
        ("steps", 1432.0, ()),
        ("sleep", 390.0, ()),
        ("sleep", 400.0, ()),
        ("spo2", 96.0, ()),
        ("body-temperature", 37.2778, ()),
        ("respiratory-rate", 16.0, ()),
        ("body-weight", 72.4, ()),
    }
    steps = next(s for s in result.samples if s.kind == "steps")
    assert steps.end is not None and steps.end - steps.start == timedelta(minutes=15)
    hr = result.samples[0]
    assert hr.start == datetime(2026, 11, 20, 8, 1, tzinfo=timezone(timedelta(hours=1)))
    assert hr.source_id == "dp-1"
    assert hr.device is not None and hr.device.source == "Omron Connect"
    for s in result.samples:
        assert validate_resource(observation(s, "Patient/p1")) == []


def test_a_single_data_point_and_an_end_plus_duration() -> None:
    body = {
        "heart_rate": {"value": 70, "unit": "beats/min"},
        "effective_time_frame": {
            "time_interval": {
                "end_date_time": "2026-11-20T09:00:00Z",
                "duration": {"value": 5, "unit": "min"},
            }
        },
        "descriptive_statistic": "average",
    }
    result = read_openmhealth(point("heart-rate", "2.0", body, source=None))
    assert result.errors == []
    (s,) = result.samples
    assert s.end is not None and (s.end - s.start) == timedelta(minutes=5)
    assert s.device is None


def test_bad_points_are_errors_and_the_rest_goes_on() -> None:
    bad = [
        point(
            "heart-rate", "2.0", {"heart_rate": {"value": 62, "unit": "bpm"}, "effective_time_frame": at()}
        ),
        point(
            "heart-rate",
            "2.0",
            {"heart_rate": {"value": 400, "unit": "beats/min"}, "effective_time_frame": at()},
        ),
        point(
            "heart-rate",
            "2.0",
            {
                "heart_rate": {"value": 62, "unit": "beats/min"},
                "effective_time_frame": at("2026-11-20T08:01:00"),
            },
        ),
        point(
            "heart-rate",
            "1.0",
            {"heart_rate": {"value": 62, "unit": "beats/min"}, "effective_time_frame": at()},
        ),
        point("geoposition", "1.0", {}),
        {"header": {"id": "x"}, "body": {}},
        point(
            "blood-pressure",
            "4.0",
            {
                "systolic_blood_pressure": {"value": 80, "unit": "mmHg"},
                "diastolic_blood_pressure": {"value": 95, "unit": "mmHg"},
                "effective_time_frame": at(),
            },
        ),
        point(
            "body-weight",
            "3.0",
            {"body_weight": {"value": 72, "unit": "Metric Ton"}, "effective_time_frame": at()},
        ),
        point(
            "step-count", "3.0", {"step_count": {"value": 10, "unit": "steps"}, "effective_time_frame": at()}
        ),
        point(
            "sleep-duration",
            "2.0",
            {
                "sleep_duration": {"value": 7, "unit": "h"},
                "effective_time_frame": {"time_interval": {"date": "2026-11-20", "part_of_day": "night"}},
            },
        ),
        EXAMPLES[0],
    ]
    result = read_openmhealth(bad)
    assert len(result.samples) == 1
    assert [(e.index, e.key) for e in result.errors] == [
        (0, "ingest_schema"),
        (1, "ingest_range"),
        (2, "ingest_naive_time"),
        (3, "ingest_schema_unsupported"),
        (4, "ingest_schema_unsupported"),
        (5, "ingest_schema"),
        (6, "ingest_bp_order"),
        (7, "ingest_unit"),
        (8, "ingest_schema"),
        (9, "ingest_time_frame"),
    ]
    assert result.errors[0].field == "body.heart_rate.unit"
    assert result.errors[0].location == "[0]"
    assert "beats/min" in result.errors[0].message("en")
    assert "omh:heart-rate:1.0" in result.errors[3].message("fr")


def test_not_json_or_not_data_points_is_a_400() -> None:
    with pytest.raises(FhirError) as caught:
        read_openmhealth(b"{not json")
    assert caught.value.status == 400
    with pytest.raises(FhirError):
        read_openmhealth([1, 2])


def test_same_points_twice_give_the_same_identifiers() -> None:
    first = [observation(s, "Patient/p1")["identifier"] for s in read_openmhealth(EXAMPLES).samples]
    second = [observation(s, "Patient/p1")["identifier"] for s in read_openmhealth(EXAMPLES).samples]
    assert first == second
    assert len({json.dumps(i) for i in first}) == len(first)
