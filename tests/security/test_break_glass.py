"""Break-the-glass: justified, time-limited emergency access, audited with purpose BTG, patient notified."""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.testclient import TestClient

from hygie.app import create_app
from hygie.auth.keys import load_keys
from hygie.auth.scopes import parse_scopes
from hygie.auth.tokens import Principal, issue
from hygie.settings import Settings
from hygie.storage.database import open_database
from tests.api.support import H, put_all, search_ids
from tests.support import operator_header

REASON = "Patient inconscient aux urgences, allergies inconnues"


def token(settings: Settings, principal: Principal) -> dict[str, str]:
    keys = load_keys(settings.keys_dir)
    return {
        "Authorization": "Bearer "
        + issue(keys, principal, audience=keys.instance, now=int(time.time()), ttl=600)
    }


def professional(settings: Settings) -> dict[str, str]:
    return token(
        settings,
        Principal(
            kind="professional",
            subject="acc-pb",
            scopes=parse_scopes("user/*.rs"),
            fhir_user="Practitioner/pb",
            organization="orgB",
        ),
    )


def add_professional_account(settings: Settings) -> None:
    db = open_database(settings.database_url)
    try:
        db.run_sync(
            lambda s: s.execute(
                "INSERT INTO account (id, username, kind, display, fhir_type, fhir_id, organization,"
                " created, updated)"
                " VALUES ('acc-pb', 'pb', 'professional', 'Dr B', 'Practitioner', 'pb', 'orgB', 0, 0)"
            )
        )
    finally:
        db.close()


def btg(reason: Any = REASON, minutes: Any = None) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [{"name": "reason", "valueString": reason}]
    if minutes is not None:
        parameters.append({"name": "minutes", "valueInteger": minutes})
    return {"resourceType": "Parameters", "parameter": parameters}


def test_break_glass_opens_audits_notifies_and_expires(settings: Settings, client: TestClient) -> None:
    add_professional_account(settings)
    put_all(
        client,
        [
            {"resourceType": "Organization", "id": "orgA"},
            {"resourceType": "Organization", "id": "orgB"},
            {"resourceType": "Practitioner", "id": "pb"},
            {
                "resourceType": "Patient",
                "id": "alice",
                "managingOrganization": {"reference": "Organization/orgA"},
            },
            {
                "resourceType": "Observation",
                "id": "o1",
                "status": "final",
                "code": {"text": "allergie"},
                "subject": {"reference": "Patient/alice"},
            },
            # alice also blocked orgB: an emergency overrides it
            {
                "resourceType": "Consent",
                "id": "c1",
                "status": "active",
                "scope": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                            "code": "patient-privacy",
                        }
                    ]
                },
                "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
                "patient": {"reference": "Patient/alice"},
                "policyRule": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTOUT"}
                    ]
                },
                "provision": {
                    "type": "deny",
                    "actor": [
                        {
                            "role": {"coding": [{"code": "PRCP"}]},
                            "reference": {"reference": "Organization/orgB"},
                        }
                    ],
                },
            },
        ],
    )
    with TestClient(create_app(settings), headers=professional(settings)) as pb:
        assert pb.get("/fhir/Patient/alice").status_code == 404
        assert pb.get("/fhir/Patient/alice/$break-glass").status_code == 404  # no grant yet
        assert search_ids(pb, "Observation") == set()
        for bad in (btg("urgence"), btg(REASON, 0), btg(REASON, 10_000), {"resourceType": "Patient"}):
            assert pb.post("/fhir/Patient/alice/$break-glass", json=bad, headers=H).status_code == 400
        assert pb.post("/fhir/Patient/nobody/$break-glass", json=btg(), headers=H).status_code == 404
        r = pb.post("/fhir/Patient/alice/$break-glass", json=btg(minutes=30), headers=H)
        assert r.status_code == 200, r.text
        assert r.json()["parameter"][0]["name"] == "until"
        assert pb.get("/fhir/Patient/alice").status_code == 200
        assert search_ids(pb, "Observation") == {"o1"}
        # the professional reads their own current grants (any server process: they are stored)
        mine = pb.get("/fhir/Patient/alice/$break-glass")
        assert mine.status_code == 200, mine.text
        parts = {p["name"]: p for p in mine.json()["parameter"]}
        assert parts["until"]["valueInstant"] == r.json()["parameter"][0]["valueInstant"]
        assert parts["reason"]["valueString"] == REASON
        assert parts["patient"]["valueReference"] == {"reference": "Patient/alice"}
        listed = pb.get("/fhir/Patient/$break-glass").json()
        grants = [p for p in listed["parameter"] if p["name"] == "grant"]
        assert [{q["name"]: q for q in g["part"]}["patient"]["valueReference"] for g in grants] == [
            {"reference": "Patient/alice"}
        ]
        assert pb.get("/fhir/Patient/o1-nobody/$break-glass").status_code == 404
        assert pb.delete("/fhir/Patient/alice/$break-glass").status_code == 405
    # the patient is told, in plain words, who opened the record and why
    notices = client.get("/fhir/Communication?recipient=Patient/alice").json()["entry"]
    assert len(notices) == 1
    assert REASON in notices[0]["resource"]["payload"][0]["contentString"]
    # audited with purpose BTG and the justification
    db = open_database(settings.database_url)
    try:
        bodies = [
            orjson.loads(bytes(b)) for (b,) in db.run_sync(lambda s: s.all("SELECT body FROM audit_log"))
        ]
        override = [b for b in bodies if any(s.get("code") == "110127" for s in b.get("subtype", []))]
        assert len(override) == 1
        # the accesses made under the grant carry the purpose of use BTG too
        reads = [b for b in bodies if any(s.get("code") == "read" for s in b.get("subtype", []))]
        assert reads and all("BTG" in orjson.dumps(b).decode() for b in reads if b["outcome"] == "0")
        assert "BTG" in orjson.dumps(override[0]).decode()
        assert REASON in orjson.dumps(override[0]).decode()
        # the opening itself names the patient: it is in their access history (AuditEvent?patient=)
        assert "Patient/alice" in orjson.dumps(override[0]).decode()
        # the grant expires: move it into the past
        db.run_sync(lambda s: s.execute("UPDATE btg_grant SET until = ?", (int(time.time() * 1000) - 1000,)))
    finally:
        db.close()
    with TestClient(create_app(settings), headers=professional(settings)) as pb:
        assert pb.get("/fhir/Patient/alice").status_code == 404
        assert pb.get("/fhir/Patient/alice/$break-glass").status_code == 404  # expired: no grant
        assert "parameter" not in pb.get("/fhir/Patient/$break-glass").json()
        assert pb.get("/fhir/Patient/alice/$break-glass").status_code == 404  # expired: no grant
        assert "parameter" not in pb.get("/fhir/Patient/$break-glass").json()


def test_only_professionals_break_the_glass(settings: Settings, client: TestClient) -> None:
    put_all(client, [{"resourceType": "Patient", "id": "bob"}])
    patient = token(
        settings,
        Principal(
            kind="patient",
            subject="acc-eve",
            scopes=parse_scopes("patient/*.rs"),
            fhir_user="Patient/eve",
            patients=("eve",),
        ),
    )
    for header in (patient, operator_header(settings)):
        with TestClient(create_app(settings), headers=header) as c:
            assert c.post("/fhir/Patient/bob/$break-glass", json=btg(), headers=H).status_code == 403
            assert c.get("/fhir/Patient/bob/$break-glass").status_code == 403
            assert c.get("/fhir/Patient/$break-glass").status_code == 403
