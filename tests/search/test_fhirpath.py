"""The FHIRPath subset of R4 SearchParameter expressions, and the search-parameter registry.

Specs: https://hl7.org/fhirpath/N1/, https://hl7.org/fhir/R4/fhirpath.html,
https://hl7.org/fhir/R4/searchparameter.html
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest

from hygie.fhir.build_searchparams import build
from hygie.fhir.fhirpath import (
    CHOICE_ELEMENTS,
    FhirPathError,
    ResolvedReference,
    compile_expression,
    evaluate,
)
from hygie.fhir.outcome import FhirError
from hygie.fhir.searchparams import (
    DATA_FILE,
    compartment_params,
    default_registry,
    params_for,
    search_param,
    split_expression,
)

CORE = Path(__file__).resolve().parents[3] / "shared" / "data" / "fhir-r4-core"

# R4 SearchParameter expressions the compiler cannot handle: none today. Keep this list explicit.
NOT_COMPILED: list[str] = []

OBS: dict[str, Any] = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}, {"code": "x"}], "text": "BP"},
    "subject": {"reference": "Patient/p1"},
    "performer": [
        {"reference": "Practitioner/d1"},
        {"reference": "#c1"},
        {"reference": "http://other.org/fhir/Organization/o9/_history/2"},
    ],
    "contained": [{"resourceType": "Patient", "id": "c1"}],
    "valueQuantity": {"value": 120, "unit": "mmHg"},
    "effectiveDateTime": "2024-03-05",
    "extension": [
        {"url": "http://x/a", "valueString": "A"},
        {"url": "http://x/b", "valueCode": "B"},
    ],
    "component": [
        {"code": {"coding": [{"code": "c1"}]}, "valueString": "s1"},
        {"code": {"coding": [{"code": "c2"}]}, "valueQuantity": {"value": 3}},
    ],
}


def _sp_files() -> list[dict[str, Any]]:
    return [orjson.loads(p.read_bytes()) for p in sorted(CORE.glob("SearchParameter-*.json"))]


def test_every_r4_search_parameter_expression_compiles() -> None:
    expressions = [sp["expression"] for sp in _sp_files() if sp.get("expression")]
    failed = []
    for expression in expressions:
        try:
            compile_expression(expression)
        except FhirPathError:
            failed.append(expression)
    assert len(expressions) == 1384
    assert failed == NOT_COMPILED


def test_every_registry_expression_compiles() -> None:
    registry = default_registry()
    failed = []
    count = 0
    for resource_type in registry.resource_types():
        for param in registry.params_for(resource_type).values():
            if param.expression is not None:
                count += 1
                try:
                    compile_expression(param.expression)
                except FhirPathError:
                    failed.append(param.expression)
    assert count > 2000
    assert failed == NOT_COMPILED


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("Observation.status", ["final"]),
        ("Observation.code.coding.code", ["8480-6", "x"]),  # flattening
        ("Observation.code.coding.where(system='http://loinc.org').code", ["8480-6"]),
        ("Observation.code.coding.where(system!='http://loinc.org').code", []),  # empty != is empty
        ("Observation.value", [{"value": 120, "unit": "mmHg"}]),  # choice element
        ("(Observation.value as Quantity).value", [120]),
        ("Observation.value.as(Quantity).unit", ["mmHg"]),
        ("Observation.value.ofType(Quantity).value", [120]),
        ("(Observation.value as CodeableConcept)", []),
        ("(Observation.effective as dateTime)", ["2024-03-05"]),
        ("(Observation.effective as Period)", []),
        ("Observation.effective", ["2024-03-05"]),
        ("Observation.value is Quantity", [True]),
        ("Observation.component.value", ["s1", {"value": 3}]),
        ("(Observation.component.value as string)", ["s1"]),
        ("Observation.performer.where(resolve() is Practitioner).reference", ["Practitioner/d1"]),
        ("Observation.performer.where(resolve() is Patient).reference", ["#c1"]),  # contained
        (
            "Observation.performer.where(resolve() is Organization).reference",
            ["http://other.org/fhir/Organization/o9/_history/2"],
        ),
        (
            "Observation.subject.where(resolve() is Patient) | Observation.subject",
            [{"reference": "Patient/p1"}],
        ),
        ("Observation.performer.first().reference", ["Practitioner/d1"]),
        ("Observation.performer.last().reference", ["http://other.org/fhir/Organization/o9/_history/2"]),
        ("Observation.performer[1].reference", ["#c1"]),
        ("Observation.performer.count()", [3]),
        ("Observation.extension('http://x/b').value", ["B"]),
        ("Observation.extension('http://x/a')", [{"url": "http://x/a", "valueString": "A"}]),
        ("Observation.hasExtension('http://x/a')", [True]),
        ("Observation.hasExtension('http://nope')", [False]),
        ("Observation.status.exists()", [True]),
        ("Observation.method.exists()", [False]),
        ("Observation.method.empty()", [True]),
        ("Observation.status.exists().not()", [False]),
        ("Observation.performer.exists(reference.startsWith('Practitioner/'))", [True]),
        ("Observation.status.startsWith('fin')", [True]),
        ("Observation.status = 'final' and Observation.id = 'o1'", [True]),
        ("Observation.status = 'draft' or Observation.method.exists()", [False]),
        ("Observation.status = 'draft' or Observation.nothing = 1", []),  # false or empty = empty
        ("Observation.status = 'final' or Observation.nothing = 1", [True]),
        ("%resource.id", ["o1"]),
        ("Resource.id", ["o1"]),  # the base type matches any resource
        ("Patient.id", []),  # another type does not
        ("'a' | 'b' | 'a'", ["a", "b"]),
        ("1 + 2 * 3", [7]),
        ("{}", []),
        ("Observation.id = 'o1' and true", [True]),
        ("'it\\'s'", ["it's"]),
    ],
)
def test_evaluate(expression: str, expected: list[Any]) -> None:
    assert evaluate(expression, OBS) == expected


@pytest.mark.parametrize(
    ("patient", "expected"),
    [
        ({"resourceType": "Patient"}, [False]),
        ({"resourceType": "Patient", "deceasedBoolean": False}, [False]),
        ({"resourceType": "Patient", "deceasedBoolean": True}, [True]),
        ({"resourceType": "Patient", "deceasedDateTime": "2020-01-01"}, [True]),
    ],
)
def test_patient_deceased_expression(patient: dict[str, Any], expected: list[Any]) -> None:
    assert evaluate("Patient.deceased.exists() and Patient.deceased != false", patient) == expected


def test_resolve_yields_a_typed_reference_without_io() -> None:
    resolved = evaluate("Observation.subject.resolve()", OBS)
    assert resolved == [ResolvedReference("Patient", {"reference": "Patient/p1"})]
    typed = {"resourceType": "Observation", "subject": {"type": "Group", "identifier": {"value": "g"}}}
    assert evaluate("Observation.subject.where(resolve() is Group).exists()", typed) == [True]


def test_choice_lookup_needs_a_type_suffix() -> None:
    # `code` is a choice element somewhere in R4, yet `codeFilter` is not `code` of type "Filter".
    assert evaluate("DataRequirement.code", {"resourceType": "DataRequirement", "codeFilter": [{}]}) == []


def test_compilation_is_cached() -> None:
    assert compile_expression("Observation.code") is compile_expression("Observation.code")


@pytest.mark.parametrize(
    "expression",
    [
        "Observation.",
        "Observation.code(",
        "Observation.code.frobnicate()",
        "%nope",
        "Observation.where(",
        "1 +",
    ],
)
def test_bad_expressions_raise(expression: str) -> None:
    with pytest.raises(FhirPathError):
        compile_expression(expression)


def test_choice_elements_match_the_r4_definitions() -> None:
    names = set()
    for path in CORE.glob("StructureDefinition-*.json"):
        for element in orjson.loads(path.read_bytes()).get("snapshot", {}).get("element", []):
            if element["path"].endswith("[x]"):
                names.add(element["path"].rsplit(".", 1)[-1][:-3])
    assert names == CHOICE_ELEMENTS


# --- registry ------------------------------------------------------------------------------------


def test_data_file_is_what_the_builder_writes() -> None:
    with gzip.open(DATA_FILE, "rb") as handle:
        assert orjson.loads(handle.read()) == build(CORE)


def test_expressions_are_split_per_base() -> None:
    code = search_param("Condition", "code")
    assert code is not None
    assert (code.type, code.expression) == ("token", "Condition.code")
    medication = search_param("MedicationRequest", "code")
    assert medication is not None
    assert medication.expression == "(MedicationRequest.medication as CodeableConcept)"
    allergy = search_param("AllergyIntolerance", "code")
    assert allergy is not None
    assert allergy.expression == "AllergyIntolerance.code | AllergyIntolerance.reaction.substance"


def test_split_expression() -> None:
    expression = "A.x | (B.y as Quantity) | B.z.where(a = 'p|q') | extension('u')"
    assert split_expression(expression, "B") == "(B.y as Quantity) | B.z.where(a = 'p|q') | extension('u')"
    assert split_expression("A.x | B.y", "C") is None


def test_reference_targets_and_composites() -> None:
    subject = search_param("Observation", "subject")
    assert subject is not None
    assert "Patient" in subject.targets and subject.type == "reference"
    composite = search_param("Observation", "code-value-quantity")
    assert composite is not None
    assert [(c.code, c.expression) for c in composite.components] == [
        ("code", "code"),
        ("value-quantity", "value.as(Quantity)"),
    ]


def test_common_parameters() -> None:
    patient = params_for("Patient")
    for code in ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source", "_text", "_content"):
        assert patient[code].common, code
    assert patient["_lastUpdated"].expression == "Resource.meta.lastUpdated"
    assert "_text" not in params_for("Bundle")  # Bundle is not a DomainResource
    assert "_id" in params_for("Bundle")
    assert not patient["name"].common
    assert params_for("NotAType") == {}


def test_compartments() -> None:
    assert compartment_params("Patient", "Observation") == ("subject", "performer")
    assert compartment_params("Encounter", "Encounter") == ("{def}",)
    assert compartment_params("Patient", "CodeSystem") == ()
    assert set(default_registry().compartments()) == {
        "Patient",
        "Encounter",
        "RelatedPerson",
        "Practitioner",
        "Device",
    }


def test_with_custom_search_parameter() -> None:
    base = default_registry()
    custom = base.with_custom(
        [
            {
                "resourceType": "SearchParameter",
                "url": "http://example.org/SearchParameter/patient-nir",
                "code": "nir",
                "base": ["Patient", "Person"],
                "type": "token",
                "expression": "Patient.identifier.where(system='urn:oid:1.2.250.1.213.1.4.8') "
                "| Person.identifier",
            }
        ]
    )
    nir = custom.search_param("Patient", "nir")
    assert nir is not None
    assert nir.expression == "Patient.identifier.where(system='urn:oid:1.2.250.1.213.1.4.8')"
    person = custom.search_param("Person", "nir")
    assert person is not None and person.expression == "Person.identifier"
    assert base.search_param("Patient", "nir") is None  # the default registry is unchanged
    assert custom.search_param("Patient", "name") == base.search_param("Patient", "name")


@pytest.mark.parametrize(
    "resource",
    [
        {"code": "x", "base": ["Patient"]},
        {"code": "x", "type": "token"},
        {"type": "token", "base": ["Patient"]},
        {"code": "x", "type": "token", "base": ["NotAType"]},
        {"code": "x", "type": "nope", "base": ["Patient"]},
    ],
)
def test_invalid_custom_search_parameter(resource: dict[str, Any]) -> None:
    with pytest.raises(FhirError) as caught:
        default_registry().with_custom([resource])
    assert caught.value.status == 422
