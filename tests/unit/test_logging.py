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
