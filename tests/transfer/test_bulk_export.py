"""Bulk Data ``$export`` over HTTP: kick-off, polling, files, deletion, levels and parameters.

Bulk Data Access IG 2.0 — https://hl7.org/fhir/uv/bulkdata/STU2/export.html
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hygie.auth.tokens import Principal
from hygie.settings import Settings
from hygie.transfer import bulk_jobs
from hygie.transfer.bulk_request import ExportRequest
from tests.support import open_client
from tests.transfer.bulk_helpers import (
    ASYNC,
    bearer,
    bulk_settings,
    download,
    export,
    keys,
    kick_off,
    manifest_of,
    system_principal,
    wait,
)


def _patient(pid: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "name": [{"family": pid}]}


def _obs(oid: str, pid: str, category: str = "vital-signs") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": category}
                ]
            }
        ],
        "code": {"text": oid},
        "subject": {"reference": f"Patient/{pid}"},
    }


WORLD = [
    _patient("p1"),
    _patient("p2"),
    _patient("p3"),
    _obs("o1", "p1"),
    _obs("o2", "p1", "laboratory"),
    _obs("o3", "p2", "laboratory"),
    _obs("o4", "p3"),
    {"resourceType": "Organization", "id": "org1", "name": "Org"},
    {
        "resourceType": "Group",
        "id": "g1",
        "type": "person",
        "actual": True,
        "member": [
            {"entity": {"reference": "Patient/p1"}},
            {"entity": {"reference": "Patient/p3"}, "inactive": True},
        ],
    },
]


def load(client: TestClient, resources: list[dict[str, Any]]) -> None:
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in resources
    ]
    answer = client.post("/fhir", json={"resourceType": "Bundle", "type": "transaction", "entry": entries})
    assert answer.status_code == 200, answer.text[:300]


@pytest.fixture
def bulk(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Settings]]:
    settings = bulk_settings(database_url, tmp_path)
    with open_client(settings) as client:
        load(client, WORLD)
        yield client, settings


def test_kick_off_poll_download_and_delete(bulk: tuple[TestClient, Settings]) -> None:
    client, settings = bulk
    answer = client.get("/fhir/$export", headers=ASYNC)
    assert answer.status_code == 202
    assert answer.json()["resourceType"] == "OperationOutcome"
    url = answer.headers["content-location"]
    done = wait(client, url)
    assert done.headers["content-type"].startswith("application/json")
    assert done.headers["expires"].endswith(" GMT")
    manifest = done.json()
    assert manifest["requiresAccessToken"] is True
    assert manifest["request"].endswith("/fhir/$export")
    assert manifest["transactionTime"].endswith("Z")
    assert manifest["error"] == []
    counts = {o["type"]: o["count"] for o in manifest["output"]}
    assert counts == {"Group": 1, "Observation": 4, "Organization": 1, "Patient": 3}
    exported = download(client, manifest)
    assert keys(exported) == {f"{r['resourceType']}/{r['id']}" for r in WORLD}
    stored = client.get("/fhir/Observation/o2").json()
    assert next(r for r in exported["Observation"] if r["id"] == "o2") == stored
    job_dir = settings.bulk_dir / url.rsplit("=", 1)[1]
    assert job_dir.is_dir()
    # the job is removed with its files; then it is gone
    deleted = client.delete(url)
    assert deleted.status_code == 202
    assert not job_dir.exists()
    assert client.get(url).status_code == 404
    assert client.get(manifest["output"][0]["url"]).status_code == 404
    assert client.delete(url).status_code == 404


def test_type_since_and_type_filter(bulk: tuple[TestClient, Settings]) -> None:
    client, _ = bulk
    only = export(client, "$export?_type=Patient,Organization")
    assert keys(only) == {"Patient/p1", "Patient/p2", "Patient/p3", "Organization/org1"}
    lab = export(client, "$export?_type=Observation&_typeFilter=Observation%3Fcategory%3Dlaboratory")
    assert keys(lab) == {"Observation/o2", "Observation/o3"}
    either = export(
        client,
        "$export?_type=Observation,Patient&_typeFilter=Observation%3Fsubject%3DPatient/p3"
        "&_typeFilter=Observation%3Fcategory%3Dlaboratory%26subject%3DPatient/p1",
    )
    assert keys(either) == {"Observation/o2", "Observation/o4", "Patient/p1", "Patient/p2", "Patient/p3"}
    first = manifest_of(client, kick_off(client, "$export"))
    time.sleep(0.002)  # lastUpdated has millisecond precision
    load(client, [{**_obs("o1", "p1"), "status": "amended"}, _patient("p4")])
    since = export(client, f"$export?_since={first['transactionTime']}")
    assert keys(since) == {"Observation/o1", "Patient/p4"}
    assert export(client, "$export?_since=2999-01-01T00:00:00Z") == {}


def test_post_with_parameters(bulk: tuple[TestClient, Settings]) -> None:
    client, _ = bulk
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_outputFormat", "valueString": "application/fhir+ndjson"},
            {"name": "_type", "valueString": "Observation"},
            {"name": "_typeFilter", "valueString": "Observation?category=laboratory"},
            {"name": "patient", "valueReference": {"reference": "Patient/p2"}},
        ],
    }
    got = export(client, "Patient/$export", method="POST", json=body)
    assert keys(got) == {"Observation/o3"}


def test_patient_and_group_levels(bulk: tuple[TestClient, Settings]) -> None:
    client, _ = bulk
    patient_level = export(client, "Patient/$export")
    assert keys(patient_level) == {
        "Patient/p1", "Patient/p2", "Patient/p3", "Observation/o1", "Observation/o2",
        "Observation/o3", "Observation/o4", "Group/g1",
    }  # fmt: skip
    # Group: its active members only (p3 is inactive), and only compartment types
    group = export(client, "Group/g1/$export")
    assert keys(group) == {"Patient/p1", "Observation/o1", "Observation/o2", "Group/g1"}
    assert keys(export(client, "Group/g1/$export?_type=Observation")) == {"Observation/o1", "Observation/o2"}


def test_kick_off_errors(bulk: tuple[TestClient, Settings]) -> None:
    client, _ = bulk
    cases = [
        ("$export", {"Accept": "application/fhir+json"}, 400),  # no Prefer: respond-async
        ("$export?_type=Nonsense", ASYNC, 400),
        ("$export?_since=yesterday", ASYNC, 400),
        ("$export?_outputFormat=text/csv", ASYNC, 400),
        ("$export?_elements=Patient.name.given", ASYNC, 400),  # root elements only
        ("$export?includeAssociatedData=LatestProvenanceResources", ASYNC, 400),
        ("$export?_typeFilter=Observation%3Fcategory%3Dlaboratory", {**ASYNC}, 202),
        ("$export?_type=Patient&_typeFilter=Observation%3Fcode%3Dx", ASYNC, 400),  # type not exported
        ("$export?_typeFilter=Observation%3F_sort%3Ddate", ASYNC, 400),
        ("$export?_typeFilter=Observation%3Fnope%3D1", ASYNC, 400),  # unknown search parameter
        ("$export?patient=Patient/p1", ASYNC, 400),  # patient: Patient and Group levels only
        ("Patient/$export?_type=Organization", ASYNC, 400),  # outside the Patient compartment
        ("Group/nope/$export", ASYNC, 404),
    ]
    for path, headers, status in cases:
        answer = client.get(f"/fhir/{path}", headers=headers)
        assert answer.status_code == status, (path, answer.text[:300])
        if status >= 400:
            assert answer.json()["resourceType"] == "OperationOutcome"
    assert client.put("/fhir/$export", headers=ASYNC, json={}).status_code == 405
    bad_body = client.post("/fhir/$export", headers=ASYNC, json={"resourceType": "Patient"})
    assert bad_body.status_code == 400


def test_lenient_handling_ignores_with_warnings(bulk: tuple[TestClient, Settings]) -> None:
    client, _ = bulk
    lenient = {"Prefer": "respond-async, handling=lenient"}
    answer = client.get(
        "/fhir/$export?_type=Patient,Nonsense&includeAssociatedData=LatestProvenanceResources",
        headers={**ASYNC, **lenient},
    )
    assert answer.status_code == 202, answer.text
    warnings = [i for i in answer.json()["issue"] if i["severity"] == "warning"]
    assert len(warnings) == 2
    manifest = manifest_of(client, answer.headers["content-location"])
    assert [o["type"] for o in manifest["output"]] == ["Patient"]
    assert manifest["error"][0]["type"] == "OperationOutcome"
    errors = client.get(manifest["error"][0]["url"])
    assert errors.status_code == 200
    lines = [line for line in errors.text.splitlines() if line]
    assert len(lines) == 2 and all('"OperationOutcome"' in line for line in lines)


def test_jobs_belong_to_who_started_them(bulk: tuple[TestClient, Settings]) -> None:
    client, settings = bulk
    alice = bearer(settings, system_principal("alice"))
    bob = bearer(settings, system_principal("bob"))
    url = kick_off(client, "$export?_type=Patient", alice)
    manifest = manifest_of(client, url, alice)
    file_url = manifest["output"][0]["url"]
    for method, target in (("GET", url), ("DELETE", url), ("GET", file_url)):
        answer = client.request(method, target, headers=bob)
        assert answer.status_code == 404, (method, target)
        assert "p1" not in answer.text
    # the same client launched on a patient is somebody else too
    launched = bearer(settings, system_principal("alice", "patient/*.rs", launch="p1"))
    assert client.get(url, headers=launched).status_code == 404
    assert client.get(file_url, headers=alice).status_code == 200
    unlisted = file_url.replace("file=Patient.ndjson", "file=../../keys/signing.pem")
    assert client.get(unlisted, headers=alice).status_code == 404
    assert client.get(url.replace("_jobId=", "_jobId=zz"), headers=alice).status_code == 404
    assert client.get(url, headers={"Authorization": ""}).status_code == 401


def test_a_failed_job_answers_its_outcome(bulk: tuple[TestClient, Settings]) -> None:
    """The Group is gone when the job runs (deleted after the kick-off): the status URL answers
    the job's 404 OperationOutcome (https://hl7.org/fhir/uv/bulkdata/STU2/export.html#response---error-status-1)."""
    client, _ = bulk
    api = client.app.state.fhir_api  # type: ignore[attr-defined]
    operator = system_principal("operator", "system/*.cruds")
    operator = Principal(kind="system", subject="operator", scopes=operator.scopes, client_id="hygie-cli")
    request = ExportRequest(level="group", base="http://testserver/fhir", url="x", group="gone").to_json()
    job_id = api.db.run_sync(lambda s: bulk_jobs.create(s, "export", operator, request))
    answer = wait(client, f"/fhir/$bulk-status?_jobId={job_id}")
    assert answer.status_code == 404
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert "Group/gone" in answer.text
