"""Alerts as DetectedIssue + Task: valid R4, lifecycle statuses, priorities, and a lossless
round trip Task → Alert."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from hygie.fhir.validation import validate_resource
from hygie.monitoring.alert_fhir import alert_from_task, detected_issue, priority, task
from hygie.monitoring.alerts import Alert, acknowledge, resolve
from hygie.monitoring.rules import Finding

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
ALERT = Alert("a1", "spo2-low|p1", "spo2-low", "p1", "high", "raised", T0, T0 + timedelta(minutes=3))
FINDING = Finding(
    "spo2-low", "p1", "high", T0 - timedelta(minutes=10), {"fr": "SpO2 basse", "en": "Low SpO2"}, (), 89.0
)


def test_detected_issue_is_valid_and_says_what_was_found() -> None:
    issue = detected_issue(ALERT, FINDING, "fr", source="BTS 2017")
    assert validate_resource(issue) == []
    assert issue["severity"] == "high" and issue["patient"] == {"reference": "Patient/p1"}
    assert issue["detail"] == "SpO2 basse (valeur 89) — BTS 2017"
    assert issue["identifiedDateTime"] == "2026-11-20T07:50:00+00:00"
    assert detected_issue(ALERT, FINDING, "en")["detail"] == "Low SpO2 (value 89)"


@pytest.mark.parametrize(
    ("alert", "status"),
    [
        (ALERT, "requested"),
        (acknowledge(ALERT, "Practitioner/dr", T0 + timedelta(minutes=5)), "accepted"),
        (
            resolve(acknowledge(ALERT, "Practitioner/dr", T0), "Practitioner/dr", T0 + timedelta(hours=1)),
            "completed",
        ),
        (replace(ALERT, escalation=2, escalated_at=T0 + timedelta(minutes=30), cleared=True), "requested"),
    ],
)
def test_task_is_valid_and_round_trips(alert: Alert, status: str) -> None:
    resource = task(alert, "SpO2 basse")
    assert validate_resource(resource) == []
    assert resource["status"] == status
    assert resource["code"]["coding"][0]["code"] == "alert"
    assert alert_from_task(resource) == alert


@pytest.mark.parametrize(
    ("severity", "escalation", "expected"),
    [("low", 0, "routine"), ("moderate", 0, "urgent"), ("high", 0, "asap"), ("high", 1, "stat"),
     ("high", 5, "stat"), ("low", 2, "asap")],
)  # fmt: skip
def test_priority_rises_with_severity_and_escalation(severity: str, escalation: int, expected: str) -> None:
    assert priority(replace(ALERT, severity=severity, escalation=escalation)) == expected


def test_a_task_that_is_not_an_alert() -> None:
    with pytest.raises(ValueError):
        alert_from_task({"resourceType": "Task", "status": "requested", "intent": "order"})
