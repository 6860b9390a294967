"""No patient data in logs: the redaction processor keeps only whitelisted fields."""

from __future__ import annotations

import pytest
import structlog

from hygie.logging import configure, redact


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


def test_a_logged_exception_shows_no_local_variables(capsys: pytest.CaptureFixture[str]) -> None:
    """The console's traceback is plain: the default (rich) one prints each frame's locals, where
    request bodies and patient names sit, past the redaction of the event's own fields."""
    configure("INFO", json=False)
    try:
        secret_body = {"name": "Bénédicte Dupré"}  # noqa: F841 - a local the traceback must not show
        raise ValueError("boom")
    except ValueError:
        structlog.get_logger("test").exception("page_failed")
    err = capsys.readouterr()
    printed = err.out + err.err
    assert "ValueError: boom" in printed and "page_failed" in printed
    assert "Dupré" not in printed and "secret_body" not in printed
