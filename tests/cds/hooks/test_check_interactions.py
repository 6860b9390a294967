"""``POST /fhir/MedicationRequest/$check-interactions`` (hygie/cds/hooks_operation.py), in process on
both databases: findings as DetectedIssues (https://hl7.org/fhir/R4/detectedissue.html), recorded
only when asked, under the caller's access policy; bad input refused naming its part.
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from hygie.fhir.validation import validate_resource
from hygie.settings import Settings
from tests.cds.hooks.support import medication_request
from tests.support import open_client, operator_header

URL = "/fhir/MedicationRequest/$check-interactions"
METHOTREXATE = ("65415275", "IMETH 10 mg/0,4 ml, solution injectable en seringue préremplie")
KETOPROFEN = ("68267981", "KETOPROFENE ARROW LP 100 mg")
AMOXICILLIN = ("69118175", "AMOXICILLINE BIOGARAN 500 mg, gélule")
PARACETAMOL = ("60234100", "DOLIPRANE 1000 mg, comprimé")
FHIR = {"Content-Type": "application/fhir+json"}


def _seed(client: TestClient) -> None:
    for resource in (
        {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1958-03-02"},
        {"resourceType": "Patient", "id": "p2", "gender": "male", "birthDate": "1970-01-01"},
        medication_request("mtx", "p1", *METHOTREXATE),
        medication_request("amox", "p1", *AMOXICILLIN),
    ):
        answer = client.put(f"/fhir/{resource['resourceType']}/{resource['id']}", json=resource, headers=FHIR)
        assert answer.status_code in (200, 201), answer.text


def _parameters(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Parameters", "parameter": list(parts)}


PATIENT = {"name": "patient", "valueReference": {"reference": "Patient/p1"}}
KETO = {
    "name": "medicationRequest",
    "resource": medication_request("keto", "p1", *KETOPROFEN, status="draft"),
}
RECORD = {"name": "record", "valueBoolean": True}


def _issues(answer: Any) -> list[dict[str, Any]]:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["resourceType"] == "Parameters"
    issues = [p["resource"] for p in body.get("parameter", [])]
    assert all(p["name"] == "issue" for p in body.get("parameter", []))
    for issue in issues:
        assert validate_resource(issue) == []
    return issues


def _stored(client: TestClient) -> list[dict[str, Any]]:
    found = client.get("/fhir/DetectedIssue", params={"patient": "p1"}).json()
    return [e["resource"] for e in found.get("entry", [])]


def test_a_draft_against_the_record_computed_not_stored(client: TestClient) -> None:
    _seed(client)
    [issue] = _issues(client.post(URL, json=_parameters(PATIENT, KETO), headers=FHIR))
    assert issue["status"] == "preliminary" and issue["severity"] == "moderate"
    codes = {(c["system"].rsplit("/", 1)[-1], c["code"]) for c in issue["code"]["coding"]}
    assert ("v3-ActCode", "DRG") in codes and ("ansm-interaction-level", "AD") in codes
    assert issue["implicated"][0]["reference"] == "MedicationRequest/mtx"
    assert issue["implicated"][1] == {"display": KETOPROFEN[1]}  # the draft is not stored: by name
    assert issue["patient"] == {"reference": "Patient/p1"}
    assert "Source : ANSM" in issue["detail"] and "édition" in issue["detail"]
    assert _stored(client) == []


def test_recorded_when_asked(client: TestClient) -> None:
    _seed(client)
    [issue] = _issues(client.post(URL, json=_parameters(PATIENT, KETO, RECORD), headers=FHIR))
    assert issue["status"] == "final" and issue["id"]
    [stored] = _stored(client)
    assert stored["id"] == issue["id"] and stored["code"] == issue["code"]


def test_the_record_alone_is_reviewed_as_patient_view(client: TestClient) -> None:
    _seed(client)
    [issue] = _issues(client.post(URL, json=_parameters(PATIENT), headers=FHIR))
    assert [i.get("reference") for i in issue["implicated"]] == [
        "MedicationRequest/mtx",
        "MedicationRequest/amox",
    ]


def test_a_bundle_holds_everything(client: TestClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "x", "gender": "female"}},
            {"resource": medication_request("mtx", "x", *METHOTREXATE)},
            {"resource": medication_request("keto", "x", *KETOPROFEN, status="draft")},
            {"resource": medication_request("dol", "x", *PARACETAMOL, status="draft")},
        ],
    }
    [issue] = _issues(client.post(URL, json=bundle, headers=FHIR))
    assert issue["patient"] == {"reference": "Patient/x"}
    safe = {**bundle, "entry": [bundle["entry"][0], bundle["entry"][1], bundle["entry"][3]]}
    assert _issues(client.post(URL, json=safe, headers=FHIR)) == []


def _refused(answer: Any, status: int, text: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+json")
    assert text in str(answer.json()["issue"][0]), answer.json()


def test_bad_input_is_refused_naming_the_part(client: TestClient) -> None:
    _seed(client)
    en = {**FHIR, "Accept-Language": "en"}
    _refused(client.get(URL), 405, "GET")
    _refused(client.post(URL, content=b"x", headers={"Content-Type": "text/plain"}), 415, "text/plain")
    _refused(client.post(URL, content=b"", headers=en), 400, "")
    _refused(client.post(URL, content=b"{", headers=en), 400, "JSON")
    _refused(client.post(URL, json={"resourceType": "Observation"}, headers=en), 400, "resourceType")
    _refused(client.post(URL, json=_parameters({"name": "drug"}), headers=en), 400, "parameter[0]")
    _refused(client.post(URL, json=_parameters(), headers=en), 400, "give a patient")
    _refused(client.post(URL, json=_parameters(KETO, RECORD), headers=en), 400, "recording needs the patient")
    not_boolean = _parameters(PATIENT, {"name": "record", "valueString": "yes"})
    _refused(client.post(URL, json=not_boolean, headers=en), 400, "valueBoolean")
    _refused(
        client.post(URL, json=_parameters({"name": "patient", "valueString": "a b"}), headers=en),
        400,
        "patient",
    )
    not_an_order = _parameters({"name": "medicationRequest", "resource": {"resourceType": "Patient"}})
    _refused(client.post(URL, json=not_an_order, headers=en), 400, "MedicationRequest")
    unknown = _parameters({"name": "patient", "valueReference": {"reference": "Patient/nobody"}})
    _refused(client.post(URL, json=unknown, headers=en), 404, "Patient")
    assert _stored(client) == []


def test_the_callers_access_policy_applies(client: TestClient, settings: Settings) -> None:
    _seed(client)
    other = operator_header(settings, "patient/*.rs", patient="p2")
    _refused(client.post(URL, json=_parameters(PATIENT, KETO), headers={**FHIR, **other}), 404, "Patient")
    reader = operator_header(settings, "system/*.rs")
    answer = client.post(URL, json=_parameters(PATIENT, KETO, RECORD), headers={**FHIR, **reader})
    _refused(answer, 403, "DetectedIssue")
    assert _stored(client) == []  # nothing half-written


def test_without_authentication_the_hooks_need_no_jwt(settings: Settings) -> None:
    """``HYGIE_AUTH_REQUIRED=false`` (a closed test bench): no JWT, data read without a token."""
    with open_client(settings.model_copy(update={"auth_required": False})) as open_bench:
        _seed(open_bench)
        body = {
            "hook": "order-sign",
            "hookInstance": "6c1d58b4-7a3c-4a8b-9c57-2b1f3f6f9e01",
            "fhirServer": "http://testserver/fhir",
            "context": {"userId": "Practitioner/dr", "patientId": "p1",
                        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [KETO]}},
        }  # fmt: skip
        answer = open_bench.post(
            "/cds-services/medication-safety-order-sign", json=body, headers={"Authorization": ""}
        )
        assert answer.status_code == 200, answer.text
        [card] = answer.json()["cards"]
        assert card["indicator"] == "warning"
        feedback = {
            "card": card["uuid"],
            "outcome": "accepted",
            "outcomeTimestamp": "2025-06-01T10:00:00+02:00",
        }
        recorded = open_bench.post(
            "/cds-services/medication-safety-order-sign/feedback", json={"feedback": [feedback]}
        )
        assert recorded.status_code == 200 and recorded.json() == {}
