"""``POST [base]/MedicationRequest/$check-interactions`` — medication safety for clients that do
not speak CDS Hooks (docs/cds-hooks.md). Operations framework: https://hl7.org/fhir/R4/operations.html;
OperationDefinition https://hygie.health/fhir/OperationDefinition/MedicationRequest-check-interactions.

Input, either

- a **Parameters** resource: ``patient`` (valueReference ``Patient/id``, or valueString the id;
  optional) — the patient's current drugs, allergies, weight, creatinine, pregnancy… are then read
  from Hygie under the caller's access policy, exactly like the CDS Hooks prefetch;
  ``medicationRequest`` (resource; repeatable) — the orders to check (drafts, not stored);
  ``record`` (valueBoolean, default false) — store each finding as a DetectedIssue of the patient
  (needs ``patient`` and the right to create DetectedIssues); or
- a **Bundle** holding everything (nothing is read): at most one Patient, the MedicationRequests
  with status ``draft`` as the orders to check, the other MedicationRequests and
  MedicationStatements as current drugs, Medications, AllergyIntolerances, Observations and
  Conditions as for the patient.

Output: a Parameters resource with one ``issue`` part per finding — a DetectedIssue
(:mod:`hygie.cds.hooks_detected`), with its id when recorded. With orders to check, only the
findings involving one of them are given (as ``order-sign``); without, all (as ``patient-view``).
Bad input → 400 naming the part; an unknown or hidden patient → 404; everything in one
transaction (a failed record writes nothing).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import anyio.to_thread
from starlette.responses import Response

from hygie.api.authorize import check
from hygie.api.context import FhirRequest
from hygie.api.create import create
from hygie.api.http import OperationCall, OperationHandler, json_body
from hygie.cds.facts import reference_of
from hygie.cds.hooks_detected import detected_issue
from hygie.cds.hooks_evaluate import evaluate, knowledge, shown
from hygie.cds.hooks_prefetch import read, wanted_for
from hygie.cds.hooks_request import FHIR_ID, invalid
from hygie.storage.database import Session

OPERATION = "type:MedicationRequest:$check-interactions"
PARTS = frozenset({"patient", "medicationRequest", "record"})


def _patient_part(part: dict[str, Any]) -> str:
    value = part.get("valueString")
    reference = part.get("valueReference")
    if isinstance(reference, dict) and isinstance(reference.get("reference"), str):
        value = reference["reference"]
    if not isinstance(value, str):
        raise invalid("Parameters.parameter(patient)", "valueReference Patient/id or valueString id")
    rid = value.removeprefix("Patient/")
    if not FHIR_ID.fullmatch(rid):
        raise invalid("Parameters.parameter(patient)", "valueReference Patient/id or valueString id")
    return rid


def _from_parameters(body: dict[str, Any]) -> tuple[str | None, list[tuple[str, dict[str, Any]]], bool]:
    patient, drafts, record = None, [], False
    for n, part in enumerate(body.get("parameter") or []):
        name = part.get("name") if isinstance(part, dict) else None
        if name not in PARTS:
            raise invalid(f"Parameters.parameter[{n}]", "expected patient, medicationRequest or record")
        assert isinstance(part, dict)
        if name == "patient":
            if patient is not None:
                raise invalid("Parameters.parameter(patient)", "at most one patient")
            patient = _patient_part(part)
        elif name == "record":
            if not isinstance(part.get("valueBoolean"), bool):
                raise invalid("Parameters.parameter(record)", "valueBoolean expected")
            record = bool(part["valueBoolean"])
        else:
            resource = part.get("resource")
            if not isinstance(resource, dict) or resource.get("resourceType") != "MedicationRequest":
                raise invalid(f"Parameters.parameter[{n}].resource", "a MedicationRequest is expected")
            drafts.append((reference_of(resource, f"MedicationRequest/draft-{n}"), resource))
    if patient is None and not drafts:
        raise invalid("Parameters", "give a patient, medicationRequest parts, or both")
    if record and patient is None:
        raise invalid("Parameters.parameter(record)", "recording needs the patient")
    return patient, drafts, record


def _from_bundle(body: dict[str, Any]) -> tuple[dict[str, Any] | None, list[tuple[str, dict[str, Any]]]]:
    patients, drafts = [], []
    for n, entry in enumerate(body.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise invalid(f"Bundle.entry[{n}].resource", "a FHIR resource is expected")
        if resource["resourceType"] == "Patient":
            patients.append(resource)
        elif resource["resourceType"] == "MedicationRequest" and resource.get("status") == "draft":
            drafts.append((reference_of(resource, f"MedicationRequest/draft-{n}"), resource))
    if len(patients) > 1:
        raise invalid("Bundle.entry", "at most one Patient")
    return (patients[0] if patients else None), drafts


async def check_interactions(call: OperationCall) -> Response:
    body = await json_body(call)
    kind = body.get("resourceType") if isinstance(body, dict) else None
    if kind not in ("Parameters", "Bundle"):
        raise invalid("resourceType", "a Parameters or a Bundle resource is expected")
    now = datetime.now(ZoneInfo(call.api.settings.timezone))
    identified = now.astimezone(UTC).isoformat(timespec="seconds")
    record, patient_id, patient = False, None, None
    if kind == "Parameters":
        patient_id, drafts, record = _from_parameters(body)
    else:
        patient, drafts = _from_bundle(body)
        patient_id = patient.get("id") if patient and isinstance(patient.get("id"), str) else None
    await anyio.to_thread.run_sync(knowledge)  # loaded once, off the event loop

    def work(session: Session) -> dict[str, Any]:
        env = call.env(session)
        found, bundles = patient, [body] if kind == "Bundle" else []
        if kind == "Parameters" and patient_id is not None:
            data = {key: read(env, url) for key, url in wanted_for(patient_id).items()}
            found = data.pop("patient")
            bundles = list(data.values())
        evaluation = evaluate(found, bundles, drafts, now.date(), body if kind == "Bundle" else None)
        findings = shown(evaluation, "order-sign" if drafts else "patient-view")
        items = {i.ref: i for i in evaluation.items}
        issues = [
            detected_issue(f, patient=patient_id, items=items, identified=identified, recorded=record)
            for f in findings
        ]
        if record:
            issues = [_store(env, issue) for issue in issues]
        out: dict[str, Any] = {"resourceType": "Parameters"}
        if issues:
            out["parameter"] = [{"name": "issue", "resource": issue} for issue in issues]
        return out

    result = await call.api.db.run(work, write=record)
    return call.api._json(result, 200, call.pretty, {})


def _store(env: Any, issue: dict[str, Any]) -> dict[str, Any]:
    req = FhirRequest(method="POST", type="DetectedIssue", body=issue)
    check(env, req)
    result = create(env, req)
    assert result.version is not None
    env.touched.append(result.version)
    return result.version.resource()


def operations() -> dict[str, OperationHandler]:
    """Operation key → handler, for the composition root."""
    return {OPERATION: check_interactions}
