"""Withings-style getmeas JSON → samples (layout from Withings' public API reference)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from hygie.fhir.outcome import FhirError
from hygie.fhir.validation import validate_resource
from hygie.monitoring.ingest.fhir_out import observation
from hygie.monitoring.ingest.withings import read_withings

DEVICE = "892359876fd8805ac45bab078c4828692f0276b1"
MORNING = 1795158060  # 2026-11-20T07:01:00Z


def group(grpid: int, date: int, measures: list[dict[str, Any]], category: int = 1) -> dict[str, Any]:
    return {
        "grpid": grpid,
        "attrib": 0,
        "date": date,
        "created": date + 5,
        "modified": date + 5,
        "category": category,
        "deviceid": DEVICE,
        "hash_deviceid": DEVICE,
        "measures": measures,
        "comment": None,
    }


def m(value: int, mtype: int, unit: int) -> dict[str, Any]:
    return {"value": value, "type": mtype, "unit": unit, "algo": 0, "fm": 131}


PAYLOAD = {
    "status": 0,
    "body": {
        "updatetime": MORNING + 600,
        "timezone": "Europe/Paris",
        "measuregrps": [
            group(5001, MORNING + 3600, [m(12800, 10, -2), m(8100, 9, -2), m(64, 11, 0)]),  # out of order
            group(5000, MORNING, [m(72450, 1, -3), m(1820, 6, -2)]),  # weight + fat ratio (skipped)
            group(5002, MORNING + 7200, [m(97, 54, 0), m(3690, 71, -2), m(3312, 73, -2), m(368, 12, -1)]),
            group(5003, MORNING, [m(75, 1, 0)], category=2),  # an objective, not a measure
        ],
        "more": 0,
        "offset": 0,
    },
}


def test_a_realistic_answer() -> None:
    result = read_withings(json.dumps(PAYLOAD))
    assert result.errors == []
    got = [(s.kind, s.value, s.components, s.source_id) for s in result.samples]
    assert got == [
        ("heart-rate", 64.0, (), "5001:11"),
        ("blood-pressure", None, (("systolic", 128.0), ("diastolic", 81.0)), "5001:bp"),
        ("body-weight", 72.45, (), "5000:1"),
        ("spo2", 97.0, (), "5002:54"),
        ("body-temperature", 36.9, (), "5002:71"),
        ("skin-temperature", 33.12, (), "5002:73"),
        ("body-temperature", 36.8, (), "5002:12"),
    ]
    assert result.skipped == {"type 6": 1, "objective (category 2)": 1}
    weight = result.samples[2]
    assert weight.start == datetime(2026, 11, 20, 7, 1, tzinfo=UTC)
    assert weight.start.utcoffset() is not None and weight.start.isoformat().endswith(
        "+01:00"
    )  # Europe/Paris
    assert weight.device is not None
    assert (weight.device.manufacturer, weight.device.identifier) == ("Withings", DEVICE)
    for s in result.samples:
        assert validate_resource(observation(s, "Patient/p1", "Device/w1")) == []


def test_bad_measures_are_errors_and_the_rest_goes_on() -> None:
    payload = {
        "status": 0,
        "body": {
            "measuregrps": [
                group(1, MORNING, [m(35, 11, 1)]),  # 350 bpm
                group(2, MORNING, [m(12800, 10, -2)]),  # systolic without diastolic
                group(3, MORNING, [m(8000, 10, -2), m(9000, 9, -2)]),  # diastolic above systolic
                group(4, MORNING, [{"type": 1, "value": "heavy", "unit": 0}]),
                {"grpid": 5, "date": "yesterday", "category": 1, "measures": []},
                "not a group",
                group(7, MORNING, [m(7000, 1, -3)]),
            ]
        },
    }
    result = read_withings(payload)
    assert [s.value for s in result.samples] == [7.0]
    assert [(e.index, e.key, e.location) for e in result.errors] == [
        (0, "ingest_range", "measuregrps[0].measures[0]"),
        (1, "ingest_bp_unpaired", "measuregrps[1]"),
        (2, "ingest_bp_order", "measuregrps[2]"),
        (3, "ingest_number", "measuregrps[3].measures[0]"),
        (4, "ingest_time", "measuregrps[4]"),
        (5, "ingest_withings_shape", "measuregrps[5]"),
    ]


def test_same_answer_twice_gives_the_same_identifiers() -> None:
    def ids() -> list[str]:
        return [
            observation(s, "Patient/p1")["identifier"][0]["value"] for s in read_withings(PAYLOAD).samples
        ]

    assert ids() == ids()
    assert len(set(ids())) == len(ids())


@pytest.mark.parametrize(
    "payload", [b"[1, 2", {"status": 401, "error": "invalid_token"}, {"status": 0, "body": {}}, [1]]
)
def test_unusable_answers_are_a_400(payload: Any) -> None:
    with pytest.raises(FhirError) as caught:
        read_withings(payload)
    assert caught.value.status == 400
