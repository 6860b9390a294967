"""The sample catalogue (data/vitals.json): codes, conversions, sanity limits, record checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hygie.fhir.messages import LANGUAGES, MESSAGES
from hygie.monitoring.ingest.catalogue import kinds
from hygie.monitoring.ingest.samples import RecordError, Sample, Where, make_sample

CORE = Path(__file__).resolve().parents[3] / "shared" / "data" / "fhir-r4-core"
T = datetime(2026, 11, 20, 8, 1, tzinfo=timezone(timedelta(hours=1)))
W = Where(0, "line 2")


def sample(kind: str, value: float | None, unit: str, **kw: object) -> Sample | RecordError:
    end = kw.pop("end", None)
    return make_sample(W, kind, T, end, value, unit, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("profile", "kind"),
    [
        ("heartrate", "heart-rate"),
        ("oxygensat", "spo2"),
        ("bp", "blood-pressure"),
        ("resprate", "respiratory-rate"),
        ("bodytemp", "body-temperature"),
        ("bodyweight", "body-weight"),
    ],
)
def test_vital_codes_match_the_r4_profiles(profile: str, kind: str) -> None:
    definition = json.loads((CORE / f"StructureDefinition-{profile}.json").read_text("utf-8"))
    fixed = {
        e["id"]: e.get("fixedCode")
        for e in definition["snapshot"]["element"]
        if "fixedCode" in e and e["id"].startswith("Observation.code.coding")
    }
    k = kinds()[kind]
    assert list(fixed.values()) == [k.loinc]
    assert k.profile == definition["url"]
    assert k.category == "vital-signs"


def test_every_kind_converts_its_canonical_unit_unchanged() -> None:
    for k in kinds().values():
        assert k.units[k.unit] == (1.0, 0.0), k.key


@pytest.mark.parametrize(
    ("kind", "value", "unit", "expected"),
    [
        ("glucose", 100, "mg/dL", 5.5506),
        ("glucose", 18.016, "mg/dL", 1.0),
        ("glucose", 1.26, "g/L", 6.9938),
        ("interstitial-glucose", 180, "mg/dL", 9.9911),
        ("glucose", 5.5, "mmol<180.1558800000541>/L", 5.5),
        ("body-temperature", 98.6, "[degF]", 37.0),
        ("body-temperature", 104, "degF", 40.0),
        ("body-temperature", 310.15, "K", 37.0),
        ("body-temperature", 37.2, "C", 37.2),
        ("body-weight", 154, "[lb_av]", 69.85322),
        ("body-weight", 1, "lb", 0.45359),
        ("body-weight", 3500, "g", 3.5),
        ("spo2", 0.97, "1", 97.0),
        ("spo2", 0.5, "{fraction}", 50.0),
        ("heart-rate", 1.2, "/s", 72.0),
        ("heart-rate", 72, "count/min", 72.0),
        ("sleep", 7.5, "h", 450.0),
        ("sleep", 1800, "sec", 30.0),
    ],
)
def test_conversions(kind: str, value: float, unit: str, expected: float) -> None:
    got = sample(kind, value, unit, end=T + timedelta(hours=8) if kind == "sleep" else None)
    assert isinstance(got, Sample), got
    assert got.value == pytest.approx(expected, abs=1e-4)


def test_blood_pressure_in_kpa() -> None:
    got = sample("blood-pressure", None, "kPa", components={"systolic": 16, "diastolic": 10.7})
    assert isinstance(got, Sample)
    assert dict(got.components) == {
        "systolic": pytest.approx(120.01, abs=0.01),
        "diastolic": pytest.approx(80.26, abs=0.01),
    }


# (kind, unit, lowest accepted, highest accepted, just below, just above)
LIMITS = [
    ("heart-rate", "/min", 20, 300, 19.9, 300.1),
    ("spo2", "%", 50, 100, 49.9, 100.1),
    ("spo2", "1", 0.5, 1.0, 0.499, 1.001),
    ("respiratory-rate", "/min", 2, 80, 1.9, 80.1),
    ("body-temperature", "Cel", 25, 45, 24.99, 45.01),
    ("body-temperature", "[degF]", 77, 113, 76.9, 113.1),
    ("glucose", "mmol/L", 1, 40, 0.99, 40.01),
    ("glucose", "mg/dL", 18, 720, 17.9, 720.1),
    ("interstitial-glucose", "mg/dL", 18, 720, 17, 721),
    ("body-weight", "kg", 0.3, 500, 0.29, 500.1),
    ("skin-temperature", "Cel", 15, 45, 14.9, 45.1),
]


@pytest.mark.parametrize(("kind", "unit", "low", "high", "below", "above"), LIMITS)
def test_sanity_limits_are_inclusive(
    kind: str, unit: str, low: float, high: float, below: float, above: float
) -> None:
    for ok in (low, high):
        assert isinstance(sample(kind, ok, unit), Sample), (kind, ok)
    for bad in (below, above):
        got = sample(kind, bad, unit)
        assert isinstance(got, RecordError), (kind, bad)
        assert got.key == "ingest_range"
        assert got.location == "line 2"


@pytest.mark.parametrize(("value", "ok"), [(0, True), (100000, True), (-1, False), (100001, False)])
def test_step_limits(value: int, ok: bool) -> None:
    got = sample("steps", value, "{steps}", end=T + timedelta(minutes=15))
    assert isinstance(got, Sample) is ok


@pytest.mark.parametrize(
    ("systolic", "diastolic", "key", "field"),
    [
        (40, 20, None, None),
        (300, 200, None, None),
        (39, 20, "ingest_range", "systolic"),
        (301, 80, "ingest_range", "systolic"),
        (120, 19, "ingest_range", "diastolic"),
        (250, 201, "ingest_range", "diastolic"),
        (120, 120, "ingest_bp_order", "diastolic"),
        (80, 120, "ingest_bp_order", "diastolic"),
    ],
)
def test_blood_pressure_limits(systolic: float, diastolic: float, key: str | None, field: str | None) -> None:
    got = sample("blood-pressure", None, "mm[Hg]", components={"systolic": systolic, "diastolic": diastolic})
    if key is None:
        assert isinstance(got, Sample)
        assert got.components == (("systolic", systolic), ("diastolic", diastolic))
    else:
        assert isinstance(got, RecordError)
        assert (got.key, got.field) == (key, field)


def test_unknown_unit_and_kind_are_refused() -> None:
    got = sample("heart-rate", 70, "mg/dL")
    assert isinstance(got, RecordError)
    assert got.key == "ingest_unit"
    assert "/min" in got.message("en")
    got = sample("blood-sugar", 5, "mmol/L")
    assert isinstance(got, RecordError)
    assert got.key == "ingest_kind"


def test_naive_times_and_bad_intervals_are_refused() -> None:
    naive = make_sample(W, "heart-rate", datetime(2026, 11, 20, 8, 1), None, 70, "/min")
    assert isinstance(naive, RecordError)
    assert naive.key == "ingest_naive_time"
    backwards = sample("heart-rate", 70, "/min", end=T - timedelta(minutes=1))
    assert isinstance(backwards, RecordError)
    assert backwards.key == "ingest_interval"
    point_steps = sample("steps", 100, "count")
    assert isinstance(point_steps, RecordError)
    assert point_steps.key == "ingest_interval"
    same = sample("heart-rate", 70, "/min", end=T)
    assert isinstance(same, Sample)
    assert same.end is None


def test_errors_read_in_both_languages_and_become_issues() -> None:
    got = sample("heart-rate", 400, "/min")
    assert isinstance(got, RecordError)
    assert "400" in got.message("fr") and "impossible" in got.message("fr")
    assert "plausibility limits 20–300 /min" in got.message("en")
    issue = got.to_issue()
    assert issue.code == "value"
    assert issue.params["location"] == "line 2"
    assert "line 2" in issue.to_json("en")["diagnostics"]
    assert issue.severity == "error"
    assert got.to_issue("warning").severity == "warning"
    for key in MESSAGES:
        if key.startswith("ingest_"):
            assert set(MESSAGES[key]) == set(LANGUAGES)


def test_utc_times_are_accepted() -> None:
    got = make_sample(W, "heart-rate", datetime(2026, 11, 20, 7, 1, tzinfo=UTC), None, 70, "/min")
    assert isinstance(got, Sample)
