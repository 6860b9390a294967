"""Index rows extracted on every write (https://hl7.org/fhir/R4/search.html)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from hygie.fhir.searchparams import default_registry
from hygie.search.extract import (
    DATE_MAX_MS,
    DATE_MIN_MS,
    IndexRows,
    date_range,
    extract,
    number_range,
    plan_for,
)
from hygie.search.extract_rows import CONVERTERS

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Epoch milliseconds of a UTC wall-clock time."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp() * 1000)


def rows_of(rows: list[Any], param: str) -> list[Any]:
    return [row[1:] for row in rows if row[0] == param]


# --- dates ---------------------------------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("text", "tz", "expected"),
    [
        ("2024", UTC, (ms(2024, 1, 1), ms(2025, 1, 1))),
        ("2024-02", UTC, (ms(2024, 2, 1), ms(2024, 3, 1))),
        ("2024-12", UTC, (ms(2024, 12, 1), ms(2025, 1, 1))),
        ("2024-02-29", UTC, (ms(2024, 2, 29), ms(2024, 3, 1))),
        ("2024-03-05T10:20:30Z", UTC, (ms(2024, 3, 5, 10, 20, 30), ms(2024, 3, 5, 10, 20, 31))),
        ("2024-03-05T10:20:30+02:00", UTC, (ms(2024, 3, 5, 8, 20, 30), ms(2024, 3, 5, 8, 20, 31))),
        ("2024-03-05T10:20:30-05:30", UTC, (ms(2024, 3, 5, 15, 50, 30), ms(2024, 3, 5, 15, 50, 31))),
        ("2024-03-05T10:20:30.5Z", UTC, (ms(2024, 3, 5, 10, 20, 30) + 500, ms(2024, 3, 5, 10, 20, 30) + 600)),
        (
            "2024-03-05T10:20:30.123Z",
            UTC,
            (ms(2024, 3, 5, 10, 20, 30) + 123, ms(2024, 3, 5, 10, 20, 30) + 124),
        ),
        (
            "2024-03-05T10:20:30.123456Z",
            UTC,
            (ms(2024, 3, 5, 10, 20, 30) + 123, ms(2024, 3, 5, 10, 20, 30) + 124),
        ),
        # no timezone: the server's zone (default_tz)
        ("2024-03-05T10:20:30", PARIS, (ms(2024, 3, 5, 9, 20, 30), ms(2024, 3, 5, 9, 20, 31))),
        ("2024-07-05", PARIS, (ms(2024, 7, 4, 22), ms(2024, 7, 5, 22))),  # summer time, UTC+2
        ("2024", timezone(timedelta(hours=1)), (ms(2023, 12, 31, 23), ms(2024, 12, 31, 23))),
        ("9999", UTC, (ms(9999, 1, 1), DATE_MAX_MS)),
        ("2024-13", UTC, None),
        ("2024-02-30", UTC, None),
        ("January 2012", UTC, None),
    ],
)
def test_date_range(text: str, tz: Any, expected: tuple[int, int] | None) -> None:
    assert date_range(text, tz) == expected


def test_date_sentinels() -> None:
    assert ms(1, 1, 1) == DATE_MIN_MS
    assert ms(9999, 12, 31, 23, 59, 59) < DATE_MAX_MS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5.4, (5.4, 5.35, 5.45)),
        (100, (100.0, 99.5, 100.5)),
        (0.001, (0.001, 0.0005, 0.0015)),
        ("5.40", (5.4, 5.395, 5.405)),
        (1e-05, (1e-05, 0.5e-05, 1.5e-05)),
        (True, None),
        ("abc", None),
    ],
)
def test_number_range(value: Any, expected: tuple[float, float, float] | None) -> None:
    found = number_range(value)
    if expected is None:
        assert found is None
    else:
        assert found is not None
        assert found == pytest.approx(expected)
        assert found[1] < found[2]


def test_number_range_below_float_resolution_stays_half_open() -> None:
    found = number_range(176.35499866729558)
    assert found is not None
    value, low, high = found
    assert low == value < high


# --- table-driven extraction -----------------------------------------------------------------------


def test_patient_names_addresses_tokens_dates() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "meta": {
            "lastUpdated": "2024-05-01T12:00:00Z",
            "tag": [{"system": "http://t", "code": "demo"}],
            "security": [{"system": "http://s", "code": "R"}],
            "profile": ["http://interop.esante.gouv.fr/ig/fhir/core/StructureDefinition/fr-core-patient"],
            "source": "http://src#1",
        },
        "identifier": [{"system": "urn:oid:1.2.250.1.213.1.4.8", "value": "1840575123456"}],
        "name": [
            {"family": "Dupré", "given": ["Bénédicte", "Anne"], "prefix": ["Mme"], "text": "Bénédicte Dupré"}
        ],
        "telecom": [
            {"system": "phone", "value": "+33 6 12 34 56 78"},
            {"system": "email", "value": "b@x.fr"},
        ],
        "gender": "female",
        "birthDate": "1980-07",
        "active": True,
        "address": [
            {
                "line": ["12 rue de l'Église", "Bât. B"],
                "city": "Saint-Étienne",
                "postalCode": "42000",
                "country": "FR",
                "district": "Loire",
                "state": "ARA",
            }
        ],
        "generalPractitioner": [{"reference": "Practitioner/d1"}],
    }
    rows = extract(patient)
    assert rows_of(rows.string, "family") == [("dupre", "Dupré")]
    assert rows_of(rows.string, "given") == [("benedicte", "Bénédicte"), ("anne", "Anne")]
    assert set(rows_of(rows.string, "name")) == {
        ("dupre", "Dupré"),
        ("benedicte", "Bénédicte"),
        ("anne", "Anne"),
        ("mme", "Mme"),
        ("benedicte dupre", "Bénédicte Dupré"),
    }
    assert set(rows_of(rows.string, "address")) == {
        ("12 rue de l'eglise", "12 rue de l'Église"),
        ("bat. b", "Bât. B"),
        ("saint-etienne", "Saint-Étienne"),
        ("42000", "42000"),
        ("fr", "FR"),
        ("loire", "Loire"),
        ("ara", "ARA"),
    }
    assert rows_of(rows.string, "address-city") == [("saint-etienne", "Saint-Étienne")]
    assert rows_of(rows.token, "identifier") == [("urn:oid:1.2.250.1.213.1.4.8", "1840575123456")]
    assert rows_of(rows.token, "gender") == [(None, "female")]
    assert rows_of(rows.token, "active") == [(None, "true")]
    assert rows_of(rows.token, "phone") == [(None, "+33 6 12 34 56 78")]
    assert rows_of(rows.token, "email") == [(None, "b@x.fr")]
    assert set(rows_of(rows.token, "telecom")) == {(None, "+33 6 12 34 56 78"), (None, "b@x.fr")}
    assert rows_of(rows.token, "_tag") == [("http://t", "demo")]
    assert rows_of(rows.token, "_security") == [("http://s", "R")]
    assert rows_of(rows.uri, "_profile") == [
        ("http://interop.esante.gouv.fr/ig/fhir/core/StructureDefinition/fr-core-patient",)
    ]
    assert rows_of(rows.uri, "_source") == [("http://src#1",)]
    # _lastUpdated is searched on storage's own column, like _id: no index rows for either
    assert not rows_of(rows.date, "_lastUpdated")
    assert rows_of(rows.date, "birthdate") == [(ms(1980, 7, 1), ms(1980, 8, 1))]
    assert rows_of(rows.reference, "general-practitioner") == [("Practitioner", "d1", "Practitioner/d1")]
    assert not rows_of(rows.token, "_id")  # storage indexes the id itself
    assert all(len(folded) <= 512 for _, folded, _ in rows.string)


def test_observation_codes_quantities_references() -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": "http://cat", "code": "vital-signs"}]}],
        "code": {
            "coding": [
                {"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"},
                {"system": "http://snomed.info/sct", "code": "27113001"},
            ],
            "text": "Poids",
        },
        "subject": {"reference": "Patient/p1/_history/3"},
        "encounter": {"reference": "urn:uuid:1b2c"},
        "performer": [
            {"reference": "https://fhir.example.org/r4/Practitioner/d9"},
            {"reference": "#contained-1"},
            {"identifier": {"system": "urn:oid:1.2.250.1.71.4.2.1", "value": "810000000001"}},
        ],
        "effectivePeriod": {"start": "2024-03-05T08:00:00Z"},
        "valueQuantity": {"value": 72.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
        "component": [
            {
                "code": {"coding": [{"code": "c"}]},
                "valueQuantity": {"value": 1, "unit": "lbs", "code": "[lb_av]"},
            }
        ],
    }
    rows = extract(observation)
    assert rows_of(rows.token, "code") == [
        ("http://loinc.org", "29463-7"),
        ("http://snomed.info/sct", "27113001"),
    ]
    assert set(rows_of(rows.token_text, "code")) == {("body weight",), ("poids",)}
    assert rows_of(rows.token, "category") == [("http://cat", "vital-signs")]
    assert rows_of(rows.token, "status") == [(None, "final")]
    assert rows_of(rows.reference, "subject") == [("Patient", "p1", "Patient/p1/_history/3")]
    assert rows_of(rows.reference, "patient") == [("Patient", "p1", "Patient/p1/_history/3")]
    assert rows_of(rows.reference, "encounter") == [(None, None, "urn:uuid:1b2c")]
    assert rows_of(rows.reference, "performer") == [
        ("Practitioner", "d9", "https://fhir.example.org/r4/Practitioner/d9"),
        (None, None, "#contained-1"),
    ]
    assert rows_of(rows.token, "performer:identifier") == [("urn:oid:1.2.250.1.71.4.2.1", "810000000001")]
    assert rows_of(rows.date, "date") == [(ms(2024, 3, 5, 8), DATE_MAX_MS)]  # open Period end
    assert rows_of(rows.quantity, "value-quantity") == [
        ("http://unitsofmeasure.org", "kg", 72.5, pytest.approx(72.45), pytest.approx(72.55))
    ]
    assert rows_of(rows.quantity, "component-value-quantity") == [
        (None, "[lb_av]", 1.0, 0.5, 1.5),
        (None, "lbs", 1.0, 0.5, 1.5),  # the unit is searchable when it differs from the code
    ]
    assert ("http://loinc.org", "29463-7") in rows_of(rows.token, "combo-code")
    assert (None, "c") in rows_of(rows.token, "combo-code")


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        ({"start": "2024-01-01", "end": "2024-01-31"}, (ms(2024, 1, 1), ms(2024, 2, 1))),
        ({"start": "2024-01-01"}, (ms(2024, 1, 1), DATE_MAX_MS)),
        ({"end": "2024"}, (DATE_MIN_MS, ms(2025, 1, 1))),
    ],
)
def test_period_open_ends(period: dict[str, str], expected: tuple[int, int]) -> None:
    rows = extract({"resourceType": "Encounter", "period": period})
    assert rows_of(rows.date, "date") == [expected]


def test_timing_outer_limits() -> None:
    request = {
        "resourceType": "ServiceRequest",
        "occurrenceTiming": {
            "event": ["2024-01-10", "2024-01-03"],
            "repeat": {"boundsPeriod": {"start": "2024-01-05", "end": "2024-02-01"}},
        },
    }
    assert rows_of(extract(request).date, "occurrence") == [(ms(2024, 1, 3), ms(2024, 2, 2))]


def test_default_timezone_applies_to_dates_without_zone() -> None:
    patient = {"resourceType": "Patient", "birthDate": "2000-01-01"}
    assert rows_of(extract(patient, default_tz=PARIS).date, "birthdate") == [
        (ms(1999, 12, 31, 23), ms(2000, 1, 1, 23))
    ]


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Patient/123", ("Patient", "123")),
        ("Patient/123/_history/4", ("Patient", "123")),
        ("http://a.org/fhir/Patient/123", ("Patient", "123")),
        ("http://a.org/fhir/Patient/123/_history/4", ("Patient", "123")),
        ("#p1", (None, None)),
        ("urn:uuid:0e2f7a51-6f1a-4d4f-9b2e-111111111111", (None, None)),
        ("urn:oid:1.2.3", (None, None)),
        ("NotAType/123", (None, None)),
        ("123", (None, None)),
    ],
)
def test_reference_forms(reference: str, expected: tuple[str | None, str | None]) -> None:
    rows = extract({"resourceType": "Observation", "subject": {"reference": reference}})
    assert rows_of(rows.reference, "subject") == [(*expected, reference)]


def test_canonical_references() -> None:
    measure = {"resourceType": "Measure", "library": ["http://example.org/fhir/Library/lib-1|2.0"]}
    assert rows_of(extract(measure).reference, "depends-on") == [
        ("Library", "lib-1", "http://example.org/fhir/Library/lib-1|2.0")
    ]


def test_money_range_and_number() -> None:
    claim = {"resourceType": "ChargeItem", "priceOverride": {"value": 12.5, "currency": "EUR"}}
    assert rows_of(extract(claim).quantity, "price-override") == [
        ("urn:iso:std:iso:4217", "EUR", 12.5, pytest.approx(12.45), pytest.approx(12.55))
    ]
    group = {
        "resourceType": "Group",
        "characteristic": [{"valueRange": {"low": {"value": 18, "unit": "a"}}}],
    }
    assert rows_of(extract(group).quantity, "value") == []  # composite-only on Group: no quantity param
    risk = {
        "resourceType": "RiskAssessment",
        "prediction": [
            {"probabilityDecimal": 0.25},
            {"probabilityRange": {"low": {"value": 1}, "high": {"value": 2}}},
        ],
    }
    assert rows_of(extract(risk).number, "probability") == [
        (0.25, pytest.approx(0.245), pytest.approx(0.255))
    ]
    observation = {"resourceType": "Observation", "valueRange": {"low": {"value": 18, "unit": "a"}}}
    assert rows_of(extract(observation).quantity, "value-quantity") == []  # Range is not `as Quantity`
    encounter = {"resourceType": "Encounter", "length": {"value": 90, "code": "min", "system": "http://u"}}
    assert rows_of(extract(encounter).quantity, "length") == [("http://u", "min", 90.0, 89.5, 90.5)]


def test_range_rows() -> None:
    rows = IndexRows()
    CONVERTERS["quantity"](
        "q",
        [{"low": {"value": 18, "unit": "a"}}, {"high": {"value": 5, "code": "mg"}}],
        rows,
        UTC,
        frozenset(),
    )
    assert rows.quantity == [("q", None, "a", 18.0, 18.0, math.inf), ("q", None, "mg", 5.0, -math.inf, 5.0)]


def test_codeable_concept_text_only_and_uri_token_and_boolean() -> None:
    condition = {"resourceType": "Condition", "code": {"text": "Mal de tête"}}
    rows = extract(condition)
    assert rows_of(rows.token, "code") == []
    assert rows_of(rows.token_text, "code") == [("mal de tete",)]
    value_set = {"resourceType": "ValueSet", "url": "http://x/vs", "status": "active"}
    rows = extract(value_set)
    assert rows_of(rows.uri, "url") == [("http://x/vs",)]
    assert rows_of(rows.token, "status") == [(None, "active")]


def test_extension_parameters_index_the_extension_value() -> None:
    patient = {
        "resourceType": "Patient",
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-extensions-Patient-mothersMaidenName",
                "valueString": "Lefèvre",
            }
        ],
    }
    assert rows_of(extract(patient).string, "mothersMaidenName") == [("lefevre", "Lefèvre")]


def test_rows_are_deduplicated() -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"family": "Martin"}, {"family": "Martin", "given": ["Martin"]}],
    }
    assert rows_of(extract(patient).string, "name") == [("martin", "Martin")]


def test_long_strings_are_truncated() -> None:
    rows = extract({"resourceType": "Patient", "name": [{"family": "é" * 2000}]})
    [(folded, exact)] = rows_of(rows.string, "family")
    assert len(exact) == 512 and folded == "e" * 512


def test_malformed_values_do_not_break_extraction() -> None:
    patient = {
        "resourceType": "Patient",
        "birthDate": "not a date",
        "name": [{"family": 12}, "oops"],
        "identifier": [{"system": "s", "value": "v"}],
        "address": None,
    }
    rows = extract(patient)
    assert rows.date == [] and rows_of(rows.string, "family") == []
    assert rows_of(rows.token, "identifier") == [("s", "v")]
    assert extract({"resourceType": 3}) == IndexRows()
    assert extract({"resourceType": "Unknown"}) == IndexRows()


def test_custom_registry_is_used() -> None:
    registry = default_registry().with_custom(
        [
            {
                "code": "nickname",
                "type": "string",
                "base": ["Patient"],
                "expression": "Patient.name.where(use='nickname').given",
            }
        ]
    )
    patient = {
        "resourceType": "Patient",
        "name": [{"use": "nickname", "given": ["Béa"]}, {"given": ["Béatrice"]}],
    }
    assert rows_of(extract(patient, registry).string, "nickname") == [("bea", "Béa")]
    assert rows_of(extract(patient).string, "nickname") == []


def test_plans_compile_every_parameter() -> None:
    registry = default_registry()
    uncompiled = [(t, plan_for(t, registry).uncompiled) for t in sorted(registry.resource_types())]
    assert [u for u in uncompiled if u[1]] == []
    assert len(plan_for("Observation").entries) > 30


# --- real data -----------------------------------------------------------------------------------


def _load(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def test_synthea_bundles() -> None:
    bundles = sorted((DATA / "synthea-r4").glob("*.json"))[:3]
    assert len(bundles) == 3
    patients = 0
    for path in bundles:
        for entry in _load(path)["entry"]:
            resource = entry["resource"]
            rows = extract(resource)
            if resource["resourceType"] == "Patient":
                patients += 1
                assert rows_of(rows.string, "name") and rows_of(rows.string, "family")
                assert len(rows_of(rows.date, "birthdate")) == 1
                assert rows_of(rows.token, "gender")
            elif resource["resourceType"] == "Observation":
                assert rows_of(rows.token, "code") and rows_of(rows.date, "date")
                assert rows_of(rows.reference, "subject")
    assert patients == 3


def test_every_r4_example() -> None:
    count = 0
    with_rows = 0
    for path in sorted((DATA / "fhir-r4-examples").glob("*.json")):
        resource = _load(path)
        if "resourceType" not in resource:
            continue  # package.json
        resources = [resource] + [e["resource"] for e in resource.get("entry", []) if "resource" in e]
        for item in resources:
            rows = extract(item)
            count += 1
            with_rows += any(getattr(rows, name) for name in rows.__slots__)
    assert count > 700
    assert with_rows > 0.9 * count
    example = extract(_load(DATA / "fhir-r4-examples" / "Patient-example.json"))
    assert ("chalmers", "Chalmers") in rows_of(example.string, "family")
    assert rows_of(example.date, "birthdate") == [(ms(1974, 12, 25), ms(1974, 12, 26))]
