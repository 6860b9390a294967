"""batch and transaction Bundles — https://hl7.org/fhir/R4/http.html#transaction"""

from __future__ import annotations

import base64
import json
from typing import Any

from starlette.testclient import TestClient

H = {"content-type": "application/fhir+json"}


def post_bundle(client: TestClient, kind: str, entries: list[dict[str, Any]], **headers: str) -> Any:
    return client.post(
        "/fhir", json={"resourceType": "Bundle", "type": kind, "entry": entries}, headers={**H, **headers}
    )


def count(client: TestClient, rtype: str) -> int:
    return int(client.get(f"/fhir/{rtype}?_summary=count").json()["total"])


def test_transaction_rewrites_urn_uuid_references(client: TestClient) -> None:
    r = post_bundle(
        client,
        "transaction",
        [
            {
                "fullUrl": "urn:uuid:11111111-1111-1111-1111-111111111111",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "hr"},
                    "subject": {"reference": "urn:uuid:22222222-2222-2222-2222-222222222222"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "fullUrl": "urn:uuid:22222222-2222-2222-2222-222222222222",
                "resource": {"resourceType": "Patient", "name": [{"family": "Durand"}]},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    )
    assert r.status_code == 200, r.text
    bundle = r.json()
    assert bundle["type"] == "transaction-response"
    obs_loc, pat_loc = (e["response"]["location"] for e in bundle["entry"])
    assert all(e["response"]["status"].startswith("201") for e in bundle["entry"])
    pat_id = pat_loc.split("/")[1]
    obs = client.get("/fhir/" + obs_loc.split("/_history")[0]).json()
    assert obs["subject"]["reference"] == f"Patient/{pat_id}"
    found = client.get(f"/fhir/Observation?subject=Patient/{pat_id}").json()
    assert found["total"] == 1


def test_transaction_failure_leaves_no_trace(client: TestClient) -> None:
    before = client.get("/fhir/_history").json().get("entry", [])
    r = post_bundle(
        client,
        "transaction",
        [
            {
                "resource": {"resourceType": "Patient", "name": [{"family": "A"}]},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {"resourceType": "Patient", "id": "p2", "name": [{"family": "B"}]},
                "request": {"method": "PUT", "url": "Patient/p2"},
            },
            {
                "resource": {"resourceType": "Patient", "gender": "robot"},
                "request": {"method": "POST", "url": "Patient"},
            },
        ],
    )
    assert r.status_code in (400, 422)
    oo = r.json()
    assert oo["resourceType"] == "OperationOutcome"
    assert any("Bundle.entry[2]" in e for i in oo["issue"] for e in i.get("expression", []))
    assert count(client, "Patient") == 0
    assert client.get("/fhir/Patient/p2").status_code == 404
    assert client.get("/fhir/_history").json().get("entry", []) == before


def test_transaction_processing_order_and_conditional_reference(client: TestClient) -> None:
    keep = client.post(
        "/fhir/Patient",
        json={"resourceType": "Patient", "identifier": [{"system": "http://ins", "value": "7"}]},
        headers=H,
    ).json()
    gone = client.post("/fhir/Patient", json={"resourceType": "Patient"}, headers=H).json()
    r = post_bundle(
        client,
        "transaction",
        [
            {"request": {"method": "GET", "url": f"Patient/{keep['id']}"}},
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": "Patient?identifier=http://ins|7"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
            {"request": {"method": "DELETE", "url": f"Patient/{gone['id']}"}},
        ],
    )
    assert r.status_code == 200, r.text
    statuses = [e["response"]["status"][:3] for e in r.json()["entry"]]
    assert statuses == ["200", "201", "204"]
    obs_id = r.json()["entry"][1]["response"]["location"].split("/")[1]
    assert client.get(f"/fhir/Observation/{obs_id}").json()["subject"]["reference"] == f"Patient/{keep['id']}"
    assert client.get(f"/fhir/Patient/{gone['id']}").status_code == 410


def test_transaction_unresolvable_conditional_reference_fails(client: TestClient) -> None:
    r = post_bundle(
        client,
        "transaction",
        [
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": "Patient?identifier=http://none|0"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    )
    assert r.status_code >= 400
    assert count(client, "Observation") == 0


def test_transaction_conditional_create_reuses_match(client: TestClient) -> None:
    existing = client.post(
        "/fhir/Patient",
        json={"resourceType": "Patient", "identifier": [{"system": "s", "value": "1"}]},
        headers=H,
    ).json()
    r = post_bundle(
        client,
        "transaction",
        [
            {
                "fullUrl": "urn:uuid:aaaaaaaa-0000-0000-0000-000000000001",
                "resource": {"resourceType": "Patient", "identifier": [{"system": "s", "value": "1"}]},
                "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=s|1"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "x"},
                    "subject": {"reference": "urn:uuid:aaaaaaaa-0000-0000-0000-000000000001"},
                },
                "request": {"method": "POST", "url": "Observation"},
            },
        ],
    )
    assert r.status_code == 200, r.text
    assert r.json()["entry"][0]["response"]["status"].startswith("200")
    assert count(client, "Patient") == 1
    obs = r.json()["entry"][1]["resource"]
    assert obs["subject"]["reference"] == f"Patient/{existing['id']}"


def test_transaction_duplicate_full_url_and_target(client: TestClient) -> None:
    dup = {
        "fullUrl": "urn:uuid:aaaaaaaa-0000-0000-0000-000000000009",
        "resource": {"resourceType": "Patient"},
        "request": {"method": "POST", "url": "Patient"},
    }
    assert post_bundle(client, "transaction", [dup, dup]).status_code == 400
    same = {
        "resource": {"resourceType": "Patient", "id": "x"},
        "request": {"method": "PUT", "url": "Patient/x"},
    }
    assert post_bundle(client, "transaction", [same, same]).status_code == 400
    assert count(client, "Patient") == 0


def test_batch_entries_independent(client: TestClient) -> None:
    patch = base64.b64encode(
        json.dumps([{"op": "add", "path": "/gender", "value": "male"}]).encode()
    ).decode()
    client.put("/fhir/Patient/b1", json={"resourceType": "Patient", "id": "b1"}, headers=H)
    r = post_bundle(
        client,
        "batch",
        [
            {"resource": {"resourceType": "Patient"}, "request": {"method": "POST", "url": "Patient"}},
            {
                "resource": {"resourceType": "Patient", "gender": "robot"},
                "request": {"method": "POST", "url": "Patient"},
            },
            {"request": {"method": "GET", "url": "Patient/missing"}},
            {
                "resource": {
                    "resourceType": "Binary",
                    "contentType": "application/json-patch+json",
                    "data": patch,
                },
                "request": {"method": "PATCH", "url": "Patient/b1"},
            },
            {"request": {"method": "BREW", "url": "Patient"}},
        ],
    )
    assert r.status_code == 200
    entries = r.json()["entry"]
    assert [e["response"]["status"][:3] for e in entries] == ["201", "422", "404", "200", "400"]
    assert entries[1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert count(client, "Patient") == 2
    assert client.get("/fhir/Patient/b1").json()["gender"] == "male"


def test_not_a_bundle(client: TestClient) -> None:
    assert client.post("/fhir", json={"resourceType": "Patient"}, headers=H).status_code == 400
    assert (
        client.post("/fhir", json={"resourceType": "Bundle", "type": "collection"}, headers=H).status_code
        == 400
    )
