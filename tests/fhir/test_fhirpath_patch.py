"""Tests of FHIRPath Patch (hygie.fhir.fhirpath_patch).

Spec: https://hl7.org/fhir/R4/fhirpatch.html — operations add, insert, delete, replace, move over a
Parameters body, paths in FHIRPath, choice elements and primitive extensions per
https://hl7.org/fhir/R4/json.html.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from hygie.fhir.fhirpath_patch import apply_fhirpath_patch
from hygie.fhir.messages import MESSAGES
from hygie.fhir.outcome import FhirError
from hygie.fhir.validation import validate_resource

Json = dict[str, Any]
EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir-r4-examples"

INS = "urn:oid:1.2.250.1.213.1.4.8"
MRN = "http://hospital.example.org/mrn"
SCT = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
QUALIFIER = "http://hl7.org/fhir/StructureDefinition/iso21090-EN-qualifier"
BIRTH_TIME = "http://hl7.org/fhir/StructureDefinition/patient-birthTime"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
CL = {"extension": [{"url": QUALIFIER, "valueCode": "CL"}]}

PATIENT: Json = {
    "resourceType": "Patient",
    "id": "p1",
    "extension": [{"url": BIRTH_PLACE, "valueAddress": {"city": "Lyon", "country": "FR"}}],
    "identifier": [
        {"system": INS, "value": "2800269123456"},
        {"system": MRN, "value": "MRN-1"},
    ],
    "name": [
        {"use": "official", "family": "Dupont", "given": ["Marie", "Claire"], "_given": [None, CL]},
        {"use": "usual", "given": ["Mimi"]},
    ],
    "telecom": [
        {"system": "phone", "value": "+33 1 23 45 67 89", "use": "home"},
        {"system": "email", "value": "marie.dupont@example.org"},
    ],
    "gender": "female",
    "birthDate": "1980-02-29",
    "_birthDate": {"extension": [{"url": BIRTH_TIME, "valueDateTime": "1980-02-29T10:30:00+01:00"}]},
    "maritalStatus": {"text": "Mariée"},
    "contained": [{"resourceType": "Organization", "id": "org1", "name": "CHU de Lyon"}],
    "managingOrganization": {"reference": "#org1"},
}

OBSERVATION: Json = {
    "resourceType": "Observation",
    "id": "o1",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7", "display": "Body weight"}]},
    "subject": {"reference": "Patient/p1"},
    "valueQuantity": {"value": 72.5, "unit": "kg", "system": UCUM, "code": "kg"},
}

CONDITION: Json = {
    "resourceType": "Condition",
    "id": "c1",
    "code": {
        "coding": [{"system": SCT, "code": "44054006", "display": "Diabetes mellitus type 2"}],
        "text": "Diabète de type 2",
    },
    "subject": {"reference": "Patient/p1"},
}

MINIMAL: Json = {"resourceType": "Patient", "id": "p2", "identifier": [{"system": MRN, "value": "A"}]}

GONE = object()


# ---------------------------------------------------------------------------------------------
# Builders of Parameters


def operation(kind: str, path: str | None = None, **parts: Json) -> Json:
    part: list[Json] = [{"name": "type", "valueCode": kind}]
    if path is not None:
        part.append({"name": "path", "valueString": path})
    part.extend({"name": name, **content} for name, content in parts.items())
    return {"name": "operation", "part": part}


def add(path: str, name: str, **value: Any) -> Json:
    return operation("add", path, name={"valueString": name}, value=value)


def insert(path: str, index: int, **value: Any) -> Json:
    return operation("insert", path, value=value, index={"valueInteger": index})


def delete(path: str) -> Json:
    return operation("delete", path)


def replace(path: str, **value: Any) -> Json:
    return operation("replace", path, value=value)


def move(path: str, source: int, destination: int) -> Json:
    return operation("move", path, source={"valueInteger": source}, destination={"valueInteger": destination})


def parts(**named: Any) -> list[Json]:
    """Anonymous value parts: each keyword is a property; a list value gives several parts."""
    out: list[Json] = []
    for name, values in named.items():
        for value in values if isinstance(values, list) else [values]:
            out.append({"name": name, **value})
    return out


def params(*operations: Json) -> Json:
    return {"resourceType": "Parameters", "parameter": list(operations)}


def changed(base: Json, **changes: Any) -> Json:
    """``base`` with top-level keys replaced (``GONE`` removes one)."""
    out = copy.deepcopy(base)
    for name, value in changes.items():
        key = name[1:] if name.startswith("__") else name
        if value is GONE:
            out.pop(key, None)
        else:
            out[key] = value
    return out


OFFICIAL = PATIENT["name"][0]
USUAL = PATIENT["name"][1]
PHONE, EMAIL = PATIENT["telecom"]
INS_ID, MRN_ID = PATIENT["identifier"]


# ---------------------------------------------------------------------------------------------
# Successful patches: (resource, operations, expected result)

SUCCESS: dict[str, tuple[Json, list[Json], Json]] = {
    # --- the spec's own examples
    "spec add birthDate": (
        MINIMAL,
        [add("Patient", "birthDate", valueDate="1930-01-01")],
        changed(MINIMAL, birthDate="1930-01-01"),
    ),
    "spec add anonymous contact": (
        MINIMAL,
        [add("Patient", "contact", part=parts(name={"valueHumanName": {"text": "a name"}}))],
        changed(MINIMAL, contact=[{"name": {"text": "a name"}}]),
    ),
    "spec insert identifier": (
        MINIMAL,
        [insert("Patient.identifier", 0, valueIdentifier={"system": "http://example.org", "value": "B"})],
        changed(MINIMAL, identifier=[{"system": "http://example.org", "value": "B"}, *MINIMAL["identifier"]]),
    ),
    "spec delete identifier": (
        PATIENT,
        [delete("Patient.identifier[0]")],
        changed(PATIENT, identifier=[MRN_ID]),
    ),
    "spec replace birthDate": (
        PATIENT,
        [replace("Patient.birthDate", valueDate="1930-01-01")],
        changed(PATIENT, birthDate="1930-01-01"),  # the birthTime extension is kept
    ),
    "spec move identifier": (
        PATIENT,
        [move("Patient.identifier", 1, 0)],
        changed(PATIENT, identifier=[MRN_ID, INS_ID]),
    ),
    # --- add
    "add appends to a repeating element": (
        PATIENT,
        [add("Patient", "identifier", valueIdentifier={"system": "http://x.org", "value": "9"})],
        changed(PATIENT, identifier=[INS_ID, MRN_ID, {"system": "http://x.org", "value": "9"}]),
    ),
    "add given keeps _given aligned": (
        PATIENT,
        [add("Patient.name[0]", "given", valueString="Anne")],
        changed(
            PATIENT,
            name=[{**OFFICIAL, "given": ["Marie", "Claire", "Anne"], "_given": [None, CL, None]}, USUAL],
        ),
    ),
    "add under where()": (
        PATIENT,
        [add("Patient.name.where(use = 'official')", "prefix", valueString="Mme")],
        changed(PATIENT, name=[{**OFFICIAL, "prefix": ["Mme"]}, USUAL]),
    ),
    "add choice element takes the typed key": (
        PATIENT,
        [add("Patient", "deceased", valueBoolean=False)],
        changed(PATIENT, deceasedBoolean=False),
    ),
    "add choice element by its typed name": (
        PATIENT,
        [add("Patient", "deceasedDateTime", valueDateTime="2024-05-01T08:00:00+02:00")],
        changed(PATIENT, deceasedDateTime="2024-05-01T08:00:00+02:00"),
    ),
    "add a string to a code element": (
        MINIMAL,
        [add("Patient", "gender", valueString="male")],
        changed(MINIMAL, gender="male"),
    ),
    "add anonymous contact with repeating parts": (
        MINIMAL,
        [
            add(
                "Patient",
                "contact",
                part=parts(
                    relationship={"valueCodeableConcept": {"text": "fille"}},
                    name={"valueHumanName": {"family": "Martin"}},
                    telecom=[
                        {"valueContactPoint": {"system": "phone", "value": "0601020304"}},
                        {"valueContactPoint": {"system": "email", "value": "l.martin@example.org"}},
                    ],
                ),
            )
        ],
        changed(
            MINIMAL,
            contact=[
                {
                    "relationship": [{"text": "fille"}],
                    "name": {"family": "Martin"},
                    "telecom": [
                        {"system": "phone", "value": "0601020304"},
                        {"system": "email", "value": "l.martin@example.org"},
                    ],
                }
            ],
        ),
    ),
    "add extension built from parts": (
        MINIMAL,
        [
            add(
                "Patient",
                "extension",
                part=parts(url={"valueUri": BIRTH_PLACE}, value={"valueAddress": {"city": "Nantes"}}),
            )
        ],
        changed(MINIMAL, extension=[{"url": BIRTH_PLACE, "valueAddress": {"city": "Nantes"}}]),
    ),
    "add Observation component with choice value part": (
        OBSERVATION,
        [
            add(
                "Observation",
                "component",
                part=parts(
                    code={"valueCodeableConcept": {"text": "tare"}},
                    value={"valueQuantity": {"value": 1, "unit": "kg"}},
                ),
            )
        ],
        changed(
            OBSERVATION, component=[{"code": {"text": "tare"}, "valueQuantity": {"value": 1, "unit": "kg"}}]
        ),
    ),
    "add contained resource": (
        MINIMAL,
        [
            add("Patient", "contained", resource={"resourceType": "Practitioner", "id": "pr1"}),
            add("Patient", "generalPractitioner", valueReference={"reference": "#pr1"}),
        ],
        changed(
            MINIMAL,
            contained=[{"resourceType": "Practitioner", "id": "pr1"}],
            generalPractitioner=[{"reference": "#pr1"}],
        ),
    ),
    "add coding to Condition.code": (
        CONDITION,
        [
            add(
                "Condition.code",
                "coding",
                valueCoding={"system": "http://hl7.org/fhir/sid/icd-10", "code": "E11"},
            )
        ],
        changed(
            CONDITION,
            code={
                **CONDITION["code"],
                "coding": [
                    *CONDITION["code"]["coding"],
                    {"system": "http://hl7.org/fhir/sid/icd-10", "code": "E11"},
                ],
            },
        ),
    ),
    "add with a relative path": (
        PATIENT,
        [add("name[1]", "family", valueString="Dupont")],
        changed(PATIENT, name=[OFFICIAL, {**USUAL, "family": "Dupont"}]),
    ),
    # --- insert
    "insert at the end": (
        PATIENT,
        [insert("Patient.telecom", 2, valueContactPoint={"system": "sms", "value": "0600000000"})],
        changed(PATIENT, telecom=[PHONE, EMAIL, {"system": "sms", "value": "0600000000"}]),
    ),
    "insert given shifts _given": (
        PATIENT,
        [insert("Patient.name[0].given", 0, valueString="Anne")],
        changed(
            PATIENT,
            name=[{**OFFICIAL, "given": ["Anne", "Marie", "Claire"], "_given": [None, None, CL]}, USUAL],
        ),
    ),
    "insert into an absent list": (
        PATIENT,
        [insert("Patient.address", 0, valueAddress={"city": "Lyon"})],
        changed(PATIENT, address=[{"city": "Lyon"}]),
    ),
    "insert anonymous object": (
        PATIENT,
        [
            insert(
                "Patient.communication",
                0,
                part=parts(language={"valueCodeableConcept": {"text": "français"}}),
            )
        ],
        changed(PATIENT, communication=[{"language": {"text": "français"}}]),
    ),
    # --- delete
    "delete where(system)": (
        PATIENT,
        [delete("Patient.telecom.where(system = 'email')")],
        changed(PATIENT, telecom=[PHONE]),
    ),
    "delete where(system and value)": (
        PATIENT,
        [delete(f"Patient.identifier.where(system = '{MRN}' and value = 'MRN-1')")],
        changed(PATIENT, identifier=[INS_ID]),
    ),
    "delete the last item removes the array": (
        MINIMAL,
        [delete("Patient.identifier[0]")],
        changed(MINIMAL, identifier=GONE),
    ),
    "delete a primitive drops its extension": (
        PATIENT,
        [delete("Patient.birthDate")],
        changed(PATIENT, birthDate=GONE, __birthDate=GONE),
    ),
    "delete given keeps _given aligned": (
        PATIENT,
        [delete("Patient.name[0].given[0]")],
        changed(PATIENT, name=[{**OFFICIAL, "given": ["Claire"], "_given": [CL]}, USUAL]),
    ),
    "delete the extended given drops _given": (
        PATIENT,
        [delete("Patient.name[0].given.last()")],
        changed(PATIENT, name=[{"use": "official", "family": "Dupont", "given": ["Marie"]}, USUAL]),
    ),
    "delete the only property removes the object": (
        PATIENT,
        [delete("Patient.maritalStatus.text")],
        changed(PATIENT, maritalStatus=GONE),
    ),
    "delete cascades up through emptied arrays": (
        changed(MINIMAL, name=[{"given": ["Jo"]}]),
        [delete("Patient.name.given")],
        MINIMAL,
    ),
    "delete of nothing is a no-op": (PATIENT, [delete("Patient.deceased")], PATIENT),
    "delete by extension(url)": (
        PATIENT,
        [delete(f"Patient.extension('{BIRTH_PLACE}')")],
        changed(PATIENT, extension=GONE),
    ),
    "delete Condition coding by system": (
        CONDITION,
        [delete(f"Condition.code.coding.where(system = '{SCT}')")],
        changed(CONDITION, code={"text": "Diabète de type 2"}),
    ),
    # --- replace
    "replace Observation.value (choice) with a quantity": (
        OBSERVATION,
        [
            replace(
                "Observation.value", valueQuantity={"value": 73, "unit": "kg", "system": UCUM, "code": "kg"}
            )
        ],
        changed(OBSERVATION, valueQuantity={"value": 73, "unit": "kg", "system": UCUM, "code": "kg"}),
    ),
    "replace Observation.value with another type renames the key": (
        OBSERVATION,
        [replace("Observation.value", valueString="non mesurable")],
        changed(OBSERVATION, valueQuantity=GONE, valueString="non mesurable"),
    ),
    "replace inside a choice value": (
        OBSERVATION,
        [replace("Observation.value.value", valueDecimal=71.9)],
        changed(OBSERVATION, valueQuantity={**OBSERVATION["valueQuantity"], "value": 71.9}),
    ),
    "replace through ofType()": (
        OBSERVATION,
        [replace("Observation.value.ofType(Quantity).unit", valueString="kilogram")],
        changed(OBSERVATION, valueQuantity={**OBSERVATION["valueQuantity"], "unit": "kilogram"}),
    ),
    "replace through as": (
        OBSERVATION,
        [replace("(Observation.value as Quantity).value", valueInteger=70)],
        changed(OBSERVATION, valueQuantity={**OBSERVATION["valueQuantity"], "value": 70}),
    ),
    "replace Condition.code": (
        CONDITION,
        [replace("Condition.code", valueCodeableConcept={"coding": [{"system": SCT, "code": "46635009"}]})],
        changed(CONDITION, code={"coding": [{"system": SCT, "code": "46635009"}]}),
    ),
    "replace a coding's code with valueCode": (
        CONDITION,
        [replace(f"Condition.code.coding.where(system = '{SCT}').code", valueCode="46635009")],
        changed(
            CONDITION,
            code={**CONDITION["code"], "coding": [{**CONDITION["code"]["coding"][0], "code": "46635009"}]},
        ),
    ),
    "replace identifier value by where(and)": (
        PATIENT,
        [
            replace(
                f"Patient.identifier.where(system = '{MRN}' and value = 'MRN-1').value", valueString="MRN-2"
            )
        ],
        changed(PATIENT, identifier=[INS_ID, {"system": MRN, "value": "MRN-2"}]),
    ),
    "replace telecom item": (
        PATIENT,
        [
            replace(
                "Patient.telecom.where(system = 'phone')",
                valueContactPoint={"system": "phone", "value": "112"},
            )
        ],
        changed(PATIENT, telecom=[{"system": "phone", "value": "112"}, EMAIL]),
    ),
    "replace family via first()": (
        PATIENT,
        [replace("Patient.name.first().family", valueString="Durand")],
        changed(PATIENT, name=[{**OFFICIAL, "family": "Durand"}, USUAL]),
    ),
    "replace an extended given keeps its extension": (
        PATIENT,
        [replace("Patient.name[0].given[1]", valueString="Claude")],
        changed(PATIENT, name=[{**OFFICIAL, "given": ["Marie", "Claude"]}, USUAL]),
    ),
    "replace gender with a code": (
        PATIENT,
        [replace("Patient.gender", valueCode="other")],
        changed(PATIENT, gender="other"),
    ),
    "replace extension value by extension(url)": (
        PATIENT,
        [replace(f"Patient.extension('{BIRTH_PLACE}').value", valueAddress={"city": "Paris"})],
        changed(PATIENT, extension=[{"url": BIRTH_PLACE, "valueAddress": {"city": "Paris"}}]),
    ),
    "replace in a contained resource": (
        PATIENT,
        [replace("Patient.contained.where(id = 'org1').name", valueString="Hospices Civils de Lyon")],
        changed(
            PATIENT,
            contained=[{"resourceType": "Organization", "id": "org1", "name": "Hospices Civils de Lyon"}],
        ),
    ),
    "replace with an anonymous object": (
        PATIENT,
        [replace("Patient.maritalStatus", part=parts(text={"valueString": "Divorcée"}))],
        changed(PATIENT, maritalStatus={"text": "Divorcée"}),
    ),
    # --- move
    "move given keeps _given aligned": (
        PATIENT,
        [move("Patient.name[0].given", 1, 0)],
        changed(PATIENT, name=[{**OFFICIAL, "given": ["Claire", "Marie"], "_given": [CL, None]}, USUAL]),
    ),
    "move to the end": (
        PATIENT,
        [move("Patient.name", 0, 1)],
        changed(PATIENT, name=[USUAL, OFFICIAL]),
    ),
    # --- several operations, in order
    "operations apply in order": (
        PATIENT,
        [
            insert("Patient.identifier", 0, valueIdentifier={"system": "http://x.org", "value": "0"}),
            replace("Patient.identifier[1].value", valueString="2800269000000"),
            delete("Patient.identifier[2]"),
            move("Patient.identifier", 0, 1),
        ],
        changed(
            PATIENT,
            identifier=[{"system": INS, "value": "2800269000000"}, {"system": "http://x.org", "value": "0"}],
        ),
    ),
}


@pytest.mark.parametrize(("resource", "operations", "expected"), SUCCESS.values(), ids=SUCCESS.keys())
def test_patch_applies(resource: Json, operations: list[Json], expected: Json) -> None:
    parameters = params(*operations)
    resource_before, parameters_before = copy.deepcopy(resource), copy.deepcopy(parameters)
    result = apply_fhirpath_patch(resource, parameters)
    assert result == expected
    assert resource == resource_before and parameters == parameters_before
    assert validate_resource(result) == []


# ---------------------------------------------------------------------------------------------
# Failures: (resource, Parameters, expected error)
# expected: "status issue-code message-key expression" (key without its "fhirpatch." prefix,
# expression relative to "Parameters", "-" for Parameters itself).
FAILURES: dict[str, tuple[Json, Any, str]] = {
    # --- malformed Parameters (400)
    "not a Parameters": (PATIENT, {"resourceType": "Bundle"}, "400 structure not_parameters -"),
    "not a dict": (PATIENT, [delete("Patient.gender")], "400 structure not_parameters -"),
    "parameter not a list": (
        PATIENT,
        {"resourceType": "Parameters", "parameter": {}},
        "400 structure not_parameters parameter",
    ),
    "parameter not named operation": (
        PATIENT,
        params({"name": "op", "part": delete("Patient.gender")["part"]}),
        "400 structure not_operation parameter[0]",
    ),
    "operation without parts": (
        PATIENT,
        params({"name": "operation"}),
        "400 structure not_operation parameter[0]",
    ),
    "part without name": (
        PATIENT,
        params({"name": "operation", "part": [{"valueCode": "delete"}]}),
        "400 structure part_invalid parameter[0].part[0]",
    ),
    "missing type": (
        PATIENT,
        params({"name": "operation", "part": [{"name": "path", "valueString": "Patient.gender"}]}),
        "400 required part_missing parameter[0]",
    ),
    "unknown type": (
        PATIENT,
        params(operation("copy", "Patient.gender")),
        "400 code-invalid type_unknown parameter[0].part[0]",
    ),
    "missing path": (PATIENT, params(operation("delete")), "400 required part_missing parameter[0]"),
    "missing value": (
        PATIENT,
        params(operation("replace", "Patient.gender")),
        "400 required part_missing parameter[0]",
    ),
    "missing index": (
        PATIENT,
        params(operation("insert", "Patient.identifier", value={"valueIdentifier": {"value": "1"}})),
        "400 required part_missing parameter[0]",
    ),
    "missing destination": (
        PATIENT,
        params(operation("move", "Patient.identifier", source={"valueInteger": 0})),
        "400 required part_missing parameter[0]",
    ),
    "duplicate part": (
        PATIENT,
        params(
            {
                "name": "operation",
                "part": [*delete("Patient.gender")["part"], {"name": "path", "valueString": "x"}],
            }
        ),
        "400 structure part_duplicate parameter[0].part[2]",
    ),
    "part not for this operation": (
        PATIENT,
        params(operation("delete", "Patient.gender", index={"valueInteger": 0})),
        "400 structure part_unexpected parameter[0].part[2]",
    ),
    "path is not a string": (
        PATIENT,
        params(
            {
                "name": "operation",
                "part": [{"name": "type", "valueCode": "delete"}, {"name": "path", "valueInteger": 3}],
            }
        ),
        "400 structure part_type parameter[0].part[1]",
    ),
    "index is a string": (
        PATIENT,
        params(
            operation(
                "insert",
                "Patient.identifier",
                value={"valueIdentifier": {"value": "1"}},
                index={"valueString": "0"},
            )
        ),
        "400 structure part_type parameter[0].part[3]",
    ),
    "source is a boolean": (
        PATIENT,
        params(
            operation(
                "move", "Patient.identifier", source={"valueInteger": True}, destination={"valueInteger": 0}
            )
        ),
        "400 structure part_type parameter[0].part[2]",
    ),
    "value with two value[x]": (
        PATIENT,
        params(replace("Patient.gender", valueCode="male", valueString="male")),
        "400 structure value_invalid parameter[0].part[2]",
    ),
    "value of an unknown type": (
        PATIENT,
        params(replace("Patient.gender", valueGender="male")),
        "400 structure value_invalid parameter[0].part[2]",
    ),
    "value without content": (
        PATIENT,
        params(replace("Patient.gender")),
        "400 structure value_invalid parameter[0].part[2]",
    ),
    "anonymous sub-part without name": (
        MINIMAL,
        params(add("Patient", "contact", part=[{"valueString": "x"}])),
        "400 structure part_invalid parameter[0].part[3].part[0]",
    ),
    "path syntax error": (
        PATIENT,
        params(delete("Patient.name[")),
        "400 invalid path_syntax parameter[0].part[1]",
    ),
    # --- patches that cannot be applied (422)
    "unsupported function": (
        PATIENT,
        params(delete("Patient.name.select(given)")),
        "422 not-supported path_unsupported parameter[0].part[1]",
    ),
    "unsupported union": (
        PATIENT,
        params(delete("Patient.gender | Patient.birthDate")),
        "422 not-supported path_unsupported parameter[0].part[1]",
    ),
    "non-literal indexer": (
        PATIENT,
        params(delete("Patient.name[0 + 1]")),
        "422 not-supported path_unsupported parameter[0].part[1]",
    ),
    "where() on a multi-valued boolean": (
        PATIENT,
        params(delete("Patient.name.where(given)")),
        "422 processing path_eval parameter[0].part[1]",
    ),
    "replace of nothing": (
        PATIENT,
        params(replace("Patient.deceased", valueBoolean=True)),
        "422 not-found no_match parameter[0].part[1]",
    ),
    "add on another resource type": (
        PATIENT,
        params(add("Observation", "status", valueCode="final")),
        "422 not-found no_match parameter[0].part[1]",
    ),
    "replace with several matches": (
        PATIENT,
        params(replace("Patient.identifier.value", valueString="1")),
        "422 multiple-matches ambiguous parameter[0].part[1]",
    ),
    "delete with several matches": (
        PATIENT,
        params(delete("Patient.telecom")),
        "422 multiple-matches ambiguous parameter[0].part[1]",
    ),
    "add under several matches": (
        PATIENT,
        params(add("Patient.name", "prefix", valueString="Mme")),
        "422 multiple-matches ambiguous parameter[0].part[1]",
    ),
    "add a single element already present": (
        PATIENT,
        params(add("Patient", "birthDate", valueDate="1930-01-01")),
        "422 processing already_present parameter[0].part[2]",
    ),
    "add a choice already present with another type": (
        changed(PATIENT, deceasedDateTime="2024-05-01"),
        params(add("Patient", "deceased", valueBoolean=True)),
        "422 processing already_present parameter[0].part[2]",
    ),
    "add an unknown element": (
        PATIENT,
        params(add("Patient", "nickname", valueString="Mimi")),
        "422 processing unknown_element parameter[0].part[2]",
    ),
    "add a value of the wrong type": (
        MINIMAL,
        params(add("Patient", "birthDate", valueBoolean=True)),
        "422 processing wrong_type parameter[0].part[3]",
    ),
    "add a choice type that does not exist": (
        MINIMAL,
        params(add("Patient", "deceased", valueString="oui")),
        "422 processing wrong_type parameter[0].part[3]",
    ),
    "add a datatype to a backbone element": (
        MINIMAL,
        params(add("Patient", "contact", valueHumanName={"family": "X"})),
        "422 processing wrong_type parameter[0].part[3]",
    ),
    "add a choice from untyped parts": (
        MINIMAL,
        params(add("Patient", "deceased", part=parts(text={"valueString": "x"}))),
        "422 processing choice_untyped parameter[0].part[3]",
    ),
    "anonymous part naming an unknown property": (
        MINIMAL,
        params(
            add(
                "Patient",
                "contact",
                part=parts(name={"valueHumanName": {"text": "a"}}, nickname={"valueString": "b"}),
            )
        ),
        "422 processing unknown_element parameter[0].part[3].part[1]",
    ),
    "anonymous part of the wrong type": (
        MINIMAL,
        params(add("Patient", "contact", part=parts(name={"valueString": "a"}))),
        "422 processing wrong_type parameter[0].part[3].part[0]",
    ),
    "add under a primitive": (
        PATIENT,
        params(add("Patient.birthDate", "id", valueString="x")),
        "422 processing not_container parameter[0].part[1]",
    ),
    "replace with a type the choice lacks": (
        OBSERVATION,
        params(replace("Observation.value", valueAddress={"city": "Lyon"})),
        "422 processing wrong_type parameter[0].part[2]",
    ),
    "replace with the wrong type": (
        CONDITION,
        params(replace("Condition.code", valueCoding={"code": "x"})),
        "422 processing wrong_type parameter[0].part[2]",
    ),
    "insert into a single element": (
        PATIENT,
        params(insert("Patient.birthDate", 0, valueDate="1930-01-01")),
        "422 processing not_list parameter[0].part[1]",
    ),
    "insert after a function": (
        PATIENT,
        params(insert("Patient.name.first()", 0, valueHumanName={"text": "x"})),
        "422 processing not_list parameter[0].part[1]",
    ),
    "insert into an unknown element": (
        PATIENT,
        params(insert("Patient.nicknames", 0, valueString="x")),
        "422 processing unknown_element parameter[0].part[1]",
    ),
    "insert past the end": (
        PATIENT,
        params(insert("Patient.identifier", 3, valueIdentifier={"value": "x"})),
        "422 processing index_range parameter[0].part[3]",
    ),
    "insert at a negative index": (
        PATIENT,
        params(insert("Patient.identifier", -1, valueIdentifier={"value": "x"})),
        "422 processing index_range parameter[0].part[3]",
    ),
    "insert under an ambiguous path": (
        PATIENT,
        params(insert("Patient.name.given", 0, valueString="x")),
        "422 multiple-matches ambiguous parameter[0].part[1]",
    ),
    "move source out of range": (
        PATIENT,
        params(move("Patient.identifier", 2, 0)),
        "422 processing index_range parameter[0].part[2]",
    ),
    "move destination out of range": (
        PATIENT,
        params(move("Patient.identifier", 0, 2)),
        "422 processing index_range parameter[0].part[3]",
    ),
    "move in an absent list": (
        PATIENT,
        params(move("Patient.address", 0, 0)),
        "422 not-found no_match parameter[0].part[1]",
    ),
    "delete the resource": (PATIENT, params(delete("Patient")), "422 processing root parameter[0].part[1]"),
    "replace the resource": (
        PATIENT,
        params(replace("Patient", resource={"resourceType": "Patient"})),
        "422 processing root parameter[0].part[1]",
    ),
    "error in a later operation": (
        PATIENT,
        params(delete("Patient.gender"), replace("Patient.deceased", valueBoolean=True)),
        "422 not-found no_match parameter[1].part[1]",
    ),
}


@pytest.mark.parametrize(("resource", "parameters", "expected"), FAILURES.values(), ids=FAILURES.keys())
def test_patch_fails(resource: Json, parameters: Any, expected: str) -> None:
    status, code, key, where = expected.split()
    key = f"fhirpatch.{key}"
    expression = "Parameters" if where == "-" else f"Parameters.{where}"
    resource_before, parameters_before = copy.deepcopy(resource), copy.deepcopy(parameters)
    with pytest.raises(FhirError) as caught:
        apply_fhirpath_patch(resource, parameters)
    error = caught.value
    assert error.status == int(status)
    assert [(i.code, i.key, i.expression) for i in error.issues] == [(code, key, (expression,))]
    if key == "fhirpatch.path_unsupported":
        assert error.issues[0].params["feature"] in {"select()", "|", "[…]"}
    for lang in ("fr", "en"):
        diagnostics = error.outcome(lang)["issue"][0]["diagnostics"]
        assert diagnostics != key and "{" not in diagnostics
    assert resource == resource_before and parameters == parameters_before


def test_too_deeply_nested_value_is_rejected() -> None:
    value: Json = {"valueString": "x"}
    for _ in range(40):
        value = {"part": [{"name": "extension", **value}]}
    with pytest.raises(FhirError) as caught:
        apply_fhirpath_patch(MINIMAL, params(add("Patient", "extension", **value)))
    assert caught.value.status == 400
    assert caught.value.issues[0].key == "fhirpatch.too_deep"


def test_result_shares_nothing_with_inputs() -> None:
    value = {"system": "http://x.org", "value": "1"}
    parameters = params(add("Patient", "identifier", valueIdentifier=value))
    result = apply_fhirpath_patch(MINIMAL, parameters)
    result["identifier"][0]["value"] = "changed"
    result["identifier"][1]["value"] = "changed"
    assert MINIMAL["identifier"][0]["value"] == "A"
    assert value["value"] == "1"


def test_empty_parameters_return_an_equal_copy() -> None:
    result = apply_fhirpath_patch(PATIENT, {"resourceType": "Parameters"})
    assert result == PATIENT and result is not PATIENT


def test_patch_of_the_r4_patient_example_stays_valid() -> None:
    patient = json.loads((EXAMPLES / "Patient-example.json").read_text(encoding="utf-8"))
    parameters = params(
        replace("Patient.name.where(use = 'official').family", valueString="Chalmers-Smith"),
        delete("Patient.name.where(use = 'maiden')"),
        add(
            "Patient.telecom.where(system = 'phone' and use = 'work')",
            "period",
            valuePeriod={"start": "2020-01-01"},
        ),
        replace("Patient.deceased", valueDateTime="2024-01-02T03:04:05+11:00"),
        move("Patient.name", 1, 0),
    )
    result = apply_fhirpath_patch(patient, parameters)
    assert [n.get("use") for n in result["name"]] == ["usual", "official"]
    assert result["name"][1]["family"] == "Chalmers-Smith"
    assert "deceasedBoolean" not in result and result["deceasedDateTime"] == "2024-01-02T03:04:05+11:00"
    assert [t.get("period") for t in result["telecom"] if t.get("use") == "work"] == [{"start": "2020-01-01"}]
    assert validate_resource(result) == []


def test_every_message_is_bilingual() -> None:
    keys = [key for key in MESSAGES if key.startswith("fhirpatch.")]
    assert len(keys) >= 20
    assert all(set(MESSAGES[key]) == {"fr", "en"} for key in keys)
