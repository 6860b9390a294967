"""SampledData Observations → sample rows (FHIR R4 datatypes.html#SampledData)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from hygie.monitoring.sampled_in import rows_from_sampled


def obs(code: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": "o1",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "effectivePeriod": {"start": "2026-11-20T08:00:00+01:00"},
        "device": {"reference": "Device/w1"},
        "valueSampledData": data,
        **extra,
    }


def test_values_times_units_and_gaps() -> None:
    data = {"origin": {"value": 0, "code": "/min"}, "period": 60000, "dimensions": 1, "data": "70 E 72 U 74"}
    rows = rows_from_sampled(obs("8867-4", data), "p1")
    assert [r.value for r in rows] == [70, 72, 74]
    assert [r.t - rows[0].t for r in rows] == [0, 120000, 240000]
    assert rows[0].t == int(datetime(2026, 11, 20, 7, 0, tzinfo=UTC).timestamp() * 1000)
    assert {r.measure for r in rows} == {"heart-rate"} and {r.device for r in rows} == {"w1"}
    assert rows_from_sampled(obs("8867-4", data), "p1") == rows  # same keys: idempotent


def test_origin_factor_and_conversion() -> None:
    data = {
        "origin": {"value": 100, "code": "mg/dL"},
        "factor": 2,
        "period": 300000,
        "dimensions": 1,
        "data": "0 -10",
    }
    rows = rows_from_sampled(obs("15074-8", data), "p1")
    assert [round(r.value or 0, 2) for r in rows] == [5.55, 4.44]  # 100 and 80 mg/dL in mmol/L


@pytest.mark.parametrize(
    "change",
    [
        {"code": {"coding": [{"system": "http://loinc.org", "code": "0000-0"}]}},
        {"status": "entered-in-error"},
        {"effectivePeriod": {"start": "2026-11-20T08:00:00"}},
        {"valueSampledData": {"origin": {"value": 0, "code": "furlong"}, "period": 1000, "data": "1"}},
        {"valueSampledData": {"origin": {"value": 0, "code": "/min"}, "period": 0, "data": "1"}},
    ],
)
def test_unusable_observations_give_nothing(change: dict[str, Any]) -> None:
    data = {"origin": {"value": 0, "code": "/min"}, "period": 60000, "dimensions": 1, "data": "70"}
    assert rows_from_sampled({**obs("8867-4", data), **change}, "p1") == []
