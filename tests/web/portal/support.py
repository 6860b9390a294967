"""Data of the portal tests: a small record for alice (problems, treatments, an allergy, vaccines,
documents, measurements, devices, an alert, a message), another for charlie (the child alice
acts for) and one for bob (whose data alice must never see). Patients and the GP come from
tests/security/smart_support.py (alice and charlie: GP ``Practitioner/gp``, account drmartin)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from hygie.auth.scopes import parse_scopes
from hygie.auth.tokens import Principal
from tests.security.smart_support import Installation
from tests.security.test_break_glass import token
from tests.support import operator_header
from tests.web.support import put_resources, text_by_id

NOW = datetime.now(UTC).replace(microsecond=0)
LOINC = "http://loinc.org"
PDF = b"%PDF-1.4\n% a tiny test letter\n%%EOF\n"
MONITORING = "https://hygie.health/fhir/CodeSystem/monitoring"
EXT = "https://hygie.health/fhir/StructureDefinition/monitoring-alert-"


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).isoformat()


def _patient(pid: str) -> dict[str, Any]:
    return {"reference": f"Patient/{pid}"}


def condition(rid: str, pid: str, text: str, onset: str = "2019-03") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": rid,
        "clinicalStatus": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}
            ]
        },
        "code": {"text": text},
        "subject": _patient(pid),
        "onsetDateTime": onset,
    }


def weight(rid: str, pid: str, kg: float, when: str, unit: str = "kg") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body weight"}]},
        "subject": _patient(pid),
        "effectiveDateTime": when,
        "valueQuantity": {"value": kg, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def alert(
    rid: str, pid: str, rule: str, status: str = "requested", owner: str | None = None
) -> list[dict[str, Any]]:
    """A monitoring alert as the rounds write it (hygie/monitoring/alert_fhir.py)."""
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": rid,
        "identifier": [
            {"system": "https://hygie.health/fhir/NamingSystem/monitoring-alert", "value": f"{rule}|{pid}"}
        ],
        "status": status,
        "intent": "order",
        "priority": "asap",
        "code": {"coding": [{"system": MONITORING, "code": "alert"}]},
        "focus": {"reference": f"DetectedIssue/{rid}"},
        "for": _patient(pid),
        "authoredOn": ago(hours=3),
        "reasonCode": {
            "coding": [{"system": "https://hygie.health/fhir/CodeSystem/monitoring-rule", "code": rule}]
        },
        "executionPeriod": {"start": ago(hours=3)},
        "extension": [
            {"url": EXT + "severity", "valueCode": "high"},
            {"url": EXT + "seen", "valueDateTime": ago(hours=1)},
            {"url": EXT + "escalation", "valueInteger": 0},
            {"url": EXT + "cleared", "valueBoolean": False},
        ],
    }
    if owner:
        task["owner"] = {"reference": owner}
    issue = {
        "resourceType": "DetectedIssue",
        "id": rid,
        "status": "final",
        "code": {
            "coding": [{"system": "https://hygie.health/fhir/CodeSystem/monitoring-rule", "code": rule}],
            "text": "SpO2 < 92 %",
        },
        "severity": "high",
        "patient": _patient(pid),
        "identifiedDateTime": ago(hours=3),
        "detail": "SpO2 < 92 % pendant 10 min",
    }
    return [task, issue]


def record() -> list[dict[str, Any]]:
    """Everything the portal pages of the tests show."""
    letter = base64.b64encode("Rennes, le 22/11/2026\nCher confrère,\n".encode()).decode()
    return [
        {"resourceType": "Organization", "id": "msp", "name": "Maison de santé des Lices"},
        {"resourceType": "Practitioner", "id": "gp", "name": [{"family": "Martin", "given": ["Claire"]}]},
        {
            "resourceType": "PractitionerRole",
            "id": "gp-role",
            "active": True,
            "practitioner": {"reference": "Practitioner/gp"},
            "organization": {"reference": "Organization/msp"},
            "code": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/practitioner-role",
                            "code": "doctor",
                        }
                    ]
                }
            ],
            "specialty": [
                {
                    "coding": [
                        {
                            "system": "http://snomed.info/sct",
                            "code": "394814009",
                            "display": "General practice",
                        }
                    ]
                }
            ],
        },
        {"resourceType": "Practitioner", "id": "nurse", "name": [{"family": "Riou", "given": ["Élodie"]}]},
        condition("c-alice", "alice", "Diabète de type 2"),
        condition("c-bob", "bob", "Secret de Bob"),
        condition("c-charlie", "charlie", "Asthme de Charlie", "2024-05-02"),
        {
            "resourceType": "MedicationRequest",
            "id": "mr-alice",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {"text": "METFORMINE 1000 mg"},
            "subject": _patient("alice"),
            "authoredOn": "2026-10-01T09:15:00+00:00",
            "requester": {"reference": "Practitioner/gp"},
            "dosageInstruction": [{"text": "1 comprimé matin et soir"}],
        },
        {
            "resourceType": "MedicationStatement",
            "id": "ms-alice",
            "status": "active",
            "medicationCodeableConcept": {"text": "Metformine 1000 mg"},
            "subject": _patient("alice"),
        },
        {
            "resourceType": "AllergyIntolerance",
            "id": "al-alice",
            "criticality": "high",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active",
                    }
                ]
            },
            "code": {"text": "Pénicilline"},
            "patient": _patient("alice"),
            "reaction": [{"manifestation": [{"text": "Urticaire"}]}],
        },
        {
            "resourceType": "Immunization",
            "id": "im-alice",
            "status": "completed",
            "vaccineCode": {"text": "Tétanos (rappel)"},
            "patient": _patient("alice"),
            "occurrenceDateTime": "2013-03-05T09:00:00+00:00",
        },
        {
            "resourceType": "DocumentReference",
            "id": "doc-alice",
            "status": "current",
            "type": {"text": "Courrier de consultation"},
            "subject": _patient("alice"),
            "date": "2026-11-22T09:00:00+00:00",
            "author": [{"reference": "Practitioner/gp"}],
            "description": "Courrier du Dr Martin",
            "content": [
                {
                    "attachment": {
                        "contentType": "text/plain; charset=utf-8",
                        "data": letter,
                        "title": "Courrier",
                    }
                },
                {
                    "attachment": {
                        "contentType": "application/pdf",
                        "data": base64.b64encode(PDF).decode(),
                        "title": "Courrier PDF",
                    }
                },
                {"attachment": {"contentType": "application/pdf", "url": "Binary/scan-1", "title": "Scan"}},
                {"attachment": {"contentType": "application/pdf", "url": "Binary/scan-2", "title": "Radio"}},
            ],
        },
        {  # a file of alice's record (securityContext): hers to download
            "resourceType": "Binary",
            "id": "scan-2",
            "contentType": "application/pdf",
            "securityContext": _patient("alice"),
            "data": base64.b64encode(PDF).decode(),
        },
        {  # a file naming no patient: for system clients only
            "resourceType": "Binary",
            "id": "scan-1",
            "contentType": "application/pdf",
            "data": base64.b64encode(PDF).decode(),
        },
        {
            "resourceType": "DocumentReference",
            "id": "doc-bob",
            "status": "current",
            "subject": _patient("bob"),
            "description": "Lettre de Bob",
            "content": [{"attachment": {"contentType": "text/plain", "data": letter}}],
        },
        {
            "resourceType": "DocumentReference",
            "id": "doc-charlie",
            "status": "current",
            "subject": _patient("charlie"),
            "description": "Carnet de Charlie",
            "content": [{"attachment": {"contentType": "text/plain", "data": letter}}],
        },
        weight("w1", "alice", 72.5, ago(days=3)),
        weight("w2", "alice", 160, ago(days=2), unit="[lb_av]"),
        weight("w-bob", "bob", 99.0, ago(days=2)),
        {
            "resourceType": "Goal",
            "id": "goal-alice",
            "lifecycleStatus": "active",
            "description": {"text": "Poids"},
            "subject": _patient("alice"),
            "target": [
                {
                    "measure": {"coding": [{"system": LOINC, "code": "29463-7"}]},
                    "detailRange": {"low": {"value": 60, "code": "kg"}, "high": {"value": 75, "code": "kg"}},
                }
            ],
        },
        *alert("al-1", "alice", "spo2-low"),
        *alert("al-bob", "bob", "spo2-low"),
        {
            "resourceType": "Communication",
            "id": "com-1",
            "status": "completed",
            "subject": _patient("alice"),
            "sender": {"reference": "Practitioner/gp"},
            "recipient": [_patient("alice")],
            "sent": ago(days=1),
            "payload": [{"contentString": "Pensez à votre prise de sang."}],
        },
    ]


def ingest(
    inst: Installation, pid: str, kind: str, unit: str, values: list[float], *, start: datetime, period: int
) -> None:
    """Device samples through ``$ingest`` (the series format), as a device would send them."""
    body = {
        "kind": kind,
        "unit": unit,
        "device": {
            "model": "HYG-W1",
            "identifier": f"watch-{pid}",
            "name": "Montre connectée",
            "manufacturer": "Hygie",
        },
        "start": start.isoformat(),
        "period": period,
        "values": values,
    }
    headers = {**operator_header(inst.settings), "Content-Type": "application/json"}
    answer = inst.http.post(f"/fhir/Patient/{pid}/$ingest?format=series", json=body, headers=headers)
    assert answer.status_code == 200, answer.text[:400]


def seed(inst: Installation) -> None:
    put_resources(inst, *record())


def doctor(settings: Any) -> dict[str, str]:
    """drmartin's bearer token for the FHIR API (the GP of alice and charlie, in org1)."""
    principal = Principal(
        kind="professional",
        subject="drmartin",
        scopes=parse_scopes("user/*.cruds"),
        fhir_user="Practitioner/gp",
        organization="org1",
    )
    return token(settings, principal)


def words(page: str, element_id: str) -> str:
    """The text of an element, names isolated with ``<bdi>`` read as plain text."""
    return text_by_id(page.replace("<bdi>", "").replace("</bdi>", ""), element_id)
