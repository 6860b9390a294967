"""Parameters for all resources over HTTP — https://hl7.org/fhir/R4/search.html#all

``_id`` (token on the logical id, exact), ``_lastUpdated`` (date on ``meta.lastUpdated``),
``_tag`` and ``_security`` (tokens on ``meta.tag`` / ``meta.security``), ``_profile`` (uri on
``meta.profile``) and ``_source`` (uri on ``meta.source``). Every resource of this module also
carries the suite's scope tag (see :mod:`tests.conformance.support`).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conformance.support import Fhir, cases

TAGS = "http://example.org/tags"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
PROFILE = "http://example.org/StructureDefinition/my-patient"
CORE_PROFILE = "http://hl7.org/fhir/StructureDefinition/Patient"

RESOURCES: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "id": "com-p1",
        "meta": {
            "tag": [{"system": TAGS, "code": "vip"}],
            "profile": [PROFILE],
            "security": [{"system": CONFIDENTIALITY, "code": "R"}],
            "source": "http://hospital.example/ehr#a1b2",
        },
    },
    {
        "resourceType": "Patient",
        "id": "com-p2",
        "meta": {
            "tag": [{"system": TAGS, "code": "test"}, {"system": "http://other.example/tags", "code": "vip"}],
            "profile": [PROFILE, CORE_PROFILE],
            "security": [{"system": CONFIDENTIALITY, "code": "N"}],
            "source": "http://lab.example/lis",
        },
    },
    {"resourceType": "Patient", "id": "com-p3"},
    {"resourceType": "Practitioner", "id": "com-early"},
]

PATIENTS = {"com-p1", "com-p2", "com-p3"}

CASES: list[tuple[str, set[str]]] = [
    ("Patient?_id=com-p1", {"com-p1"}),
    ("Patient?_id=com-p1,com-p3", {"com-p1", "com-p3"}),
    ("Patient?_id=com-p", set()),
    ("Patient?_id=COM-P1", set()),
    ("Patient?_id=com-early", set()),
    ("Patient?_id=com-p1&_id=com-p2", set()),
    # _tag: the token forms.
    (f"Patient?_tag={TAGS}|vip", {"com-p1"}),
    ("Patient?_tag=vip", {"com-p1", "com-p2"}),
    (f"Patient?_tag={TAGS}|", {"com-p1", "com-p2"}),
    (f"Patient?_tag={TAGS}|test", {"com-p2"}),
    (f"Patient?_tag={TAGS}|vip,{TAGS}|test", {"com-p1", "com-p2"}),
    (f"Patient?_tag={TAGS}|vip&_tag={TAGS}|test", set()),
    ("Patient?_tag:not=vip", {"com-p3"}),
    # _security
    (f"Patient?_security={CONFIDENTIALITY}|R", {"com-p1"}),
    ("Patient?_security=N", {"com-p2"}),
    ("Patient?_security=R,N", {"com-p1", "com-p2"}),
    ("Patient?_security:missing=true", {"com-p3"}),
    ("Patient?_security:not=R", {"com-p2", "com-p3"}),
    # _profile (uri; several profiles)
    (f"Patient?_profile={PROFILE}", {"com-p1", "com-p2"}),
    (f"Patient?_profile={CORE_PROFILE}", {"com-p2"}),
    ("Patient?_profile=http://example.org/StructureDefinition/my", set()),
    ("Patient?_profile:missing=true", {"com-p3"}),
    # _source (uri)
    ("Patient?_source=http://hospital.example/ehr#a1b2", {"com-p1"}),
    ("Patient?_source=http://lab.example/lis", {"com-p2"}),
    ("Patient?_source=http://hospital.example/ehr", set()),
    ("Patient?_source=http://lab.example/lis,http://hospital.example/ehr#a1b2", {"com-p1", "com-p2"}),
    # _lastUpdated: bounds far from the load time.
    ("Patient?_lastUpdated=gt2000", PATIENTS),
    ("Patient?_lastUpdated=lt2000-01-01", set()),
    ("Patient?_lastUpdated=sa2000-01-01T00:00:00Z", PATIENTS),
    ("Patient?_lastUpdated=eb2000", set()),
    ("Patient?_lastUpdated=le9999", PATIENTS),
]


@pytest.mark.parametrize(("query", "expected"), cases(CASES))
def test_common_search(fhir: Fhir, query: str, expected: set[str]) -> None:
    assert fhir.ids(query) == expected


def _last_updated(fhir: Fhir, path: str) -> str:
    response = fhir.get(path, scoped=False)
    assert response.status_code == 200, response.text
    value: str = response.json()["meta"]["lastUpdated"]
    return value


def test_last_updated_around_a_later_write(fhir: Fhir) -> None:
    early = _last_updated(fhir, "Practitioner/com-early")
    late: dict[str, Any] = {"resourceType": "Practitioner", "id": "com-late"}
    while True:  # the two writes must not share the instant's precision
        fhir.load([late])
        later = _last_updated(fhir, "Practitioner/com-late")
        if later != early:
            break
        time.sleep(0.01)
    both = {"com-early", "com-late"}
    # The instant as the server wrote it, with its precision and zone: eq is that instant only.
    assert fhir.ids(f"Practitioner?_lastUpdated={later}") == {"com-late"}
    assert fhir.ids(f"Practitioner?_lastUpdated={early}") == {"com-early"}
    assert fhir.ids(f"Practitioner?_lastUpdated=ge{later}") == {"com-late"}
    assert fhir.ids(f"Practitioner?_lastUpdated=lt{later}") == {"com-early"}
    assert fhir.ids(f"Practitioner?_lastUpdated=le{later}") == both
    assert fhir.ids(f"Practitioner?_lastUpdated=gt{early}") == {"com-late"}
    assert fhir.ids(f"Practitioner?_lastUpdated=ne{early}") == {"com-late"}
    assert fhir.ids(f"Practitioner?_lastUpdated=ge{early}&_lastUpdated=le{later}") == both
