"""The same searches through two real FHIR clients and raw HTTP — https://hl7.org/fhir/R4/search.html

``fhirpy`` (``SyncFHIRClient(...).resources(T).search(...).fetch_all()``) and ``fhirclient``
(SMART on FHIR; ``T.where(struct=...).perform_resources_iter(server)``, strict R4 models) build their own
URLs and parse the Bundles with their own code; each must find the resources the spec says, the
same as a plain httpx GET.
"""

from __future__ import annotations

from typing import Any

import pytest
from fhirclient import client as smart_client
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient
from fhirpy import SyncFHIRClient

from tests.conformance.support import Fhir

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def observation(oid: str, subject: str, code: str, value: float, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": "mg", "system": UCUM, "code": "mg"},
    }


RESOURCES: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "id": "cl-ben1",
        "name": [{"family": "Dupont", "given": ["Bénédicte"]}],
        "birthDate": "1980-05-10",
        "gender": "female",
    },
    {
        "resourceType": "Patient",
        "id": "cl-ben2",
        "name": [{"family": "Martin", "given": ["benedicte"]}],
        "birthDate": "1975",
        "gender": "female",
    },
    {
        "resourceType": "Patient",
        "id": "cl-lef",
        "name": [{"family": "Lefèvre", "given": ["Anaïs"]}],
        "birthDate": "1990-01-31",
        "gender": "female",
    },
    {
        "resourceType": "Patient",
        "id": "cl-bao",
        "name": [{"family": "Nguyen", "given": ["Bao"]}],
        "gender": "male",
    },
    observation("cl-o1", "Patient/cl-ben1", "8867-4", 5.4, "2024-03-10T09:00:30Z"),
    observation("cl-o2", "Patient/cl-ben1", "2345-7", 100, "2024-03-10"),
    observation("cl-o3", "Patient/cl-lef", "8867-4", 5.449, "2023-11-02"),
]

CASES: list[tuple[str, dict[str, str], set[str]]] = [
    ("Patient", {"given": "benedicte"}, {"cl-ben1", "cl-ben2"}),
    ("Patient", {"name": "BÉNÉ"}, {"cl-ben1", "cl-ben2"}),
    ("Patient", {"family": "lefevre"}, {"cl-lef"}),
    ("Patient", {"given:exact": "Bénédicte"}, {"cl-ben1"}),
    ("Patient", {"name:contains": "naï"}, {"cl-lef"}),
    ("Patient", {"birthdate": "ge1980-05"}, {"cl-ben1", "cl-lef"}),
    ("Patient", {"birthdate": "1980"}, {"cl-ben1"}),
    ("Patient", {"birthdate:missing": "true"}, {"cl-bao"}),
    ("Patient", {"gender:not": "female"}, {"cl-bao"}),
    ("Observation", {"code": f"{LOINC}|8867-4"}, {"cl-o1", "cl-o3"}),
    ("Observation", {"subject": "Patient/cl-ben1"}, {"cl-o1", "cl-o2"}),
    ("Observation", {"subject:Patient.name": "lefevre"}, {"cl-o3"}),
    ("Observation", {"value-quantity": f"5.4|{UCUM}|mg"}, {"cl-o1", "cl-o3"}),
    ("Observation", {"value-quantity": "gt5.45||mg"}, {"cl-o2"}),
    ("Observation", {"date": "2024-03-10"}, {"cl-o1", "cl-o2"}),
    ("Observation", {"date": "lt2024"}, {"cl-o3"}),
]

MODELS = {"Patient": Patient, "Observation": Observation}


def _case_id(case: tuple[str, dict[str, str], set[str]]) -> str:
    rtype, params, _ = case
    return rtype + "?" + "&".join(f"{k}={v}" for k, v in params.items())


@pytest.mark.parametrize(("rtype", "params", "expected"), CASES, ids=[_case_id(c) for c in CASES])
def test_fhirpy_fhirclient_and_http_agree(
    fhir: Fhir, rtype: str, params: dict[str, str], expected: set[str]
) -> None:
    scope_name, scope_value = fhir.scope_param
    query = _case_id((rtype, params, expected))
    assert fhir.ids(query) == expected, "raw HTTP"

    fhirpy_client = SyncFHIRClient(fhir.base)
    found = fhirpy_client.resources(rtype).search(**params, **{scope_name: scope_value}).fetch_all()
    assert {resource.id for resource in found} == expected, "fhirpy"

    smart = smart_client.FHIRClient(settings={"app_id": "hygie-conformance", "api_base": fhir.base})
    model = MODELS[rtype]
    search = model.where(struct={**params, scope_name: scope_value})
    resources = list(search.perform_resources_iter(smart.server))
    assert {resource.id for resource in resources} == expected, "fhirclient"
    assert all(isinstance(resource, model) for resource in resources)
