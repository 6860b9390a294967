"""Every FHIR access lands in the hash-chained audit ledger; patients read who accessed their record.

End to end through the API: accesses → AuditEvents (one per patient per access, BALP shape) →
``GET /fhir/AuditEvent`` restricted to the patient's own entries (reading them is audited too) →
``hygie audit verify`` passes, and fails naming the entry after tampering.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from hygie.api.audit_trail import AuditTrail
from hygie.app import create_app
from hygie.auth import balp
from hygie.auth.keys import load_keys
from hygie.auth.scopes import parse_scopes
from hygie.auth.tokens import Principal, issue
from hygie.cli import cli
from hygie.settings import Settings
from hygie.storage.database import open_database
from tests.api.support import H, put_all
from tests.support import operator_header

CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"


def patient_header(settings: Settings, patients: tuple[str, ...]) -> dict[str, str]:
    principal = Principal(
        kind="patient",
        subject=f"acc-{patients[0]}",
        scopes=parse_scopes("patient/*.rs"),
        fhir_user=f"Patient/{patients[0]}",
        patients=patients,
    )
    token = issue(
        load_keys(settings.keys_dir),
        principal,
        audience=load_keys(settings.keys_dir).instance,
        now=int(time.time()),
        ttl=600,
    )
    return {"Authorization": f"Bearer {token}"}


def obs(oid: str, patient: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"text": "pouls"},
        "subject": {"reference": f"Patient/{patient}"},
    }


def entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", [])]


def patient_of(event: dict[str, Any]) -> str | None:
    for entity in event.get("entity", []):
        if entity.get("role", {}).get("code") == "1":
            return str(entity["what"]["reference"]).removeprefix("Patient/")
    return None


@pytest.fixture
def world(settings: Settings) -> Settings:
    with TestClient(create_app(settings), headers=operator_header(settings)) as op:
        put_all(
            op,
            [
                {"resourceType": "Patient", "id": "alice"},
                {"resourceType": "Patient", "id": "bob"},
                obs("a1", "alice"),
                obs("b1", "bob"),
            ],
        )
        assert op.get("/fhir/Observation/a1", headers={"X-Request-ID": "req-42"}).status_code == 200
        assert op.get("/fhir/Observation?_count=10").status_code == 200  # alice's and bob's data
        assert op.get("/fhir/Observation/zzz").status_code == 404
    with TestClient(create_app(settings)) as anonymous:
        assert anonymous.get("/fhir/Observation/a1").status_code == 401
    return settings  # leaving the app flushed the trail


def test_patient_sees_who_accessed_their_record_only(world: Settings) -> None:
    with TestClient(create_app(world), headers=patient_header(world, ("alice",))) as alice:
        bundle = alice.get("/fhir/AuditEvent?_count=100").json()
        events = entries(bundle)
        assert events and {patient_of(e) for e in events} == {"alice"}
        reads = [e for e in events if any(s.get("code") == "read" for s in e.get("subtype", []))]
        assert any(
            ent.get("what", {}).get("identifier", {}).get("value") == "req-42"
            for e in reads
            for ent in e["entity"]
        )
        searches = [e for e in events if any(s.get("code") == "search-type" for s in e.get("subtype", []))]
        assert searches  # the search that returned alice's Observation is in her trail
        for event in events:  # who: the operator's client, from where
            assert event["outcome"] in ("0", "4", "8", "12")
            assert any(a.get("requestor") for a in event["agent"])
        assert entries(alice.get("/fhir/AuditEvent?patient=bob").json()) == []
        one = events[0]["id"]
        assert alice.get(f"/fhir/AuditEvent/{one}").status_code == 200
        bob_event = None
        with TestClient(create_app(world), headers=patient_header(world, ("bob",))) as bob:
            bob_event = entries(bob.get("/fhir/AuditEvent?_count=1").json())[0]["id"]
        assert alice.get(f"/fhir/AuditEvent/{bob_event}").status_code == 404
        assert alice.post("/fhir/AuditEvent", json=events[0], headers=H).status_code == 403  # scope: no c
        with TestClient(create_app(world), headers=operator_header(world)) as op:  # system/*.cruds
            assert op.post("/fhir/AuditEvent", json=events[0], headers=H).status_code == 405
            assert op.put(f"/fhir/AuditEvent/{one}", json=events[0], headers=H).status_code == 405
            assert op.delete(f"/fhir/AuditEvent/{one}").status_code == 405
            assert op.get(f"/fhir/AuditEvent/{one}").json()["id"] == one  # system clients read all
    with TestClient(create_app(world), headers=patient_header(world, ("alice",))) as alice:
        latest = entries(alice.get("/fhir/AuditEvent?_count=20").json())
        # reading the audit log was itself recorded, as a search about alice
        assert any(
            patient_of(e) == "alice"
            and any(s.get("code") == "search-type" for s in e.get("subtype", []))
            and any(ent.get("query") for ent in e["entity"])
            for e in latest
        )


def test_failed_access_is_recorded(world: Settings) -> None:
    db = open_database(world.database_url)
    try:
        outcomes = db.run_sync(lambda s: s.all("SELECT body FROM audit_log ORDER BY seq"), write=False)
    finally:
        db.close()
    import orjson

    bodies = [orjson.loads(bytes(b)) for (b,) in outcomes]
    assert any(b["outcome"] == "4" for b in bodies)  # the 404 and the 401
    assert all(b["resourceType"] == "AuditEvent" for b in bodies)


def test_verify_passes_then_fails_naming_the_tampered_entry(
    world: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HYGIE_DATABASE_URL", world.database_url)
    monkeypatch.setenv("HYGIE_KEYS_DIR", str(world.keys_dir))
    ok = CliRunner().invoke(cli, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    db = open_database(world.database_url)
    try:
        db.run_sync(lambda s: s.execute("UPDATE audit_log SET agent = 'Practitioner/evil' WHERE seq = 2"))
    finally:
        db.close()
    bad = CliRunner().invoke(cli, ["audit", "verify"])
    assert bad.exit_code == 1
    assert "2" in bad.output


def test_a_patient_blocking_a_professional_is_a_policy_change(settings: Settings) -> None:
    with TestClient(create_app(settings), headers=operator_header(settings)) as op:
        put_all(
            op, [{"resourceType": "Patient", "id": "alice"}, {"resourceType": "Practitioner", "id": "pr"}]
        )
    keys = load_keys(settings.keys_dir)
    principal = Principal(
        kind="patient",
        subject="acc-alice",
        scopes=parse_scopes("patient/Consent.crus"),
        fhir_user="Patient/alice",
        patients=("alice",),
    )
    token = issue(keys, principal, audience=keys.instance, now=int(time.time()), ttl=600)
    block = {
        "resourceType": "Consent", "status": "active",
        "scope": {"coding": [{"system": CONSENT_SCOPE, "code": "patient-privacy"}]},
        "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
        "patient": {"reference": "Patient/alice"},
        "policyRule": {"coding": [{"system": ACT_CODE, "code": "OPTOUT"}]},
        "provision": {"type": "deny", "actor": [{"role": {"coding": [{"code": "PRCP"}]},
                                                 "reference": {"reference": "Practitioner/pr"}}]},
    }  # fmt: skip
    with TestClient(create_app(settings), headers={"Authorization": f"Bearer {token}"}) as alice:
        assert alice.post("/fhir/Consent", json=block, headers=H).status_code == 201
        other = {**block, "patient": {"reference": "Patient/bob"}}
        assert alice.post("/fhir/Consent", json=other, headers=H).status_code == 403  # not her record
    db = open_database(settings.database_url)
    try:
        rows = db.run_sync(lambda s: s.all("SELECT body, patient FROM audit_log ORDER BY seq"), write=False)
    finally:
        db.close()
    import orjson

    changes = [(orjson.loads(bytes(b)), p) for b, p in rows if b'"110135"' in bytes(b)]
    assert len(changes) == 1
    assert changes[0][1] == "alice"


def test_flush_waits_for_a_write_already_under_way(settings: Settings) -> None:
    """A page flushing the trail before reading it must see what was recorded before, even when
    the background task took those records an instant earlier and is still writing them (the
    portal's "who accessed my record" after a download lost that race on PostgreSQL)."""
    with TestClient(create_app(settings)):
        pass  # migrated
    db = open_database(settings.database_url)
    trail = AuditTrail(db, load_keys(settings.keys_dir).audit, balp.Server(base_url=settings.base_url))

    def count(session: Any) -> int:
        return int(session.execute("SELECT count(*) FROM audit_log").fetchone()[0])

    async def scenario() -> tuple[int, int]:
        before = await db.run(count, write=False)
        trail.record(balp.AccessRecord(action="export", time_ms=int(time.time() * 1000), patients=("alice",)))
        under_way = asyncio.get_running_loop().create_task(trail.flush())  # the background round
        await asyncio.sleep(0)  # it has taken the records and is writing them
        await trail.flush()  # the page's flush
        after = await db.run(count, write=False)
        await under_way
        return before, after

    try:
        before, after = asyncio.run(scenario())
    finally:
        db.close()
    assert after == before + 1


def test_a_deletion_appears_in_the_patients_trail(world: Settings) -> None:
    """Deleting one of alice's resources is an access to her record: her trail shows it (the
    deletion version has no body: the patient comes from the version deleted)."""
    with TestClient(create_app(world), headers=operator_header(world)) as op:
        assert op.delete("/fhir/Observation/a1").status_code == 204
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [{"request": {"method": "DELETE", "url": "Observation/b1"}}],
        }
        assert op.post("/fhir", json=bundle, headers=H).status_code == 200
    with TestClient(create_app(world), headers=patient_header(world, ("alice",))) as alice:
        events = entries(alice.get("/fhir/AuditEvent?_count=100").json())
    deletions = [e for e in events if any(s.get("code") == "delete" for s in e.get("subtype", []))]
    assert len(deletions) == 1 and any(
        ent.get("what", {}).get("reference") == "Observation/a1" for ent in deletions[0]["entity"]
    )
    with TestClient(create_app(world), headers=patient_header(world, ("bob",))) as bob:
        events = entries(bob.get("/fhir/AuditEvent?_count=100").json())
    bundles = [  # the world's creation, then the deletion
        e
        for e in events
        if any(s.get("code") == "transaction" for s in e.get("subtype", []))
        and any(ent.get("what", {}).get("reference") == "Observation/b1" for ent in e["entity"])
    ]
    assert len(bundles) == 2


def test_patients_named_by_the_request_are_kept_beside_the_resources_touched() -> None:
    """The patients an operation names (a break-the-glass opening, an audit search) stay in the
    record when resources of other patients were touched too."""
    from hygie.api.audit_trail import access_record
    from hygie.api.context import FhirRequest
    from hygie.storage.versions import Version

    body = b'{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/alice"}}'
    record = access_record(
        FhirRequest(method="GET", type="Observation", id="o1"),
        principal=None,
        status=200,
        touched=[Version("Observation", "o1", 1, 0, False, "POST", body)],
        patients={"bob"},
        client_ip=None,
        request_id="r",
        now_ms=0,
    )
    assert record.patients == ("bob",)
    assert record.patient_resources == {"alice": ("Observation/o1",)}
