"""Helpers of the in-process web tests (both databases): a seeded installation with a movable
clock (tests/security/smart_support.py: patients alice — who acts for charlie — and bob, the GP
drmartin), signing in through the real forms, reading pages."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx2
import orjson

from hygie.settings import Settings
from hygie.storage.database import open_database
from tests.security.smart_support import Installation, hidden_fields, sign_in, submit
from tests.support import operator_header

__all__ = ["audit_events", "form_fields", "login", "post_form", "put_resources", "submit", "text_by_id"]


def put_resources(inst: Installation, *resources: dict[str, Any]) -> None:
    """Store resources (each with its ``id``) in one transaction, as an operator would: the data
    a page under test shows (patients ``alice``, ``charlie``, ``bob`` exist already)."""
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }
    headers = {**operator_header(inst.settings), "Content-Type": "application/fhir+json"}
    answer = inst.http.post("/fhir", json=bundle, headers=headers)
    assert answer.status_code == 200, answer.text[:500]


def login(inst: Installation, username: str, lang: str | None = None) -> httpx2.Response:
    """Sign in through ``/login`` (password, then TOTP or its enrolment); returns the last
    answer (a 303 to the home page, or the page the enrolment's "continue" link leads to)."""
    page = inst.http.get("/login" + (f"?lang={lang}" if lang else ""))
    assert page.status_code == 200, page.text[:300]
    return sign_in(inst, page.text, username)


def form_fields(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the form of ``page`` that posts to ``action``."""
    start = page.index(f'<form method="post" action="{action}"')
    return hidden_fields(page[start : page.index("</form>", start)])


def post_form(inst: Installation, page: str, action: str, **fields: str) -> httpx2.Response:
    """Post the form of ``page`` that goes to ``action``, with its hidden fields plus ``fields``."""
    return inst.http.post(action, data={**form_fields(page, action), **fields}, follow_redirects=False)


def text_by_id(page: str, element_id: str) -> str:
    """The text of the element with ``id`` (tags removed, whitespace collapsed)."""
    found = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', page, re.S)
    assert found is not None, f"no element {element_id}"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(2))).split())


def audit_events(settings: Settings) -> list[dict[str, Any]]:
    """Every AuditEvent of the ledger, oldest first (the trail is flushed when the app stops)."""
    db = open_database(settings.database_url)
    try:
        rows = db.run_sync(lambda s: s.all("SELECT body FROM audit_log ORDER BY seq"), write=False)
    finally:
        db.close()
    return [orjson.loads(bytes(body)) for (body,) in rows]
