"""Unit tests of the R4 resource validator (hygie.fhir.validation) and its tables.

Spec: https://hl7.org/fhir/R4/validation.html, https://hl7.org/fhir/R4/json.html,
https://hl7.org/fhir/R4/datatypes.html, https://hl7.org/fhir/R4/references.html
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from hygie.fhir import definitions, jsonio, primitives
from hygie.fhir.build_definitions import OUTPUT, build
from hygie.fhir.messages import MESSAGES
from hygie.fhir.outcome import Issue
from hygie.fhir.validation import MAX_DEPTH, MAX_ISSUES, validate_resource

CORE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir-r4-core"
UUID = "urn:uuid:6d4e1c63-5b7f-4d3c-9a35-0c1f8a3d2b10"

Json = dict[str, Any]


def patient(**fields: Any) -> Json:
    return {"resourceType": "Patient", **fields}


def observation(**fields: Any) -> Json:
    base: Json = {"resourceType": "Observation", "status": "final", "code": {"text": "weight"}}
    base.update(fields)
    return base


def narrative(div: object) -> Json:
    return {"status": "generated", "div": div}


def found(issues: list[Issue]) -> set[tuple[str, str]]:
    return {(issue.code, issue.expression[0]) for issue in issues}


# (id, resource, expected issue code, expected FHIRPath expression)
INVALID: list[tuple[str, object, str, str]] = [
    # resourceType
    ("not-an-object", ["Patient"], "structure", "Resource"),
    ("resourceType-missing", {"id": "x"}, "required", "Resource"),
    ("resourceType-unknown", {"resourceType": "Patients"}, "invalid", "Resource"),
    ("resourceType-abstract", {"resourceType": "DomainResource"}, "invalid", "Resource"),
    ("resourceType-not-string", {"resourceType": ["Patient"]}, "invalid", "Resource"),
    (
        "resourceType-nested",
        patient(name=[{"resourceType": "HumanName"}]),
        "structure",
        "Patient.name[0].resourceType",
    ),
    # unknown elements
    ("unknown-root", patient(foo=1), "structure", "Patient.foo"),
    ("unknown-backbone", patient(contact=[{"foo": "x"}]), "structure", "Patient.contact[0].foo"),
    ("unknown-datatype", patient(name=[{"first": "x"}]), "structure", "Patient.name[0].first"),
    ("unknown-underscore", patient(_foo={"id": "a"}), "structure", "Patient._foo"),
    (
        "underscore-on-complex",
        patient(name=[{"family": "x"}], _name=[{"id": "a"}]),
        "structure",
        "Patient._name",
    ),
    ("choice-unknown-type", observation(valueFoo="x"), "structure", "Observation.valueFoo"),
    ("choice-bare-name", observation(value="x"), "structure", "Observation.value"),
    # JSON types of primitives
    ("boolean-as-string", patient(active="true"), "structure", "Patient.active"),
    # A JSON number with a fraction, or too large, has the right JSON type: its value is wrong.
    (
        "integer-with-fraction",
        patient(multipleBirthInteger=1.5),
        "value",
        "Patient.multipleBirth.ofType(integer)",
    ),
    (
        "integer-beyond-64-bits",
        patient(multipleBirthInteger=jsonio.loads(b"123456789012345678901234567890")),
        "value",
        "Patient.multipleBirth.ofType(integer)",
    ),
    (
        "integer-as-bool",
        patient(multipleBirthInteger=True),
        "structure",
        "Patient.multipleBirth.ofType(integer)",
    ),
    (
        "decimal-as-string",
        observation(valueQuantity={"value": "1.5"}),
        "structure",
        "Observation.value.ofType(Quantity).value",
    ),
    ("string-as-number", patient(name=[{"family": 12}]), "structure", "Patient.name[0].family"),
    ("code-as-object", patient(gender={"code": "male"}), "structure", "Patient.gender"),
    ("complex-as-string", patient(maritalStatus="M"), "structure", "Patient.maritalStatus"),
    # primitive values
    ("string-empty", patient(name=[{"given": ["Ann", ""]}]), "value", "Patient.name[0].given[1]"),
    ("id-invalid", patient(id="a b"), "value", "Patient.id"),
    ("id-too-long", patient(id="x" * 65), "value", "Patient.id"),
    ("date-impossible", patient(birthDate="2023-02-29"), "value", "Patient.birthDate"),
    ("date-month-13", patient(birthDate="2020-13"), "value", "Patient.birthDate"),
    ("date-with-time", patient(birthDate="2020-01-01T10:00:00Z"), "value", "Patient.birthDate"),
    (
        "dateTime-no-zone",
        observation(effectiveDateTime="2020-01-01T10:00:00"),
        "value",
        "Observation.effective.ofType(dateTime)",
    ),
    (
        "dateTime-hour-only",
        observation(effectiveDateTime="2020-01-01T10Z"),
        "value",
        "Observation.effective.ofType(dateTime)",
    ),
    ("instant-date-only", observation(issued="2020-01-01"), "value", "Observation.issued"),
    ("time-invalid", observation(valueTime="25:00:00"), "value", "Observation.value.ofType(time)"),
    (
        "unsignedInt-negative",
        {"resourceType": "Group", "type": "person", "actual": True, "quantity": -1},
        "value",
        "Group.quantity",
    ),
    ("integer-overflow", observation(valueInteger=2**31), "value", "Observation.value.ofType(integer)"),
    ("uri-with-space", patient(implicitRules="http://a b"), "value", "Patient.implicitRules"),
    ("code-double-space", patient(language="en  US"), "value", "Patient.language"),
    ("code-leading-space", patient(language=" en"), "value", "Patient.language"),
    ("base64-invalid", patient(photo=[{"data": "abc$"}]), "value", "Patient.photo[0].data"),
    (
        "oid-invalid",
        {
            "resourceType": "NamingSystem",
            "name": "n",
            "status": "draft",
            "kind": "root",
            "date": "2020",
            "uniqueId": [{"type": "oid", "value": "x"}],
            "extension": [{"url": "http://e", "valueOid": "urn:oid:1.02"}],
        },
        "value",
        "NamingSystem.extension[0].value.ofType(oid)",
    ),
    (
        "uuid-uppercase",
        patient(extension=[{"url": "http://e", "valueUuid": UUID.upper()}]),
        "value",
        "Patient.extension[0].value.ofType(uuid)",
    ),
    (
        "positiveInt-zero",
        patient(extension=[{"url": "http://e", "valuePositiveInt": 0}]),
        "value",
        "Patient.extension[0].value.ofType(positiveInt)",
    ),
    # cardinality and JSON shapes
    ("repeating-not-array", patient(name={"family": "x"}), "structure", "Patient.name"),
    ("single-as-array", patient(gender=["male"]), "structure", "Patient.gender"),
    ("empty-array", patient(telecom=[]), "structure", "Patient.telecom"),
    ("empty-object", patient(address=[{}]), "structure", "Patient.address[0]"),
    ("id-only-object", patient(maritalStatus={"id": "a"}), "structure", "Patient.maritalStatus"),
    ("null-single", patient(gender=None), "structure", "Patient.gender"),
    ("null-in-array", patient(name=[{"given": ["a", None]}]), "structure", "Patient.name[0].given[1]"),
    ("null-complex-in-array", patient(name=[None]), "structure", "Patient.name[0]"),
    (
        "required-missing",
        {"resourceType": "Observation", "code": {"text": "x"}},
        "required",
        "Observation.status",
    ),
    (
        "required-missing-backbone",
        observation(component=[{"valueString": "x"}]),
        "required",
        "Observation.component[0].code",
    ),
    (
        "required-missing-content-reference",
        {
            "resourceType": "Questionnaire",
            "status": "draft",
            "item": [{"linkId": "1", "type": "group", "item": [{"type": "string"}]}],
        },
        "required",
        "Questionnaire.item[0].item[0].linkId",
    ),
    (
        "required-choice-missing",
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/1"},
        },
        "required",
        "MedicationRequest.medication",
    ),
    (
        "required-in-datatype",
        patient(extension=[{"valueString": "x"}]),
        "required",
        "Patient.extension[0].url",
    ),
    # choice types
    (
        "choice-two-variants",
        observation(valueString="a", valueBoolean=True),
        "structure",
        "Observation.value.ofType(boolean)",
    ),
    (
        "choice-variant-and-other-extension",
        observation(
            valueString="a", _valueBoolean={"id": "x", "extension": [{"url": "http://e", "valueCode": "a"}]}
        ),
        "structure",
        "Observation.value.ofType(boolean)",
    ),
    # required bindings
    ("binding-code", observation(status="done"), "code-invalid", "Observation.status"),
    ("binding-code-case", patient(gender="Male"), "code-invalid", "Patient.gender"),
    ("binding-in-datatype", patient(name=[{"use": "alias"}]), "code-invalid", "Patient.name[0].use"),
    (
        "binding-narrative-status",
        patient(text={"status": "done", "div": "<div>x</div>"}),
        "code-invalid",
        "Patient.text.status",
    ),
    (
        "binding-codeable-concept",
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/1"},
            "clinicalStatus": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "gone"}
                ]
            },
        },
        "code-invalid",
        "Condition.clinicalStatus.coding[0].code",
    ),
    (
        "binding-codeable-concept-other-system",
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/1"},
            "clinicalStatus": {"coding": [{"system": "http://snomed.info/sct", "code": "55561003"}]},
        },
        "code-invalid",
        "Condition.clinicalStatus",
    ),
    (
        "binding-codeable-concept-text-only",
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/1"},
            "clinicalStatus": {"text": "active"},
        },
        "code-invalid",
        "Condition.clinicalStatus",
    ),
    # references
    (
        "reference-unknown-type",
        observation(subject={"reference": "Patients/1"}),
        "value",
        "Observation.subject.reference",
    ),
    (
        "reference-space",
        observation(subject={"reference": "Patient/1 2"}),
        "value",
        "Observation.subject.reference",
    ),
    (
        "reference-bad-id",
        observation(subject={"reference": "Patient/a_b"}),
        "value",
        "Observation.subject.reference",
    ),
    (
        "reference-bad-history",
        observation(subject={"reference": "Patient/1/_history"}),
        "value",
        "Observation.subject.reference",
    ),
    (
        "reference-bare-id",
        observation(subject={"reference": "123"}),
        "value",
        "Observation.subject.reference",
    ),
    (
        "reference-bad-uuid",
        observation(subject={"reference": "urn:uuid:XYZ"}),
        "value",
        "Observation.subject.reference",
    ),
    (
        "reference-bad-local",
        observation(subject={"reference": "#a b"}),
        "value",
        "Observation.subject.reference",
    ),
    (
        "reference-conditional-outside-transaction",
        observation(subject={"reference": "Patient?identifier=1"}),
        "value",
        "Observation.subject.reference",
    ),
    (
        "reference-in-array",
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "performer": [{"reference": "Practitioner/1"}, {"reference": "Nobody/2"}],
        },
        "value",
        "Observation.performer[1].reference",
    ),
    # contained resources
    (
        "dom-2-nested-contained",
        patient(
            managingOrganization={"reference": "#o"},
            contained=[
                {
                    "resourceType": "Organization",
                    "id": "o",
                    "contained": [{"resourceType": "Organization", "id": "p"}],
                }
            ],
        ),
        "invariant",
        "Patient.contained[0].contained",
    ),
    (
        "dom-4-version-id",
        patient(
            managingOrganization={"reference": "#o"},
            contained=[{"resourceType": "Organization", "id": "o", "meta": {"versionId": "1"}}],
        ),
        "invariant",
        "Patient.contained[0].meta",
    ),
    (
        "dom-4-last-updated",
        patient(
            managingOrganization={"reference": "#o"},
            contained=[
                {"resourceType": "Organization", "id": "o", "meta": {"lastUpdated": "2020-01-01T00:00:00Z"}}
            ],
        ),
        "invariant",
        "Patient.contained[0].meta",
    ),
    (
        "dom-3-unreferenced",
        patient(contained=[{"resourceType": "Organization", "id": "o"}]),
        "invariant",
        "Patient.contained[0]",
    ),
    (
        "dom-3-other-id",
        patient(
            managingOrganization={"reference": "#p"}, contained=[{"resourceType": "Organization", "id": "o"}]
        ),
        "invariant",
        "Patient.contained[0]",
    ),
    (
        "dom-3-no-id",
        patient(contained=[{"resourceType": "Organization", "name": "o"}]),
        "invariant",
        "Patient.contained[0]",
    ),
    (
        "contained-invalid-content",
        patient(
            managingOrganization={"reference": "#o"},
            contained=[{"resourceType": "Organization", "id": "o", "active": "yes"}],
        ),
        "structure",
        "Patient.contained[0].active",
    ),
    ("contained-not-object", patient(contained=["x"]), "structure", "Patient.contained[0]"),
    ("contained-without-type", patient(contained=[{"id": "o"}]), "required", "Patient.contained[0]"),
    # nested resources
    (
        "bundle-entry",
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"resource": observation()},
                {"resource": patient()},
                {"resource": patient()},
                {"resource": observation(status="bogus")},
            ],
        },
        "code-invalid",
        "Bundle.entry[3].resource.status",
    ),
    (
        "bundle-entry-unknown-type",
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {"resourceType": "Nope"}}]},
        "invalid",
        "Bundle.entry[0].resource",
    ),
    (
        "bundle-entry-reference",
        {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": observation(subject={"reference": "Patient?name=x"})}],
        },
        "value",
        "Bundle.entry[0].resource.subject.reference",
    ),
    (
        "parameters-resource",
        {"resourceType": "Parameters", "parameter": [{"name": "p", "resource": patient(gender="x")}]},
        "code-invalid",
        "Parameters.parameter[0].resource.gender",
    ),
    (
        "parameters-part-resource",
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "p", "part": [{"name": "q", "resource": patient(foo=1)}]}],
        },
        "structure",
        "Parameters.parameter[0].part[0].resource.foo",
    ),
    # narrative
    ("div-not-div", patient(text=narrative("<p>x</p>")), "invariant", "Patient.text.div"),
    (
        "div-script",
        patient(text=narrative("<div><SCRIPT>alert(1)</SCRIPT></div>")),
        "invariant",
        "Patient.text.div",
    ),
    (
        "div-event-attribute",
        patient(text=narrative('<div><img src="x" onerror="alert(1)"/></div>')),
        "invariant",
        "Patient.text.div",
    ),
    ("div-not-string", patient(text=narrative(1)), "structure", "Patient.text.div"),
    ("div-missing", patient(text={"status": "generated"}), "required", "Patient.text.div"),
    # extensions
    (
        "ext-1-value-and-children",
        patient(
            extension=[
                {"url": "http://e", "valueString": "a", "extension": [{"url": "b", "valueString": "c"}]}
            ]
        ),
        "invariant",
        "Patient.extension[0]",
    ),
    (
        "extension-url-invalid",
        patient(extension=[{"url": "a b", "valueString": "x"}]),
        "value",
        "Patient.extension[0].url",
    ),
    # primitive extensions
    ("primitive-extension-not-object", patient(_birthDate="x"), "structure", "Patient.birthDate"),
    (
        "primitive-extension-unknown-key",
        patient(_birthDate={"value": "x"}),
        "structure",
        "Patient.birthDate.value",
    ),
    ("primitive-extension-empty", patient(_birthDate={}), "structure", "Patient.birthDate"),
    (
        "primitive-extension-id-only-without-value",
        patient(_birthDate={"id": "b"}),
        "structure",
        "Patient.birthDate",
    ),
    (
        "primitive-extension-not-array",
        patient(name=[{"given": ["a"], "_given": {"id": "x"}}]),
        "structure",
        "Patient.name[0].given",
    ),
    (
        "primitive-extension-length",
        patient(name=[{"given": ["a", "b"], "_given": [None]}]),
        "structure",
        "Patient.name[0].given",
    ),
    (
        "primitive-extension-bad-extension",
        patient(name=[{"given": ["a", None], "_given": [None, {"extension": [{"valueString": "x"}]}]}]),
        "required",
        "Patient.name[0].given[1].extension[0].url",
    ),
    (
        "primitive-extension-all-null",
        patient(name=[{"_given": [None]}]),
        "structure",
        "Patient.name[0].given[0]",
    ),
]


@pytest.mark.parametrize(
    ("resource", "code", "expression"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID]
)
def test_invalid_resource_reports_issue(resource: object, code: str, expression: str) -> None:
    issues = validate_resource(resource)
    assert (code, expression) in found(issues), [(i.code, i.expression, i.key) for i in issues]
    assert all(issue.severity == "error" for issue in issues)


VALID: list[tuple[str, Json]] = [
    ("minimal-patient", patient()),
    (
        "patient-full",
        patient(
            id="p-1.a",
            meta={
                "versionId": "3",
                "lastUpdated": "2024-05-01T10:00:00.123+02:00",
                "profile": ["http://example.org/StructureDefinition/p"],
            },
            text=narrative('<div xmlns="http://www.w3.org/1999/xhtml"><p>Ann <b>Smith</b></p></div>'),
            active=True,
            name=[{"use": "official", "family": "Smith", "given": ["Ann", "Marie"]}],
            gender="female",
            birthDate="2000-02-29",
            deceasedBoolean=False,
            multipleBirthInteger=2,
            telecom=[{"system": "phone", "value": "+33 1 23 45 67 89", "use": "home"}],
            photo=[{"contentType": "image/png", "data": "iVBORw0K\nGgo="}],
            communication=[{"language": {"text": "French"}, "preferred": True}],
            link=[{"other": {"reference": "RelatedPerson/r1"}, "type": "seealso"}],
        ),
    ),
    (
        "date-precisions",
        patient(
            birthDate="2000",
            extension=[
                {"url": "http://e/1", "valueDate": "2000-02"},
                {"url": "http://e/2", "valueDateTime": "2000-02-01T23:59:60Z"},
                {"url": "http://e/3", "valueDateTime": "2000-02-01T12:00:00-14:00"},
                {"url": "http://e/4", "valueInstant": "2000-02-01T12:00:00.5Z"},
                {"url": "http://e/5", "valueTime": "23:59:59.999"},
                {"url": "http://e/6", "valueDecimal": 1.5e3},
                {"url": "http://e/7", "valueDecimal": -2},
                {"url": "http://e/8", "valueUnsignedInt": 0},
                {"url": "http://e/9", "valueInteger": -(2**31)},
                {"url": "http://e/10", "valueOid": "urn:oid:1.2.840.10008"},
                {"url": "http://e/11", "valueUuid": UUID},
                {"url": "http://e/12", "valueCanonical": "http://hl7.org/fhir/ValueSet/x|4.0.1"},
                {"url": "http://e/13", "valueMarkdown": "*hi*"},
                {"url": "http://e/14", "valueCode": "a b"},
            ],
        ),
    ),
    (
        "observation-quantity",
        observation(
            subject={"reference": "Patient/1/_history/2"},
            effectiveDateTime="2024-01-01T10:00:00Z",
            valueQuantity={"value": 72.5, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"},
            component=[{"code": {"text": "c"}, "valueInteger": 3}],
        ),
    ),
    (
        "observation-value-extension-only",
        observation(
            _valueString={
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                        "valueCode": "unknown",
                    }
                ]
            }
        ),
    ),
    (
        "required-via-extension",
        {
            "resourceType": "Observation",
            "code": {"text": "x"},
            "_status": {
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                        "valueCode": "unknown",
                    }
                ]
            },
        },
    ),
    ("choice-value-and-its-extension", observation(valueString="a", _valueString={"id": "v"})),
    (
        "primitive-array-extensions",
        patient(
            name=[
                {
                    "given": ["a", None, "c"],
                    "_given": [None, {"extension": [{"url": "http://e", "valueString": "b"}]}, {"id": "g3"}],
                }
            ]
        ),
    ),
    (
        "references",
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"text": "x"},
            "subject": {"reference": "http://example.org/fhir/Patient/1"},
            "encounter": {"reference": UUID},
            "performer": [
                {"reference": "urn:oid:1.2.3.4"},
                {"display": "Dr X"},
                {"identifier": {"system": "http://npi", "value": "1"}},
            ],
            "hasMember": [{"reference": "Observation/a.b-c", "type": "Observation"}],
        },
    ),
    (
        "contained-referenced",
        patient(
            managingOrganization={"reference": "#org1"},
            contained=[{"resourceType": "Organization", "id": "org1", "name": "Clinic"}],
        ),
    ),
    (
        "contained-referencing-container",
        patient(
            contained=[
                {
                    "resourceType": "Provenance",
                    "id": "prov",
                    "target": [{"reference": "#"}],
                    "recorded": "2024-01-01T00:00:00Z",
                    "agent": [{"who": {"display": "x"}}],
                }
            ]
        ),
    ),
    (
        "contained-referenced-by-canonical",
        {
            "resourceType": "Questionnaire",
            "status": "draft",
            "contained": [{"resourceType": "ValueSet", "id": "vs", "status": "draft"}],
            "item": [{"linkId": "1", "type": "choice", "answerValueSet": "#vs"}],
        },
    ),
    (
        "contained-referenced-from-other-contained",
        {
            "resourceType": "MedicationRequest",
            "status": "active",
            "intent": "order",
            "subject": {"reference": "Patient/1"},
            "medicationReference": {"reference": "#med"},
            "contained": [
                {
                    "resourceType": "Medication",
                    "id": "med",
                    "ingredient": [{"itemReference": {"reference": "#sub"}}],
                },
                {"resourceType": "Substance", "id": "sub", "code": {"text": "s"}},
            ],
        },
    ),
    (
        "codeable-concept-binding",
        {
            "resourceType": "Condition",
            "subject": {"reference": "Patient/1"},
            "clinicalStatus": {
                "coding": [
                    {"system": "http://snomed.info/sct", "code": "55561003"},
                    {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"},
                ]
            },
        },
    ),
    (
        "transaction-conditional-reference",
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "fullUrl": UUID,
                    "resource": observation(subject={"reference": "Patient?identifier=http://x|1"}),
                    "request": {"method": "POST", "url": "Observation"},
                }
            ],
        },
    ),
    (
        "parameters",
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "a", "valueString": "x"},
                {"name": "b", "part": [{"name": "c", "resource": patient(gender="other")}]},
            ],
        },
    ),
    (
        "nested-questionnaire-items",
        {
            "resourceType": "Questionnaire",
            "status": "active",
            "item": [
                {
                    "linkId": "1",
                    "type": "group",
                    "item": [
                        {"linkId": "1.1", "type": "group", "item": [{"linkId": "1.1.1", "type": "string"}]}
                    ],
                }
            ],
        },
    ),
    (
        "extension-nested",
        patient(extension=[{"url": "http://e", "extension": [{"url": "a", "valueInteger": 1}]}]),
    ),
]


@pytest.mark.parametrize("resource", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_resource_has_no_issue(resource: Json) -> None:
    issues = validate_resource(resource)
    assert issues == [], [(i.code, i.expression, i.key, i.params) for i in issues]


def test_every_invalid_case_differs_from_a_valid_resource_only_by_its_fault() -> None:
    """The base resources used by the table are themselves valid."""
    assert validate_resource(patient()) == []
    assert validate_resource(observation()) == []


def test_expected_type() -> None:
    assert validate_resource(patient(), expected_type="Patient") == []
    issues = validate_resource(patient(), expected_type="Observation")
    assert found(issues) == {("invalid", "Patient")}
    assert issues[0].key == "validation.resource_type_mismatch"
    assert issues[0].params == {"type": "Patient", "expected": "Observation"}


def test_issue_has_registered_bilingual_message() -> None:
    resource = patient(foo=1, gender="x", birthDate="x", name={"family": "a"}, text=narrative("x"))
    issues = validate_resource(resource)
    assert len(issues) == 5
    for issue in issues:
        assert set(MESSAGES[issue.key]) == {"fr", "en"}
        rendered = issue.to_json("en")
        assert rendered["diagnostics"] != issue.key
        assert "{" not in rendered["diagnostics"]
        assert rendered["expression"] == list(issue.expression)
    assert issues[1].to_json("fr")["diagnostics"].startswith("Le code « x »")


def test_all_problems_are_reported() -> None:
    resource = observation(
        status="bogus", foo=1, valueString="a", valueBoolean=True, subject={"reference": "Nope/1"}
    )
    del resource["code"]
    assert found(validate_resource(resource)) == {
        ("code-invalid", "Observation.status"),
        ("structure", "Observation.foo"),
        ("structure", "Observation.value.ofType(boolean)"),
        ("value", "Observation.subject.reference"),
        ("required", "Observation.code"),
    }


def test_issue_count_is_capped() -> None:
    resource = patient(**{f"unknown{i}": i for i in range(MAX_ISSUES * 3)})
    issues = validate_resource(resource)
    assert len(issues) == MAX_ISSUES + 1
    assert issues[-1].code == "too-costly"
    assert issues[-1].key == "validation.too_many_issues"


def test_deep_extension_nesting_is_reported_not_raised() -> None:
    extension: Json = {"url": "http://e", "valueString": "leaf"}
    for _ in range(5000):
        extension = {"url": "http://e", "extension": [extension]}
    issues = validate_resource(patient(extension=[extension]))
    assert [(i.code, i.key) for i in issues] == [("too-costly", "validation.too_deep")]
    assert issues[0].expression[0].startswith("Patient.extension[0].extension[0].extension[0]")


def test_deep_questionnaire_items_are_reported_not_raised() -> None:
    item: Json = {"linkId": "leaf", "type": "string"}
    for depth in range(2000):
        item = {"linkId": str(depth), "type": "group", "item": [item]}
    issues = validate_resource({"resourceType": "Questionnaire", "status": "draft", "item": [item]})
    assert [i.key for i in issues] == ["validation.too_deep"]
    assert issues[0].params == {"max": MAX_DEPTH}


def test_deep_bundles_are_reported_not_raised() -> None:
    resource: Json = patient()
    for _ in range(1000):
        resource = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}]}
    assert [i.key for i in validate_resource(resource)] == ["validation.too_deep"]


def test_self_referencing_object_is_reported_not_raised() -> None:
    extension: Json = {"url": "http://e"}
    extension["extension"] = [extension]
    assert [i.key for i in validate_resource(patient(extension=[extension]))] == ["validation.too_deep"]


def test_hostile_values_do_not_raise() -> None:
    deep: object = "x"
    for _ in range(5000):
        deep = [deep]
    issues = validate_resource({"resourceType": deep, "gender": deep})
    assert found(issues) == {("invalid", "Resource")}
    issues = validate_resource(patient(gender=[deep], language=deep, **{"_gender": deep}))
    assert {i.key for i in issues} == {"validation.unexpected_array", "validation.expected_object"}
    bundle = {"resourceType": "Bundle", "type": ["transaction"], "entry": []}
    assert {i.key for i in validate_resource(bundle)} == {
        "validation.unexpected_array",
        "validation.empty_array",
    }
    coded = {
        "resourceType": "Condition",
        "subject": {"reference": "Patient/1"},
        "clinicalStatus": {
            "coding": [
                {"system": ["x"], "code": "a"},
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": {"a": [1]}},
            ]
        },
    }
    assert {i.key for i in validate_resource(coded)} == {
        "validation.unexpected_array",
        "validation.wrong_json_type",
        "validation.code_not_in_value_set",
    }


def test_validation_does_not_modify_the_resource() -> None:
    resource = patient(name=[{"given": ["a", None], "_given": [None, {"id": "x"}]}], foo=1)
    before = copy.deepcopy(resource)
    validate_resource(resource)
    assert resource == before


# --- primitives --------------------------------------------------------------------------------

OK, BAD_TYPE, BAD_VALUE = primitives.OK, primitives.BAD_JSON_TYPE, primitives.BAD_VALUE
PRIMITIVE_CASES: list[tuple[str, object, int]] = [
    ("boolean", True, OK),
    ("boolean", "true", BAD_TYPE),
    ("boolean", 1, BAD_TYPE),
    ("integer", 0, OK),
    ("integer", -5, OK),
    ("integer", 2**31 - 1, OK),
    ("integer", 2**31, BAD_VALUE),
    # A JSON number that is not a FHIR integer (fraction, exponent, beyond 64 bits: read as a
    # decimal) has the right JSON type and a wrong value.
    ("integer", 1.0, BAD_VALUE),
    ("integer", jsonio.loads(b"1e3"), BAD_VALUE),
    ("integer", jsonio.loads(b"123456789012345678901234567890"), BAD_VALUE),
    ("positiveInt", jsonio.loads(b"1.5"), BAD_VALUE),
    ("integer", "1", BAD_TYPE),
    ("integer", False, BAD_TYPE),
    ("unsignedInt", 0, OK),
    ("unsignedInt", -1, BAD_VALUE),
    ("positiveInt", 1, OK),
    ("positiveInt", 0, BAD_VALUE),
    ("decimal", 1, OK),
    ("decimal", 0.1, OK),
    ("decimal", "0.1", BAD_TYPE),
    ("decimal", True, BAD_TYPE),
    ("decimal", float("nan"), BAD_VALUE),
    ("decimal", float("inf"), BAD_VALUE),
    ("string", "a", OK),
    ("string", " a b ", OK),
    ("string", "", BAD_VALUE),
    ("string", 1, BAD_TYPE),
    ("string", "x" * (1024 * 1024 + 1), BAD_VALUE),
    ("markdown", "# t", OK),
    ("xhtml", "<div/>", OK),
    ("code", "a-b", OK),
    ("code", "a b", OK),
    ("code", "a  b", BAD_VALUE),
    ("code", "a ", BAD_VALUE),
    ("code", "a\tb", BAD_VALUE),
    ("id", "Ab-1.2", OK),
    ("id", "a_b", BAD_VALUE),
    ("id", "x" * 64, OK),
    ("id", "x" * 65, BAD_VALUE),
    ("uri", "urn:x", OK),
    ("uri", "a b", BAD_VALUE),
    ("url", "http://x/y", OK),
    ("canonical", "http://x|1", OK),
    ("oid", "urn:oid:1.2.3", OK),
    ("oid", "urn:oid:1.02", BAD_VALUE),
    ("oid", "urn:oid:3.1", BAD_VALUE),
    ("oid", "1.2.3", BAD_VALUE),
    ("uuid", UUID, OK),
    ("uuid", UUID.upper(), BAD_VALUE),
    ("uuid", "urn:uuid:123", BAD_VALUE),
    ("base64Binary", "aGVsbG8=", OK),
    ("base64Binary", "aGVs bG8=", OK),
    ("base64Binary", "a+/b", OK),
    ("base64Binary", "abc", BAD_VALUE),
    ("base64Binary", "ab=c", BAD_VALUE),
    ("base64Binary", " ", BAD_VALUE),
    ("date", "2024", OK),
    ("date", "2024-02", OK),
    ("date", "2024-02-29", OK),
    ("date", "2023-02-29", BAD_VALUE),
    ("date", "0000", BAD_VALUE),
    ("date", "2024-04-31", BAD_VALUE),
    ("date", "24-01-01", BAD_VALUE),
    ("dateTime", "2024-01-01T00:00:00Z", OK),
    ("dateTime", "2024-01-01T00:00:00.1234+14:00", OK),
    ("dateTime", "2024-01-01T00:00:00+14:30", BAD_VALUE),
    ("dateTime", "2024-01-01T24:00:00Z", BAD_VALUE),
    ("dateTime", "2024-01-01T00:00Z", BAD_VALUE),
    ("dateTime", "2024-01", OK),
    ("instant", "2024-01-01T00:00:00Z", OK),
    ("instant", "2024-01-01", BAD_VALUE),
    ("instant", "2024-01-01T00:00:00", BAD_VALUE),
    ("time", "00:00:00", OK),
    ("time", "23:59:60.5", OK),
    ("time", "24:00:00", BAD_VALUE),
    ("time", "10:00", BAD_VALUE),
]


@pytest.mark.parametrize(("type_code", "value", "expected"), PRIMITIVE_CASES)
def test_primitive_check(type_code: str, value: object, expected: int) -> None:
    assert primitives.check(type_code, value) == expected


def test_every_r4_primitive_has_a_checker() -> None:
    assert set(primitives.CHECKERS) == definitions.PRIMITIVE_TYPES
    assert len(definitions.PRIMITIVE_TYPES) == 20


# --- definitions -------------------------------------------------------------------------------


def test_resource_types() -> None:
    assert len(definitions.RESOURCE_TYPES) == 146
    assert {
        "Patient",
        "Observation",
        "Bundle",
        "Parameters",
        "OperationOutcome",
    } <= definitions.RESOURCE_TYPES
    assert definitions.is_resource_type("Patient")
    for name in ("Resource", "DomainResource", "HumanName", "string", "patient", None, 1):
        assert not definitions.is_resource_type(name)


def test_compiled_tables() -> None:
    questionnaire = definitions.resource_node("Questionnaire")
    assert questionnaire is not None
    item = questionnaire.elements["item"].node
    assert item is not None and item.path == "Questionnaire.item"
    assert item.elements["item"].node is item  # contentReference #Questionnaire.item
    observation_node = definitions.resource_node("Observation")
    assert observation_node is not None
    value = observation_node.elements["valueQuantity"]
    assert (value.name, value.type_code, value.label, value.choice) == (
        "value[x]",
        "Quantity",
        "value.ofType(Quantity)",
        True,
    )
    assert "final" in (observation_node.elements["status"].codes or ())
    assert definitions.resource_node("DomainResource") is None
    assert definitions.type_node("HumanName") is not None
    codes = definitions.value_set_codes("http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1")
    assert codes == {
        "http://hl7.org/fhir/administrative-gender": frozenset({"male", "female", "other", "unknown"})
    }
    assert definitions.value_set_codes("http://hl7.org/fhir/ValueSet/mimetypes") is None  # not enumerable


def test_shipped_definitions_are_up_to_date_and_licensed() -> None:
    shipped = json.loads(gzip.decompress(OUTPUT.read_bytes()))
    assert "CC0" in shipped["licence"] and "4.0.1" in shipped["licence"]
    assert shipped == build(CORE), "run: .venv/bin/python -m hygie.fhir.build_definitions"
