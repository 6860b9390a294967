"""Custom SearchParameter resources are honoured (https://hl7.org/fhir/R4/searchparameter.html).

An active SearchParameter posted to the server becomes searchable at once for resources written
afterwards; ``hygie db reindex`` indexes those stored before; a restarted server keeps it; draft
ones are only stored; retiring or deleting one makes it unknown again; unusable ones are refused
(422) and nothing is stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from hygie.cli import cli
from hygie.settings import Settings
from tests.api.support import H, put_all, search_ids
from tests.support import open_client

NICKNAME = {
    "resourceType": "SearchParameter",
    "url": "https://hygie.example/fhir/SearchParameter/patient-nickname",
    "name": "nickname",
    "status": "active",
    "description": "Nickname (HumanName with use = nickname)",
    "code": "nickname",
    "base": ["Patient"],
    "type": "string",
    "expression": "Patient.name.where(use = 'nickname').given",
}
DOCTOR = {
    "resourceType": "SearchParameter",
    "url": "https://hygie.example/fhir/SearchParameter/patient-doctor",
    "name": "doctor",
    "status": "active",
    "description": "The patient's GP",
    "code": "doctor",
    "base": ["Patient"],
    "type": "reference",
    "target": ["Practitioner"],
    "expression": "Patient.generalPractitioner",
}
INTERPRETATION = {
    "resourceType": "SearchParameter",
    "url": "https://hygie.example/fhir/SearchParameter/observation-interpretation",
    "name": "interpretation",
    "status": "active",
    "description": "High, low, normal…",
    "code": "interpretation",
    "base": ["Observation"],
    "type": "token",
    "expression": "Observation.interpretation",
}


def _patient(pid: str, nickname: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "name": [{"family": "Lefèvre", "given": ["Bénédicte"]}, {"use": "nickname", "given": [nickname]}],
        **extra,
    }


def test_active_parameter_is_searchable_and_advertised(client: TestClient) -> None:
    assert client.get("/fhir/Patient?nickname=bene").status_code == 400  # unknown before
    r = client.post("/fhir/SearchParameter", json=NICKNAME, headers=H)
    assert r.status_code == 201, r.text
    put_all(client, [_patient("p1", "Béné"), _patient("p2", "Dédé")])
    assert search_ids(client, "Patient?nickname=bene") == {"p1"}  # folded, starts-with
    assert search_ids(client, "Patient?nickname:exact=Dédé") == {"p2"}
    assert search_ids(client, "Patient?nickname:missing=false") == {"p1", "p2"}
    assert search_ids(client, "Patient?nickname=Lefevre") == set()  # only the nickname part
    assert search_ids(client, "Patient?_sort=-nickname") == {"p1", "p2"}
    ids = [e["resource"]["id"] for e in client.get("/fhir/Patient?_sort=-nickname").json()["entry"]]
    assert ids == ["p2", "p1"]
    statement = client.get("/fhir/metadata").json()
    patient = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert {"name": "nickname", "type": "string", "definition": NICKNAME["url"]} in patient["searchParam"]


def test_reference_and_token_parameters_chain_and_include(client: TestClient) -> None:
    for sp in (DOCTOR, INTERPRETATION):
        assert client.post("/fhir/SearchParameter", json=sp, headers=H).status_code == 201
    gp = {"resourceType": "Practitioner", "id": "gp1", "name": [{"family": "Martin"}]}
    high = {
        "coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", "code": "H"}
        ]
    }
    put_all(
        client,
        [
            gp,
            _patient("p1", "Béné", generalPractitioner=[{"reference": "Practitioner/gp1"}]),
            _patient("p2", "Dédé"),
            {
                "resourceType": "Observation",
                "id": "o1",
                "status": "final",
                "code": {"text": "glycémie"},
                "subject": {"reference": "Patient/p1"},
                "interpretation": [high],
            },
            {"resourceType": "Observation", "id": "o2", "status": "final", "code": {"text": "pouls"}},
        ],
    )
    assert search_ids(client, "Patient?doctor=Practitioner/gp1") == {"p1"}
    assert search_ids(client, "Patient?doctor.name=martin") == {"p1"}
    assert search_ids(client, "Practitioner?_has:Patient:doctor:name=lefevre") == {"gp1"}
    bundle = client.get("/fhir/Patient?_id=p1&_include=Patient:doctor").json()
    assert {e["resource"]["id"] for e in bundle["entry"]} == {"p1", "gp1"}
    assert search_ids(client, "Observation?interpretation=H") == {"o1"}
    assert search_ids(client, "Observation?interpretation:not=H") == {"o2"}
    assert search_ids(client, "Observation?subject:Patient.doctor.name=martin") == {"o1"}


def test_draft_parameter_is_stored_but_not_searchable(client: TestClient) -> None:
    r = client.post("/fhir/SearchParameter", json={**NICKNAME, "status": "draft"}, headers=H)
    assert r.status_code == 201
    error = client.get("/fhir/Patient?nickname=bene")
    assert error.status_code == 400
    assert "nickname" in error.text


def test_retired_or_deleted_parameter_is_unknown_again(client: TestClient) -> None:
    created = client.post("/fhir/SearchParameter", json=NICKNAME, headers=H).json()
    assert client.get("/fhir/Patient?nickname=x").status_code == 200
    retired = {**created, "status": "retired"}
    assert client.put(f"/fhir/SearchParameter/{created['id']}", json=retired, headers=H).status_code == 200
    assert client.get("/fhir/Patient?nickname=x").status_code == 400
    assert client.put(f"/fhir/SearchParameter/{created['id']}", json=created, headers=H).status_code == 200
    assert client.get("/fhir/Patient?nickname=x").status_code == 200
    assert client.delete(f"/fhir/SearchParameter/{created['id']}").status_code in (200, 204)
    assert client.get("/fhir/Patient?nickname=x").status_code == 400


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"code": "_nick"}, "code"),
        ({"code": "nick name"}, "code"),
        ({"code": "name"}, "official"),  # Patient.name is the official parameter
        ({"base": ["Foo"]}, "Foo"),
        ({"base": ["Resource"]}, "Resource"),
        ({"type": "special"}, "special"),
        ({"expression": "Patient.name.where(use = "}, "expression"),
        ({"expression": None}, "expression"),
    ],
)
def test_unusable_parameter_is_refused_and_nothing_stored(
    client: TestClient, change: dict[str, Any], reason: str
) -> None:
    body = {k: v for k, v in {**NICKNAME, **change}.items() if v is not None}
    r = client.post("/fhir/SearchParameter", json=body, headers=H)
    assert r.status_code == 422, r.text
    outcome = r.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert reason in outcome["issue"][0]["diagnostics"]
    assert client.get("/fhir/SearchParameter?_summary=count").json()["total"] == 0


def test_refused_parameter_in_a_transaction_rolls_it_back(client: TestClient) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": _patient("p9", "Zaza"), "request": {"method": "PUT", "url": "Patient/p9"}},
            {
                "resource": {**NICKNAME, "code": "_bad"},
                "request": {"method": "POST", "url": "SearchParameter"},
            },
        ],
    }
    r = client.post("/fhir", json=bundle, headers=H)
    assert r.status_code == 422, r.text
    assert client.get("/fhir/Patient/p9").status_code == 404


def test_reindex_indexes_older_resources_and_restart_keeps_parameter(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = Settings(database_url=database_url)
    with open_client(settings) as client:
        put_all(client, [_patient("old", "Béné")])  # stored before the parameter exists
        assert client.post("/fhir/SearchParameter", json=NICKNAME, headers=H).status_code == 201
        put_all(client, [_patient("new", "Bébert")])
        assert search_ids(client, "Patient?nickname=beb") == {"new"}
        assert search_ids(client, "Patient?nickname=bene") == set()  # not indexed yet
    monkeypatch.setenv("HYGIE_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["db", "reindex", "--type", "Patient"])
    assert result.exit_code == 0, result.output
    with open_client(settings) as client:  # a restarted server
        assert search_ids(client, "Patient?nickname=bene") == {"old"}
        assert search_ids(client, "Patient?nickname=b") == {"old", "new"}


def test_custom_composite_parameter(client: TestClient) -> None:
    composite = {
        "resourceType": "SearchParameter",
        "url": "https://hygie.example/fhir/SearchParameter/observation-test-value",
        "name": "test-value",
        "status": "active",
        "description": "Test code and its quantity, in the same Observation",
        "code": "test-value",
        "base": ["Observation"],
        "type": "composite",
        "expression": "Observation",
        "component": [
            {"definition": "http://hl7.org/fhir/SearchParameter/clinical-code", "expression": "code"},
            {
                "definition": "http://hl7.org/fhir/SearchParameter/Observation-value-quantity",
                "expression": "value.as(Quantity)",
            },
        ],
    }
    assert client.post("/fhir/SearchParameter", json=composite, headers=H).status_code == 201, "composite"
    loinc = "http://loinc.org"
    ucum = "http://unitsofmeasure.org"

    def obs(oid: str, code: str, value: float) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "id": oid,
            "status": "final",
            "code": {"coding": [{"system": loinc, "code": code}]},
            "valueQuantity": {"value": value, "system": ucum, "code": "mmol/L"},
        }

    put_all(client, [obs("g1", "15074-8", 9.5), obs("g2", "15074-8", 5.0), obs("k1", "2823-3", 9.5)])
    assert search_ids(client, f"Observation?test-value={loinc}|15074-8$gt7") == {"g1"}
    assert search_ids(client, "Observation?test-value=2823-3$9.5") == {"k1"}


def test_the_policy_parameter_cannot_be_redefined(client: TestClient) -> None:
    """``Consent.provision-type`` is read by the access policy (consent blocks): redefining it
    would lift every block."""
    evil = {**NICKNAME, "code": "provision-type", "base": ["Consent"], "type": "token",
            "expression": "Consent.status", "url": "https://evil.example/sp"}  # fmt: skip
    r = client.post("/fhir/SearchParameter", json=evil, headers=H)
    assert r.status_code == 422
    assert "provision-type" in r.json()["issue"][0]["diagnostics"]
