"""Sign-ins, failed sign-ins and sign-outs are audited (BALP login events, DICOM 110114)."""

from __future__ import annotations

from typing import Any

import orjson

from hygie.settings import Settings
from hygie.storage.database import open_database
from tests.security.smart_support import installation, sign_in, submit


def _events(settings: Settings) -> list[dict[str, Any]]:
    db = open_database(settings.database_url)
    try:
        rows = db.run_sync(lambda s: s.all("SELECT body FROM audit_log ORDER BY seq"), write=False)
    finally:
        db.close()
    return [orjson.loads(bytes(body)) for (body,) in rows]


def _logins(events: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    return [e for e in events if any(s.get("code") == code for s in e.get("subtype", []))]


def test_sign_in_events(settings: Settings) -> None:
    with installation(settings) as inst:
        page = inst.http.get("/login").text
        refused = submit(inst.http, page, username="alice", password="wrong password 123")
        assert refused.status_code in (400, 401, 403)
        page = inst.http.get("/login").text
        assert sign_in(inst, page, "alice").status_code in (200, 303)
        signed = inst.http.get("/logout").text
        assert submit(inst.http, signed).status_code == 200
    events = _events(settings)
    logins, logouts = _logins(events, "110122"), _logins(events, "110123")
    assert [e["outcome"] for e in logins] == ["4", "0"]  # the failure, then the success
    assert len(logouts) == 1
    for event in (*logins, *logouts):
        text = orjson.dumps(event).decode()
        assert "alice" in text  # who tried, by username or Patient reference
        assert "wrong password" not in text  # never the secret
