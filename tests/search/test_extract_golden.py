"""The fast extraction path against its reference: same index rows, forever.

Spec: https://hl7.org/fhir/R4/search.html (what is indexed); https://hl7.org/fhirpath/N1/ (the
expressions). :func:`hygie.search.extract.extract` runs specialised FHIRPath forms
(:mod:`hygie.fhir.fhirpath_fast`), skips parameters whose elements are absent, and computes date
and number ranges by integer arithmetic; :func:`extract_reference` runs every parameter through the
generic engine. Both must give the same rows, in the same order, on real data and on edge cases.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hygie.fhir import jsonio
from hygie.fhir.fhirpath import compile_expression, compile_generic, root_keys
from hygie.fhir.searchparams import default_registry
from hygie.search.extract import IndexRows, extract, extract_reference
from hygie.search.ranges import _DATE, _decimal_range, _fixed_range, _zoned_range, date_range, number_range

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
PARIS = ZoneInfo("Europe/Paris")
TABLES = IndexRows.__slots__


def synthea_sample(step: int = 20) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every ``step``-th entry's resource of every Synthea bundle (a deterministic sample)."""
    for path in sorted((DATA / "synthea-r4").glob("*.json")):
        bundle = jsonio.loads(path.read_bytes())
        for i, entry in enumerate(bundle["entry"][::step]):
            yield f"{path.name}#{i * step}", entry["resource"]


def examples() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted((DATA / "fhir-r4-examples").glob("*.json")):
        if path.name != "package.json":
            yield path.name, jsonio.loads(path.read_bytes())


def differences(resource: dict[str, Any]) -> dict[str, tuple[list[Any], list[Any]]]:
    fast = extract(resource, default_tz=PARIS)
    slow = extract_reference(resource, default_tz=PARIS)
    return {
        table: (getattr(fast, table), getattr(slow, table))
        for table in TABLES
        if getattr(fast, table) != getattr(slow, table)
    }


def test_synthea_sample_fast_path_equals_generic_engine() -> None:
    checked = rows = 0
    for name, resource in synthea_sample():
        assert differences(resource) == {}, name
        checked += 1
        rows += sum(len(getattr(extract(resource, default_tz=PARIS), t)) for t in TABLES)
    assert checked > 800  # 49 bundles, 17,369 entries
    assert rows > 8 * checked  # the sample is really indexed, not empty on both sides


def test_r4_examples_fast_path_equals_generic_engine() -> None:
    names = [name for name, resource in examples() if differences(resource)]
    assert names == []


# --- the specialised expression shapes on edge cases ----------------------------------------------

EDGE_RESOURCES: list[dict[str, Any]] = [
    {
        "resourceType": "Observation",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
        "valueQuantity": {"value": 120, "unit": "mm[Hg]"},
        "effectivePeriod": {"start": "2024-01-01"},
        "subject": {"reference": "Patient/1"},
        "component": [
            {"code": {"text": "a"}, "valueString": "x"},
            {"code": None, "valueQuantity": [{"value": 1}, "odd"]},
            "not an element",
            {"codeString": "choice-looking key on a non-choice element"},
        ],
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/observation-geneticsGene", "valueString": "g"},
            "junk",
        ],
    },
    {
        "resourceType": "Observation",
        "code": None,
        "value": {"value": 5, "code": "mg"},  # `value` itself, type-checked by `as Quantity`
        "effective": None,  # present as null: no valueX lookup
        "effectiveDateTime": "2024",
        "subject": [{"reference": "#p"}, {"reference": "Group/g"}, "Patient/2", 7, {"type": "Patient"}],
        "contained": [{"resourceType": "Patient", "id": "p"}],
        "extension": {"url": "not a list"},
    },
    {
        "resourceType": "Observation",
        "valueCodeableConcept": {"text": "t"},
        "valueString": "second choice key",  # the first present one wins
        "subject": {"reference": "urn:uuid:123"},
        "focus": [{"reference": "http://x/fhir/Patient/3/_history/2"}],
    },
    {
        "resourceType": "Patient",
        "name": [{"family": "A", "given": ["B", "B"]}, {"family": "A"}],
        "deceasedBoolean": False,
        "generalPractitioner": [{"reference": "Practitioner/1"}, {"reference": "Organization/1"}],
        "link": [{"other": {"reference": "Patient/9"}}],
        "meta": {"tag": [{"code": "x"}, {"code": "x"}], "profile": ["http://p", "http://p"]},
    },
    {"resourceType": "InsurancePlan", "name": "n", "alias": ["n", "m", "n"]},  # `name | alias`
    {"resourceType": "Encounter", "subject": {"reference": "Patient/1"}, "participant": [{}]},
    {"resourceType": "Condition", "abatementAge": {"value": 3}, "abatementString": "s"},
    {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Composition"}}]},
    {"resourceType": "Patient", "extension": [{"url": "u", "valueInteger": 1}]},
]


def expressions() -> list[str]:
    registry = default_registry()
    found = {
        param.expression
        for rtype in ("Observation", "Patient", "InsurancePlan", "Encounter", "Condition", "Bundle")
        for param in registry.params_for(rtype).values()
        if param.expression
    }
    return sorted(found)


@pytest.mark.parametrize("expression", expressions())
def test_specialised_expression_equals_generic(expression: str) -> None:
    fast, slow = compile_expression(expression), compile_generic(expression)
    keys = root_keys(expression)
    for resource in EDGE_RESOURCES:
        try:
            expected: Any = slow(resource)
        except (TypeError, ValueError) as exc:  # the generic engine's errors are kept too
            with pytest.raises(type(exc)):
                fast(resource)
            continue
        assert fast(resource) == expected
        if keys is not None and keys.isdisjoint(resource):
            assert expected == []  # skipping on absent keys never loses values


def test_specialised_results_are_fresh_lists() -> None:
    resource = {"resourceType": "Patient", "identifier": [{"value": "1"}]}
    found = compile_expression("Patient.identifier")(resource)
    found.append("x")
    assert resource["identifier"] == [{"value": "1"}]


def test_edge_resources_extract_equal() -> None:
    for resource in EDGE_RESOURCES:
        assert differences(resource) == {}


# --- date and number ranges: arithmetic against the datetime / Decimal reference ----------------

DATES = [
    "2024", "0001", "9999", "0000", "2024-02", "2024-12", "9999-12", "2024-00", "2024-13",
    "2024-02-29", "2023-02-29", "2024-04-31", "9999-12-31", "0001-01-01", "2024-03-05T10:20",
    "2024-03-05T10:20:30", "2024-03-05T10:20:30.5", "2024-03-05T10:20:30.123456", "2024-03-05T24:00:00",
    "2024-03-05T23:60:00", "2024-03-05T23:59:60", "9999-12-31T23:59:59", "9999-12-31T23:59:58.9",
    "9999-12-31T23:59", "0001-01-01T00:00:00",
]  # fmt: skip
ZONES = ["", "Z", "+00:00", "+02:00", "-05:30", "+14:00", "-13:59", "-23:59", "+05:99", "+14:01"]


@pytest.mark.parametrize("tz", [UTC, timezone(timedelta(hours=1)), timezone(timedelta(minutes=-330))])
def test_fixed_offset_arithmetic_equals_datetimes(tz: Any) -> None:
    for text in DATES:
        for zone in ZONES:
            match = _DATE.fullmatch(text + zone)
            if match is None:  # a zone without a time
                assert "T" not in text
                assert date_range(text + zone, tz) is None
                continue
            minutes = 0
            if zone not in ("", "Z"):
                minutes = (-1 if zone[0] == "-" else 1) * (int(zone[1:3]) * 60 + int(zone[4:6]))
                if abs(minutes) > 14 * 60 or int(zone[4:6]) > 59:  # not a FHIR offset
                    assert date_range(text + zone, tz) is None, text + zone
                    continue
            zone_tz = tz if zone == "" else timezone(timedelta(minutes=minutes))
            offset_ms = int(zone_tz.utcoffset(None).total_seconds() * 1000)
            assert _fixed_range(match, offset_ms) == _zoned_range(match, zone_tz), text + zone
            assert date_range(text + zone, tz) == _zoned_range(match, zone_tz), text + zone


@pytest.mark.parametrize(
    ("zone", "valid"),
    [
        ("+14:00", True),
        ("-14:00", True),
        ("+13:59", True),
        ("-00:00", True),
        ("+14:01", False),
        ("-15:00", False),
        ("+24:00", False),
        ("+25:00", False),
        ("-00:99", False),
        ("+05:60", False),
    ],
)
def test_offsets_outside_fhir_are_invalid_not_errors(zone: str, valid: bool) -> None:
    """https://hl7.org/fhir/R4/datatypes.html#dateTime: ``(0[0-9]|1[0-3]):[0-5][0-9]|14:00``."""
    found = date_range("2024-01-01T00:00:00" + zone)
    assert (found is not None) is valid


def test_number_range_equals_decimal_arithmetic() -> None:
    rng = random.Random(20240501)
    values: list[Any] = [0.1, 5.4, 100, 1, 123456789, 1e-05, 1.5e20, 176.35499866729558, -3.25]
    values += [rng.uniform(-1000, 1000) for _ in range(2000)]
    values += [round(rng.uniform(0, 500), rng.randint(0, 6)) for _ in range(2000)]
    values += [rng.randint(-(10**18), 10**18) for _ in range(200)]
    values += [jsonio.Decimal(text) for text in ("1.50", "0.000", "-0.0", "12345678901234567890.5", "1e3")]
    for value in values:
        text = getattr(value, "text", None) or repr(value)
        assert number_range(value) == _decimal_range(text), text
    assert number_range(-0.0) == (-0.0, -0.05, 0.05)
    assert math.copysign(1, number_range(-0.0)[0]) == -1  # type: ignore[index]
