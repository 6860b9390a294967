"""Every official R4 example that is valid R4 is accepted, stored and read back identical.

Data: ../shared/data/fhir-r4-examples (hl7.fhir.r4.examples 4.0.1). Runs on both backends.
Validity is the validator's verdict (its documented exclusions are tested in
tests/fhir/test_examples_valid.py); invalid examples must be refused with nothing stored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from hygie.fhir.jsonio import dumps, loads
from hygie.fhir.validation import validate_resource

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir-r4-examples"
H = {"content-type": "application/fhir+json"}


def without_server_meta(resource: dict[str, Any]) -> dict[str, Any]:
    out = dict(resource)
    meta = {k: v for k, v in (out.pop("meta", None) or {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        out["meta"] = meta
    return out


def examples() -> list[tuple[str, bytes]]:
    files = sorted(EXAMPLES.glob("*.json"))
    assert len(files) > 700, f"examples not found in {EXAMPLES}"
    return [(f.name, f.read_bytes()) for f in files if f.name != "package.json"]  # the package manifest


def test_examples_round_trip(client: TestClient) -> None:
    accepted, refused, failures = 0, 0, []
    audit_events = 0
    for name, raw in examples():
        resource = loads(raw)
        rtype, rid = resource["resourceType"], resource.get("id")
        if rtype == "Subscription":  # R4 criteria-style: refused, Hygie serves topic-based ones
            r = client.put(f"/fhir/Subscription/{rid}", content=raw, headers=H)
            assert r.status_code == 422, (name, r.status_code)
            continue
        if rtype == "AuditEvent":  # the server's own audit ledger: never written by clients
            r = client.put(f"/fhir/AuditEvent/{rid}", content=raw, headers=H)
            assert r.status_code == 405, (name, r.status_code)
            audit_events += 1
            continue
        valid = not [i for i in validate_resource(resource) if i.severity in ("error", "fatal")]
        if rid:
            r = client.put(f"/fhir/{rtype}/{rid}", content=raw, headers=H)
        else:
            r = client.post(f"/fhir/{rtype}", content=raw, headers=H)
        if not valid:
            refused += 1
            if r.status_code < 400 or r.json()["resourceType"] != "OperationOutcome":
                failures.append(f"{name}: invalid example accepted ({r.status_code})")
            continue
        if r.status_code not in (200, 201):
            failures.append(f"{name}: {r.status_code} {r.text[:300]}")
            continue
        location = r.headers["location"].split("/fhir/", 1)[1].split("/_history")[0]
        back = client.get(f"/fhir/{location}")
        stored = loads(back.content)
        expected = (
            without_server_meta(resource) if rid else {**without_server_meta(resource), "id": stored["id"]}
        )
        if dumps(without_server_meta(stored), sort_keys=True) != dumps(expected, sort_keys=True):
            failures.append(f"{name}: read back differs")
        accepted += 1
    assert not failures, "\n".join(failures[:20]) + f"\n({len(failures)} failures)"
    assert accepted > 650, (accepted, refused)
    assert audit_events >= 5
