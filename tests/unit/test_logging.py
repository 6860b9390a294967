"""No patient data in logs: the redaction processor keeps only whitelisted fields."""

from __future__ import annotations

from hygie.logging import redact


def test_unknown_fields_are_redacted() -> None:
    event = {"event": "created", "status": 201, "name": "Bénédicte Dupré", "body": "{...}", "path": "/fhir"}
    out = redact(None, "info", dict(event))
    assert out["name"] == "[redacted]"
    assert out["body"] == "[redacted]"
    assert out["status"] == 201
    assert out["event"] == "created"


def test_operational_fields_without_personal_data_are_kept() -> None:
    """What an operator needs to act on a log line, none of it about a person: an alert's severity
    and escalation level, a Bulk Data job's random id, whether a check passed. Resource ids
    (an alert's Task, a Goal in a rule id) and free-text reasons stay redacted."""
    event = {"event": "alert_raised", "severity": "high", "escalation": 2, "job": "ab12", "ok": True,
             "alert": "Task/x", "rule": "goal-g1-0-low", "reason": "Mme Dupré"}  # fmt: skip
    out = redact(None, "info", dict(event))
    assert (out["severity"], out["escalation"], out["job"], out["ok"]) == ("high", 2, "ab12", True)
    assert out["alert"] == out["rule"] == out["reason"] == "[redacted]"
