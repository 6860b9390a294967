"""Configurable CSV mapping → samples, with per-row errors."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from hygie.fhir.outcome import FhirError
from hygie.fhir.validation import validate_resource
from hygie.monitoring.ingest.csv_mapping import read_csv
from hygie.monitoring.ingest.fhir_out import observation

FRENCH_CUFF = """\ufeffDate;Systolique;Diastolique;Pouls;N° série
20/11/2026 08:01;128;81;64;SN-0042
20/11/2026 20:15;131;79;70;SN-0042
20/11/2026 07:30;122;77;61;SN-0042
21/11/2026 08:00;80;95;60;SN-0042

21/11/2026 20:00;;80;60;SN-0042
30/02/2026 08:00;120;80;60;SN-0042
"""
CUFF_MAPPING: dict[str, Any] = {
    "delimiter": ";",
    "decimal": ",",
    "timezone": "Europe/Paris",
    "time": {"column": "Date", "format": "%d/%m/%Y %H:%M"},
    "kind": {"value": "blood-pressure"},
    "unit": {"value": "mmHg"},
    "components": {"systolic": "Systolique", "diastolic": "Diastolique"},
    "device": {
        "manufacturer": {"value": "Omron"},
        "model": {"value": "M7 Intelli IT"},
        "identifier": "N° série",
    },
}


def test_a_french_cuff_export() -> None:
    result = read_csv(FRENCH_CUFF, CUFF_MAPPING)
    assert [dict(s.components)["systolic"] for s in result.samples] == [128.0, 131.0, 122.0]
    first = result.samples[0]
    assert first.start.isoformat() == "2026-11-20T08:01:00+01:00"
    assert first.device is not None
    assert (first.device.manufacturer, first.device.identifier) == ("Omron", "SN-0042")
    assert [(e.location, e.key, e.field) for e in result.errors] == [
        ("line 5", "ingest_bp_order", "diastolic"),
        ("line 7", "ingest_missing", "systolic"),
        ("line 8", "ingest_time", "time"),
    ]
    for s in result.samples:
        assert validate_resource(observation(s, "Patient/p1")) == []


MIXED = """time,type,value,unit,end,id
2026-11-20T08:00:00+01:00,FC,72,/min,,a1
2026-11-20T08:00:00Z,SpO2,0.96,1,,a2
2026-11-20T08:00:00,Temp,"37,8",Cel,,a3
2026-11-20T08:00:00+01:00,Pas,1 204,{steps},2026-11-20T08:15:00+01:00,a4
2026-11-20T09:00:00+01:00,Glycémie,"1,26",g/L,,a5
2026-11-20T10:00:00+01:00,FC,72,mg/dL,,a6
2026-11-20T11:00:00+01:00,Tension,120,mmHg,,a7
2026-11-20T12:00:00+01:00,FC,soixante,/min,,a8
"""
MIXED_MAPPING: dict[str, Any] = {
    "decimal": ",",
    "delimiter": ",",
    "time": "time",
    "end": "end",
    "kind": {
        "column": "type",
        "values": {
            "FC": "heart-rate",
            "SpO2": "spo2",
            "Temp": "body-temperature",
            "Pas": "steps",
            "Glycémie": "glucose",
        },
    },
    "value": "value",
    "unit": "unit",
    "source_id": "id",
}


def test_kinds_and_units_from_columns_and_per_row_errors() -> None:
    with pytest.raises(FhirError):  # the decimal mark cannot be the delimiter
        read_csv(MIXED, MIXED_MAPPING)
    mapping = {**MIXED_MAPPING, "decimal": "."}
    text = MIXED.replace('"37,8"', "37.8").replace('"1,26"', "1.26")
    result = read_csv(text, mapping)
    assert [(s.kind, s.value, s.source_id) for s in result.samples] == [
        ("heart-rate", 72.0, "a1"),
        ("spo2", 96.0, "a2"),
        ("steps", 1204.0, "a4"),
        ("glucose", pytest.approx(6.9938, abs=1e-4), "a5"),
    ]
    assert [(e.location, e.key) for e in result.errors] == [
        ("line 4", "ingest_naive_time"),  # no timezone in the mapping: refused
        ("line 7", "ingest_unit"),
        ("line 8", "ingest_kind"),
        ("line 9", "ingest_number"),
    ]
    with_zone = read_csv(text, {**mapping, "timezone": "Europe/Paris"})
    temperature = next(s for s in with_zone.samples if s.kind == "body-temperature")
    assert temperature.start == datetime(2026, 11, 20, 8, 0, tzinfo=timezone(timedelta(hours=1)))
    assert temperature.value == 37.8


def test_decimal_comma_and_columns_by_index() -> None:
    text = "20/11/2026 07:00\t36,6\tCel\n20/11/2026 23:00\t1.234,5\tCel\n"
    mapping = {
        "delimiter": "\t",
        "decimal": ",",
        "header": False,
        "timezone": "Europe/Paris",
        "time": {"column": 0, "format": "%d/%m/%Y %H:%M"},
        "kind": {"value": "body-temperature"},
        "value": 1,
        "unit": 2,
    }
    result = read_csv(text, mapping)
    assert [s.value for s in result.samples] == [36.6]
    assert [(e.location, e.key) for e in result.errors] == [("line 2", "ingest_range")]


@pytest.mark.parametrize(
    ("mapping", "field"),
    [
        ({"kind": {"value": "heart-rate"}, "unit": "u", "value": "v"}, "$"),
        ({"time": "t", "kind": {"value": "heart-rate"}, "unit": "u"}, "$"),
        ({"time": "t", "kind": {"value": "heart-rate"}, "unit": "u", "value": "v", "colour": "red"}, "$"),
        ({"time": {"column": "t", "value": "x"}, "kind": "k", "unit": "u", "value": "v"}, "time"),
        ({"time": "t", "kind": "k", "unit": "u", "value": "v", "decimal": ";"}, "decimal"),
        ({"time": "t", "kind": "k", "unit": "u", "value": "v", "timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_invalid_mappings_are_a_400(mapping: dict[str, Any], field: str) -> None:
    with pytest.raises(FhirError) as caught:
        read_csv("t,k,u,v\n", mapping)
    assert caught.value.status == 400
    issue = caught.value.issues[0]
    assert issue.key == "ingest_mapping"
    assert issue.params["field"] == field


def test_same_file_twice_gives_the_same_identifiers() -> None:
    def ids() -> list[str]:
        return [
            observation(s, "Patient/p1")["identifier"][0]["value"]
            for s in read_csv(FRENCH_CUFF, CUFF_MAPPING).samples
        ]

    assert ids() == ids()
    assert len(set(ids())) == 3
