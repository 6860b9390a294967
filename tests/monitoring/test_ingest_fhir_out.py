"""Samples → FHIR: valid Observations and Devices, idempotent identifiers, SampledData."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from hygie.fhir.validation import validate_resource
from hygie.monitoring.ingest.catalogue import kinds
from hygie.monitoring.ingest.fhir_out import (
    SAMPLE_SYSTEM,
    device,
    device_key,
    observation,
    sampled_data,
)
from hygie.monitoring.ingest.samples import DeviceInfo, Sample

PARIS = timezone(timedelta(hours=1))
T = datetime(2026, 11, 20, 8, 1, tzinfo=PARIS)
WATCH = DeviceInfo(
    manufacturer="Apple Inc.",
    model="Watch",
    model_number="Watch6,1",
    name="Apple Watch",
    source="Montre de Jeanne",
    version="11.1",
)


def one(kind: str) -> Sample:
    if kind == "blood-pressure":
        return Sample(kind, T, None, None, (("systolic", 128.0), ("diastolic", 82.0)), WATCH)
    if kinds()[kind].shape == "interval":
        return Sample(kind, T, T + timedelta(minutes=15), 420.0, (), WATCH, "rec-1")
    return Sample(kind, T, None, 37.2 if "temperature" in kind else 72.0, (), WATCH)


def ident(obs: dict[str, object]) -> str:
    identifiers = obs["identifier"]
    assert isinstance(identifiers, list)
    assert identifiers[0]["system"] == SAMPLE_SYSTEM
    value = identifiers[0]["value"]
    assert isinstance(value, str)
    return value


@pytest.mark.parametrize("kind", sorted(kinds()))
def test_every_kind_gives_a_valid_observation(kind: str) -> None:
    obs = observation(one(kind), "Patient/p1", "Device/d1")
    assert validate_resource(obs) == []
    k = kinds()[kind]
    assert obs["code"]["coding"][0] == {"system": "http://loinc.org", "code": k.loinc, "display": k.display}
    assert obs["category"][0]["coding"][0]["code"] == k.category
    assert obs["device"] == {"reference": "Device/d1"}
    assert obs["subject"] == {"reference": "Patient/p1"}
    assert ("meta" in obs) is (k.profile is not None)


def test_vital_signs_shape() -> None:
    hr = observation(one("heart-rate"), "Patient/p1")
    assert hr["meta"] == {"profile": ["http://hl7.org/fhir/StructureDefinition/heartrate"]}
    assert hr["effectiveDateTime"] == "2026-11-20T08:01:00+01:00"
    assert hr["valueQuantity"] == {
        "value": 72,
        "unit": "beats/minute",
        "system": "http://unitsofmeasure.org",
        "code": "/min",
    }
    assert "device" not in hr
    spo2 = observation(Sample("spo2", T, None, 97.5), "Patient/p1")
    assert [c["code"] for c in spo2["code"]["coding"]] == ["2708-6", "59408-5"]
    assert spo2["valueQuantity"]["value"] == 97.5
    bp = observation(one("blood-pressure"), "Patient/p1")
    assert "valueQuantity" not in bp
    assert [
        (c["code"]["coding"][0]["code"], c["valueQuantity"]["value"], c["valueQuantity"]["code"])
        for c in bp["component"]
    ] == [("8480-6", 128, "mm[Hg]"), ("8462-4", 82, "mm[Hg]")]
    steps = observation(one("steps"), "Patient/p1")
    assert steps["effectivePeriod"] == {
        "start": "2026-11-20T08:01:00+01:00",
        "end": "2026-11-20T08:16:00+01:00",
    }
    assert steps["valueQuantity"]["code"] == "{steps}"


def test_identifiers_are_idempotent_and_ignore_the_value() -> None:
    a = observation(one("heart-rate"), "Patient/p1")
    again = observation(one("heart-rate"), "Patient/p1")
    corrected = observation(Sample("heart-rate", T, None, 75.0, (), WATCH), "Patient/p1")
    assert ident(a) == ident(again) == ident(corrected)
    # The same instant written in UTC is the same reading.
    utc = observation(Sample("heart-rate", T.astimezone(UTC), None, 72.0, (), WATCH), "Patient/p1")
    assert ident(utc) == ident(a)
    # A software update does not change the device identity.
    updated = observation(
        Sample("heart-rate", T, None, 72.0, (), replace(WATCH, version="12.0")), "Patient/p1"
    )
    assert ident(updated) == ident(a)


@pytest.mark.parametrize(
    "other",
    [
        Sample("heart-rate", T + timedelta(minutes=1), None, 72.0, (), WATCH),
        Sample("heart-rate", T, T + timedelta(minutes=5), 72.0, (), WATCH),
        Sample("respiratory-rate", T, None, 72.0, (), WATCH),
        Sample("heart-rate", T, None, 72.0, (), DeviceInfo(manufacturer="Withings", identifier="abc")),
        Sample("heart-rate", T, None, 72.0, (), None),
        Sample("heart-rate", T, None, 72.0, (), WATCH, "source-42"),
    ],
)
def test_identifiers_differ_by_time_kind_device_and_source_id(other: Sample) -> None:
    base = ident(observation(one("heart-rate"), "Patient/p1"))
    assert ident(observation(other, "Patient/p1")) != base
    assert ident(observation(one("heart-rate"), "Patient/p2")) != base


def test_device_resource() -> None:
    resource = device(WATCH, "Patient/p1")
    assert validate_resource(resource) == []
    assert resource["manufacturer"] == "Apple Inc."
    assert resource["modelNumber"] == "Watch6,1"
    assert {"name": "Apple Watch", "type": "user-friendly-name"} in resource["deviceName"]
    assert resource["identifier"][0]["value"] == device_key(WATCH)
    withings = DeviceInfo(manufacturer="Withings", identifier="892359876fd8805ac45bab078c4828692f0276b1")
    assert device(withings)["serialNumber"] == withings.identifier
    assert device_key(withings) != device_key(WATCH)
    assert device_key(
        DeviceInfo(manufacturer="Withings", identifier=withings.identifier, version="2")
    ) == device_key(withings)


def test_sampled_data_for_a_regular_series() -> None:
    series = [
        Sample("heart-rate", T + timedelta(minutes=i, seconds=2), None, 60.0 + i, (), WATCH)
        for i in (3, 0, 1, 4)
    ]  # out of order, jittered, minute 2 missing
    obs = sampled_data(series, timedelta(minutes=1), "Patient/p1", "Device/d1")
    assert validate_resource(obs) == []
    data = obs["valueSampledData"]
    assert data["period"] == 60000
    assert data["dimensions"] == 1
    assert data["origin"]["code"] == "/min"
    assert data["data"] == "60 61 E 63 64"
    assert obs["effectivePeriod"] == {
        "start": "2026-11-20T08:01:02+01:00",
        "end": "2026-11-20T08:06:02+01:00",
    }
    assert ident(obs) == ident(sampled_data(list(reversed(series)), timedelta(minutes=1), "Patient/p1"))


def test_sampled_data_for_blood_pressure_and_fixed_window() -> None:
    series = [
        Sample(
            "blood-pressure",
            T + timedelta(hours=i),
            None,
            None,
            (("systolic", 120.0 + i), ("diastolic", 80.0)),
            WATCH,
        )
        for i in (0, 2)
    ]
    obs = sampled_data(series, timedelta(hours=1), "Patient/p1", start=T, end=T + timedelta(hours=4))
    assert validate_resource(obs) == []
    assert [c["valueSampledData"]["data"] for c in obs["component"]] == ["120 E 122 E", "80 E 80 E"]


def test_sampled_data_refuses_mixed_kinds() -> None:
    with pytest.raises(ValueError, match="more than one kind"):
        sampled_data([one("heart-rate"), one("spo2")], timedelta(minutes=1), "Patient/p1")


def test_keys_keep_their_value_across_json_libraries() -> None:
    """Keys are stored (sample rows, Observation identifiers): the hash input is the compact JSON
    of the parts, byte for byte, whichever encoder builds it (orjson now, json before)."""
    import hashlib
    import json

    from hygie.monitoring.ingest.fhir_out import _hash

    parts = ("Patient/x", "heart-rate", "2026-01-01T00:00:00+00:00", "", ["Withings", 'é"\\/\n\t\x01'], None)
    expected = hashlib.sha256(
        json.dumps(parts, ensure_ascii=False, separators=(",", ":")).encode()
    ).hexdigest()
    assert _hash(*parts) == expected[:40]


def test_sample_keys_sort_by_time_and_ignore_the_offset() -> None:
    """Keys start with the instant (UTC microseconds) so a stream's keys append to the index;
    the rest identifies subject, kind, duration, device and source."""
    from datetime import UTC, datetime, timedelta, timezone

    from hygie.monitoring.ingest.fhir_out import sample_key
    from hygie.monitoring.ingest.samples import DeviceInfo, Sample

    base = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    watch = DeviceInfo(model="W", identifier="1")
    keys = [sample_key(Sample("heart-rate", base + timedelta(seconds=s), None, 60.0, (), watch), "Patient/p")
            for s in (0, 1, 59, 3600, 86_400 * 400)]  # fmt: skip
    assert keys == sorted(keys) and len(set(keys)) == 5
    assert all(len(k) == 40 and all(c in "0123456789abcdef" for c in k) for k in keys)
    paris = base.astimezone(timezone(timedelta(hours=1)))
    assert sample_key(Sample("heart-rate", paris, None, 99.0, (), watch), "Patient/p") == keys[0]
    micro = base + timedelta(microseconds=1)
    others = {
        sample_key(Sample("heart-rate", micro, None, 60.0, (), watch), "Patient/p"),
        sample_key(Sample("spo2", base, None, 60.0, (), watch), "Patient/p"),
        sample_key(
            Sample("heart-rate", base, None, 60.0, (), DeviceInfo(model="W", identifier="2")), "Patient/p"
        ),
        sample_key(Sample("heart-rate", base, None, 60.0, (), watch), "Patient/q"),
        sample_key(Sample("heart-rate", base, base + timedelta(minutes=1), 60.0, (), watch), "Patient/p"),
        sample_key(Sample("heart-rate", base, None, 60.0, (), watch, "src-1"), "Patient/p"),
    }
    assert len(others) == 6 and keys[0] not in others
    for year in (1, 9999):
        at = datetime(year, 6, 1, tzinfo=UTC)
        assert len(sample_key(Sample("heart-rate", at, None, 60.0), "Patient/p")) == 40
    assert sample_key(Sample("heart-rate", datetime(1, 6, 1, tzinfo=UTC), None, 1.0), "Patient/p") < keys[0]
