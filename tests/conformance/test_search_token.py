"""Token search parameters over HTTP — https://hl7.org/fhir/R4/search.html#token

Forms: ``[code]`` (any system), ``[system]|[code]``, ``|[code]`` (no system), ``[system]|`` (any
code of that system). A token matches exactly: no prefix matching, and identifiers are never
case- or accent-folded. ``:not`` returns resources "that do not contain a match", which includes
resources with no value at all; ``:text`` searches the text of the code (``CodeableConcept.text``,
``Coding.display``) with string rules. Arrays (several codings or
identifiers) match when any element matches.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.support import Fhir, cases

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
LOCAL = "http://example.org/local-codes"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MRN = "http://hospital.example/mrn"
INS = "urn:oid:1.2.250.1.213.1.4.8"


def observation(oid: str, code: dict[str, object], category: str | None = None) -> dict[str, object]:
    resource: dict[str, object] = {"resourceType": "Observation", "id": oid, "status": "final", "code": code}
    if category is not None:
        resource["category"] = [{"coding": [{"system": CATEGORY, "code": category}]}]
    return resource


RESOURCES: list[dict[str, Any]] = [
    observation(
        "tok-o1",
        {
            "coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}],
            "text": "Fréquence cardiaque",
        },
        "vital-signs",
    ),
    observation(
        "tok-o2",
        {
            "coding": [
                {"system": LOINC, "code": "8310-5", "display": "Body temperature"},
                {"system": SNOMED, "code": "386725007"},
            ]
        },
        "vital-signs",
    ),
    observation("tok-o3", {"coding": [{"system": LOCAL, "code": "8867-4"}]}),
    observation("tok-o4", {"coding": [{"code": "8867-4"}]}),
    observation("tok-o5", {"text": "Glycémie capillaire"}, "laboratory"),
    observation("tok-o6", {"coding": [{"system": LOINC, "code": "2339-0", "display": "Glucose"}]}),
    {
        "resourceType": "Patient",
        "id": "tok-p1",
        "identifier": [
            {"system": INS, "value": "1840375123456"},
            {"system": MRN, "value": "MRN-001", "type": {"text": "Numéro de dossier"}},
        ],
        "gender": "female",
        "active": True,
        "telecom": [
            {"system": "phone", "value": "+33 6 12 34 56 78"},
            {"system": "email", "value": "anne@example.org"},
        ],
    },
    {
        "resourceType": "Patient",
        "id": "tok-p2",
        "identifier": [{"system": MRN, "value": "DÉ-42"}],
        "gender": "male",
        "active": False,
    },
    {"resourceType": "Patient", "id": "tok-p3", "identifier": [{"value": "MRN-001"}], "gender": "female"},
    {"resourceType": "Patient", "id": "tok-p4"},
]

OBSERVATIONS = {r["id"] for r in RESOURCES if r["resourceType"] == "Observation"}
PATIENTS = {r["id"] for r in RESOURCES if r["resourceType"] == "Patient"}

CASES: list[tuple[str, set[str]]] = [
    # The four forms.
    ("Observation?code=8867-4", {"tok-o1", "tok-o3", "tok-o4"}),
    (f"Observation?code={LOINC}|8867-4", {"tok-o1"}),
    ("Observation?code=|8867-4", {"tok-o4"}),
    (f"Observation?code={LOINC}|", {"tok-o1", "tok-o2", "tok-o6"}),
    (f"Observation?code={LOCAL}|8867-4", {"tok-o3"}),
    # Several codings: any of them.
    (f"Observation?code={SNOMED}|386725007", {"tok-o2"}),
    ("Observation?code=386725007", {"tok-o2"}),
    (f"Observation?code={LOINC}|386725007", set()),
    # Exact match only.
    ("Observation?code=8867", set()),
    ("Observation?code=8867-4x", set()),
    # OR across forms.
    (f"Observation?code={LOINC}|8867-4,{SNOMED}|386725007", {"tok-o1", "tok-o2"}),
    (f"Observation?code=|8867-4,{LOINC}|2339-0", {"tok-o4", "tok-o6"}),
    # :text — CodeableConcept.text and Coding.display, string rules.
    ("Observation?code:text=fréquence", {"tok-o1"}),
    ("Observation?code:text=FREQUENCE", {"tok-o1"}),
    ("Observation?code:text=heart", {"tok-o1"}),
    ("Observation?code:text=glyc", {"tok-o5"}),
    ("Observation?code:text=glucose", {"tok-o6"}),
    ("Observation?code:text=body temp", {"tok-o2"}),
    # :not includes the resources without a value.
    ("Observation?category=vital-signs", {"tok-o1", "tok-o2"}),
    ("Observation?category:not=vital-signs", {"tok-o3", "tok-o4", "tok-o5", "tok-o6"}),
    ("Observation?category:not=laboratory", OBSERVATIONS - {"tok-o5"}),
    (f"Observation?code:not={LOINC}|8867-4", OBSERVATIONS - {"tok-o1"}),
    ("Observation?code:not=8867-4", {"tok-o2", "tok-o5", "tok-o6"}),
    ("Observation?category:missing=true", {"tok-o3", "tok-o4", "tok-o6"}),
    ("Observation?category:missing=false", {"tok-o1", "tok-o2", "tok-o5"}),
    # Identifiers: the four forms, arrays, never folded.
    ("Patient?identifier=MRN-001", {"tok-p1", "tok-p3"}),
    (f"Patient?identifier={MRN}|MRN-001", {"tok-p1"}),
    ("Patient?identifier=|MRN-001", {"tok-p3"}),
    (f"Patient?identifier={MRN}|", {"tok-p1", "tok-p2"}),
    (f"Patient?identifier={INS}|1840375123456", {"tok-p1"}),
    ("Patient?identifier=DÉ-42", {"tok-p2"}),
    ("Patient?identifier=DE-42", set()),
    # :text also searches Identifier.type.text (R4 search.html#token)
    ("Patient?identifier:text=numero", {"tok-p1"}),
    ("Patient?identifier:text=dossier", set()),
    ("Patient?identifier=dé-42", set()),
    ("Patient?identifier=mrn-001", set()),
    ("Patient?identifier=MRN", set()),
    ("Patient?identifier=MRN-001,DÉ-42", {"tok-p1", "tok-p2", "tok-p3"}),
    ("Patient?identifier:not=MRN-001", {"tok-p2", "tok-p4"}),
    ("Patient?identifier:missing=true", {"tok-p4"}),
    # code and boolean elements.
    ("Patient?gender=female", {"tok-p1", "tok-p3"}),
    ("Patient?gender=female,male", {"tok-p1", "tok-p2", "tok-p3"}),
    ("Patient?gender:not=female", {"tok-p2", "tok-p4"}),
    ("Patient?gender:missing=true", {"tok-p4"}),
    ("Patient?active=true", {"tok-p1"}),
    ("Patient?active=false", {"tok-p2"}),
    ("Patient?active:not=true", {"tok-p2", "tok-p3", "tok-p4"}),
    # ContactPoint: the value (R4 gives ContactPoint no token system).
    ("Patient?phone=+33 6 12 34 56 78", {"tok-p1"}),
    ("Patient?email=anne@example.org", {"tok-p1"}),
    ("Patient?telecom=anne@example.org", {"tok-p1"}),
    ("Patient?phone=anne@example.org", set()),
    # AND
    ("Patient?gender=female&identifier=|MRN-001", {"tok-p3"}),
    (f"Observation?code={LOINC}|&category=vital-signs", {"tok-o1", "tok-o2"}),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_token_search(fhir: Fhir, query: str, expected: set[str]) -> None:
    assert fhir.ids(query) == expected
