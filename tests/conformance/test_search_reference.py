"""Reference search parameters over HTTP — https://hl7.org/fhir/R4/search.html#reference

Values: ``[type]/[id]``, ``[id]`` (a local reference of any type with that id), an absolute URL,
``:[type]`` restricting the target type, ``:identifier`` matching
``Reference.identifier``, and ``:missing``. ``subject`` is polymorphic (Patient, Group, …);
``patient`` is the Patient-only variant. Chaining (search.html#chaining) and ``_has``
(search.html#has) are checked on the same data.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.support import Fhir, cases

INS = "urn:oid:1.2.250.1.213.1.4.8"
FOREIGN = "http://elsewhere.example/fhir/Patient/ref-p9"


def observation(oid: str, code: str, **refs: object) -> dict[str, object]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        **refs,
    }


def encounter(eid: str, subject: dict[str, object]) -> dict[str, object]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": subject,
    }


RESOURCES: list[dict[str, Any]] = [
    {"resourceType": "Patient", "id": "ref-p1", "name": [{"family": "Martin"}]},
    {"resourceType": "Patient", "id": "ref-p2", "name": [{"family": "Durand"}]},
    {"resourceType": "Group", "id": "ref-g1", "type": "person", "actual": True, "code": {"text": "cohort"}},
    {"resourceType": "Practitioner", "id": "ref-pr1", "name": [{"family": "Leroy"}]},
    observation("ref-o1", "8867-4", subject={"reference": "Patient/ref-p1"}),
    observation("ref-o2", "8310-5", subject={"reference": "Patient/ref-p2"}),
    observation("ref-o3", "8310-5", subject={"reference": "Group/ref-g1"}),
    observation(
        "ref-o5",
        "8310-5",
        subject={"reference": "Patient/ref-p1"},
        performer=[{"reference": "Practitioner/ref-pr1"}, {"reference": "Patient/ref-p2"}],
    ),
    observation("ref-o6", "8867-4"),
    encounter("ref-e1", {"reference": FOREIGN}),
    encounter("ref-e2", {"identifier": {"system": INS, "value": "2840375"}}),
    encounter("ref-e3", {"reference": "Patient/ref-p1", "identifier": {"system": INS, "value": "2840375"}}),
    # A local patient with the same type and id as the foreign reference of ref-e1.
    {"resourceType": "Patient", "id": "ref-p9", "name": [{"family": "Homonyme"}]},
]

OF_P1 = {"ref-o1", "ref-o5"}

CASES: list[tuple[str, set[str]]] = [
    # [type]/[id] and [id], on a polymorphic reference.
    ("Observation?subject=Patient/ref-p1", OF_P1),
    ("Observation?subject=ref-p1", OF_P1),
    ("Observation?subject=Group/ref-g1", {"ref-o3"}),
    ("Observation?subject=ref-g1", {"ref-o3"}),
    ("Observation?subject=Patient/ref-g1", set()),
    ("Observation?subject=Group/ref-p1", set()),
    ("Observation?subject=Patient/ref-p", set()),
    # :[type]
    ("Observation?subject:Patient=ref-p1", OF_P1),
    ("Observation?subject:Group=ref-g1", {"ref-o3"}),
    ("Observation?subject:Patient=ref-g1", set()),
    ("Observation?subject:Group=ref-p1", set()),
    # The Patient-only parameter.
    ("Observation?patient=ref-p1", OF_P1),
    ("Observation?patient=Patient/ref-p2", {"ref-o2"}),
    ("Observation?patient=ref-g1", set()),
    # Arrays of references (performer), OR, AND.
    ("Observation?performer=Practitioner/ref-pr1", {"ref-o5"}),
    ("Observation?performer=Patient/ref-p2", {"ref-o5"}),
    ("Observation?subject=Patient/ref-p1,Group/ref-g1", {"ref-o1", "ref-o3", "ref-o5"}),
    ("Observation?subject=ref-p2,ref-g1", {"ref-o2", "ref-o3"}),
    ("Observation?subject=Patient/ref-p1&performer=ref-pr1", {"ref-o5"}),
    # :missing
    ("Observation?subject:missing=true", {"ref-o6"}),
    ("Observation?subject:missing=false", {"ref-o1", "ref-o2", "ref-o3", "ref-o5"}),
    ("Observation?performer:missing=false", {"ref-o5"}),
    # Absolute URL references, :identifier (logical references).
    (f"Encounter?subject={FOREIGN}", {"ref-e1"}),
    ("Encounter?subject=http://elsewhere.example/fhir/Patient/ref-p8", set()),
    (f"Encounter?subject:identifier={INS}|2840375", {"ref-e2", "ref-e3"}),
    ("Encounter?subject:identifier=2840375", {"ref-e2", "ref-e3"}),
    (f"Encounter?subject:identifier={INS}|999", set()),
    ("Encounter?subject=Patient/ref-p1", {"ref-e3"}),
    # A relative value names a local resource: never a reference to another server (ref-e1).
    ("Encounter?subject=Patient/ref-p9", set()),
    ("Encounter?subject=ref-p9", set()),
    ("Encounter?subject:Patient=ref-p9", set()),
    ("Encounter?patient=ref-p9", set()),
    # An absolute value under this server's base is the local reference ({base}: the server's).
    ("Observation?subject={base}/Patient/ref-p1", OF_P1),
    ("Observation?subject={base}/Group/ref-g1", {"ref-o3"}),
    ("Observation?subject={base}/Patient/ref-p1,Patient/ref-p2", {"ref-o1", "ref-o2", "ref-o5"}),
    ("Observation?subject={base}/Patient/ref-g1", set()),
    ("Encounter?subject={base}/Patient/ref-p1", {"ref-e3"}),
    ("Encounter?subject={base}/Patient/ref-p9", set()),
    # Chaining through the polymorphic reference, and _has.
    ("Observation?subject:Patient.name=martin", OF_P1),
    ("Observation?subject:Group.code:text=cohort", {"ref-o3"}),
    ("Observation?subject:Group.code:text=martin", set()),
    ("Observation?subject:Patient.name=durand", {"ref-o2"}),
    ("Observation?performer:Practitioner.name=leroy", {"ref-o5"}),
    ("Patient?_has:Observation:subject:code=8867-4", {"ref-p1"}),
    ("Patient?_has:Observation:performer:code=8310-5", {"ref-p2"}),
    ("Group?_has:Observation:subject:code=8310-5", {"ref-g1"}),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_reference_search(fhir: Fhir, query: str, expected: set[str]) -> None:
    assert fhir.ids(query) == expected
