"""Monitoring alerts as FHIR R4: a DetectedIssue (what was found) and a Task (who handles it).

- **DetectedIssue** (https://hl7.org/fhir/R4/detectedissue.html) records the finding: the rule as
  ``code``, ``severity``, the ``patient``, when the condition began (``identifiedDateTime``)
  and the rule's text and source as ``detail``.
- **Task** (https://hl7.org/fhir/R4/task.html) carries the lifecycle, which Task models natively:
  raised = ``requested``, acknowledged = ``accepted`` (``owner`` the professional), resolved =
  ``completed`` (``executionPeriod.end``); ``priority`` rises with severity and each escalation
  (routine → urgent → asap → stat); ``focus`` is the DetectedIssue, ``for`` the patient, ``code``
  ``https://hygie.health/fhir/CodeSystem/monitoring|alert`` (the monitoring-alert Subscription
  topic and the workspace inbox search on it), ``identifier`` the deduplication key.
  Escalation count, last escalation, last time seen and the "cleared" mark are extensions.

Flag and Communication were considered: a Flag has no workflow (acknowledge/assign), a
Communication is a message, not a state — deliveries use Subscriptions on the Task.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from hygie.monitoring.alerts import Alert
from hygie.monitoring.rules import Finding

SYSTEM = "https://hygie.health/fhir/CodeSystem/monitoring"
RULES = "https://hygie.health/fhir/CodeSystem/monitoring-rule"
KEY = "https://hygie.health/fhir/NamingSystem/monitoring-alert"
EXT = "https://hygie.health/fhir/StructureDefinition/monitoring-alert-"
ALERT_CODE = {"coding": [{"system": SYSTEM, "code": "alert", "display": "Monitoring alert"}]}
STATUS = {"raised": "requested", "acknowledged": "accepted", "resolved": "completed"}
PRIORITIES = ("routine", "urgent", "asap", "stat")
BASE_PRIORITY = {"low": 0, "moderate": 1, "high": 2}


def instant(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def priority(alert: Alert) -> str:
    """Severity sets the start (low routine, moderate urgent, high asap); each escalation +1."""
    return PRIORITIES[min(BASE_PRIORITY[alert.severity] + alert.escalation, len(PRIORITIES) - 1)]


def escalate(alert: Alert, by: str, now: datetime) -> Alert:
    """A professional escalates an open alert by hand: what the rounds do when nobody acknowledges
    it in time (escalation + 1, its time; the priority one step up), up to the highest priority."""
    if not alert.open:
        raise ValueError(f"only an open alert can be escalated (this one is {alert.status})")
    if priority(alert) == PRIORITIES[-1]:
        raise ValueError(f"the alert is at the highest priority already ({PRIORITIES[-1]})")
    return replace(alert, escalation=alert.escalation + 1, escalated_at=now)


def detected_issue(alert: Alert, finding: Finding, lang: str = "fr", source: str = "") -> dict[str, Any]:
    """The finding behind an alert (written once, when the alert is raised)."""
    detail = finding.text.get(lang, finding.text["en"])
    if finding.value is not None:
        detail += f" (valeur {finding.value:g})" if lang == "fr" else f" (value {finding.value:g})"
    if source:
        detail += f" — {source}"
    return {
        "resourceType": "DetectedIssue",
        "id": alert.id,
        "status": "final",
        "code": {"coding": [{"system": RULES, "code": finding.rule}], "text": finding.text.get(lang, "")},
        "severity": finding.severity,
        "patient": {"reference": f"Patient/{finding.patient}"},
        "identifiedDateTime": instant(finding.since),
        "detail": detail,
    }


def task(alert: Alert, description: str) -> dict[str, Any]:
    """The alert's current state as a Task."""
    out: dict[str, Any] = {
        "resourceType": "Task",
        "id": alert.id,
        "identifier": [{"system": KEY, "value": alert.key}],
        "status": STATUS[alert.status],
        "intent": "order",
        "priority": priority(alert),
        "code": ALERT_CODE,
        "description": description,
        "focus": {"reference": f"DetectedIssue/{alert.id}"},
        "for": {"reference": f"Patient/{alert.patient}"},
        "authoredOn": instant(alert.raised_at),
        "lastModified": instant(max(t for t in _times(alert))),
        "reasonCode": {"coding": [{"system": RULES, "code": alert.rule}]},
        "executionPeriod": {"start": instant(alert.raised_at)},
        "extension": [
            {"url": EXT + "severity", "valueCode": alert.severity},
            {"url": EXT + "seen", "valueDateTime": instant(alert.seen_at)},
            {"url": EXT + "escalation", "valueInteger": alert.escalation},
            {"url": EXT + "cleared", "valueBoolean": alert.cleared},
        ],
    }
    if alert.escalated_at is not None:
        out["extension"].append({"url": EXT + "escalated", "valueDateTime": instant(alert.escalated_at)})
    if alert.acknowledged_by:
        out["owner"] = {"reference": alert.acknowledged_by}
    if alert.acknowledged_at is not None:
        out["extension"].append(
            {"url": EXT + "acknowledged", "valueDateTime": instant(alert.acknowledged_at)}
        )
    if alert.resolved_at is not None:
        out["executionPeriod"]["end"] = instant(alert.resolved_at)
    if alert.resolved_by:
        out["extension"].append(
            {"url": EXT + "resolved-by", "valueReference": {"reference": alert.resolved_by}}
        )
    return out


def _times(alert: Alert) -> list[datetime]:
    return [
        t
        for t in (
            alert.raised_at,
            alert.seen_at,
            alert.escalated_at,
            alert.acknowledged_at,
            alert.resolved_at,
        )
        if t is not None
    ]


def alert_from_task(resource: dict[str, Any]) -> Alert:
    """An Alert back from its Task (ValueError when the Task is not a monitoring alert)."""
    codes = {(c.get("system"), c.get("code")) for c in (resource.get("code") or {}).get("coding") or []}
    if (SYSTEM, "alert") not in codes:
        raise ValueError("not a monitoring alert Task")
    ext = {
        e["url"].removeprefix(EXT): e
        for e in resource.get("extension") or []
        if e.get("url", "").startswith(EXT)
    }
    status = {v: k for k, v in STATUS.items()}.get(resource.get("status", ""))
    if status is None:
        raise ValueError(f"unexpected Task status {resource.get('status')!r}")
    key = next(i["value"] for i in resource.get("identifier") or [] if i.get("system") == KEY)
    rule = next(c["code"] for c in resource["reasonCode"]["coding"] if c.get("system") == RULES)
    owner = (resource.get("owner") or {}).get("reference")
    return Alert(
        id=resource["id"],
        key=key,
        rule=rule,
        patient=resource["for"]["reference"].removeprefix("Patient/"),
        severity=ext["severity"]["valueCode"],
        status=status,  # type: ignore[arg-type]
        raised_at=_parse(resource["authoredOn"]),
        seen_at=_parse(ext["seen"]["valueDateTime"]),
        escalation=int(ext["escalation"]["valueInteger"]),
        escalated_at=_parse(ext["escalated"]["valueDateTime"]) if "escalated" in ext else None,
        acknowledged_at=_parse(ext["acknowledged"]["valueDateTime"]) if "acknowledged" in ext else None,
        acknowledged_by=owner,
        resolved_at=_parse(resource["executionPeriod"]["end"])
        if "end" in resource.get("executionPeriod", {})
        else None,
        resolved_by=ext["resolved-by"]["valueReference"]["reference"] if "resolved-by" in ext else None,
        cleared=bool(ext["cleared"]["valueBoolean"]),
    )


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
