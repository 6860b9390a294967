"""Break-the-glass from the workspace (both databases): a record outside one's care is a 404 page
that explains and offers emergency access; a written justification is required (CSRF-checked
form); then the chart opens with a visible "emergency access" banner, the grant is audited with
purpose BTG and the justification, and the patient is told."""

from __future__ import annotations

import re
from typing import Any

import orjson

from hygie.api.http import FhirApi
from hygie.settings import Settings
from hygie.web.fhir import WebFhir
from hygie.web.session import SESSION_COOKIE, signed_in, web_principal
from tests.security.smart_support import Installation, installation
from tests.web.support import audit_events, form_fields, login, put_resources, text_by_id
from tests.web.workspace.support import fhir_read

BTG = "/workspace/patient/bob/break-glass"
REASON = "Patient brought unconscious to the emergency room, GP unreachable"


def test_a_record_outside_my_care_offers_break_the_glass(settings: Settings) -> None:
    with installation(settings) as inst:
        put_resources(inst, {"resourceType": "Patient", "id": "bob", "name": [{"family": "Secret"}]})
        login(inst, "drmartin", lang="en")
        page = inst.http.get("/workspace/patient/bob")
        assert page.status_code == 404  # as the API: nothing says whether bob exists
        assert "Secret" not in page.text and "Record bob is not among the patients in your care" in page.text
        assert 'action="/workspace/patient/bob/break-glass"' in page.text
        for tab in ("vitals", "glucose", "results", "timeline"):
            assert inst.http.get(f"/workspace/patient/bob/{tab}").status_code == 404
        assert "bob" not in re.findall(r'/workspace/patient/([^"/]+)"', inst.http.get("/workspace").text)
        fields = form_fields(page.text, BTG)
        for reason in ("", "too short", "x" * 1001):
            refused = inst.http.post(BTG, data={**fields, "reason": reason, "minutes": "60"})
            assert refused.status_code == 400 and 'id="reason-error"' in refused.text
        wrong = inst.http.post(BTG, data={**fields, "reason": REASON, "minutes": "100000"})
        assert wrong.status_code == 400
        forged = inst.http.post(BTG, data={"reason": REASON, "minutes": "60"})
        assert forged.status_code == 403  # no CSRF token
        assert inst.http.get("/workspace/patient/bob").status_code == 404  # still closed
        assert inst.http.get(BTG, follow_redirects=False).headers["location"] == "/workspace/patient/bob"
        opened = inst.http.post(
            BTG, data={**fields, "reason": REASON, "minutes": "60"}, follow_redirects=False
        )
        assert opened.status_code == 303 and opened.headers["location"] == "/workspace/patient/bob"
        chart = inst.http.get("/workspace/patient/bob")
        assert chart.status_code == 200 and text_by_id(chart.text, "patient-name") == "Secret"
        banner = text_by_id(chart.text, "emergency-banner")
        assert banner.startswith("Emergency access (break the glass). This record is not in your care;")
        assert "you have access until" in banner
        worklist = inst.http.get("/workspace").text
        assert "Emergency access" in worklist and 'href="/workspace/patient/bob"' in worklist
        notices = fhir_read(inst, "Communication?recipient=Patient/bob")["entry"]
        assert REASON in notices[0]["resource"]["payload"][0]["contentString"]
    events = audit_events(settings)
    override = [e for e in events if any(s.get("code") == "110127" for s in e.get("subtype", []))]
    assert len(override) == 1
    text = orjson.dumps(override[0]).decode()
    assert "BTG" in text and REASON in text and "hygie-web" in text


def test_an_unknown_record_cannot_be_opened(settings: Settings) -> None:
    with installation(settings) as inst:
        login(inst, "drmartin", lang="en")
        page = inst.http.get("/workspace/patient/nobody")
        assert page.status_code == 404
        fields = form_fields(page.text, "/workspace/patient/nobody/break-glass")
        answer = inst.http.post("/workspace/patient/nobody/break-glass", data={**fields, "reason": REASON})
        assert answer.status_code == 404 and "No record has this number." in answer.text
        assert inst.http.get("/workspace/patient/..%2Fetc").status_code == 404


def _fhir(inst: Installation) -> WebFhir:
    api: FhirApi = inst.http.app.state.fhir_api  # type: ignore[attr-defined]
    cookie = inst.http.cookies[SESSION_COOKIE]

    async def who() -> Any:
        return await signed_in(api.db, cookie, now_ms=int(inst.clock.now * 1000), hours=4)

    portal = inst.http.portal
    assert portal is not None
    found = portal.call(who)
    return WebFhir(api, web_principal(found, None))


def test_the_banner_shows_a_grant_made_elsewhere(settings: Settings) -> None:
    """A grant obtained through the API (another application, another server process) is shown
    too: the record is visible but outside every care relationship."""
    with installation(settings) as inst:
        login(inst, "drmartin", lang="en")
        fhir = _fhir(inst)
        body = {"resourceType": "Parameters", "parameter": [{"name": "reason", "valueString": REASON}]}
        portal = inst.http.portal
        assert portal is not None
        portal.call(lambda: fhir.operation("Patient/bob/$break-glass", body))
        chart = inst.http.get("/workspace/patient/bob")
        assert chart.status_code == 200
        assert "you have access until" in text_by_id(chart.text, "emergency-banner")  # its end too
        assert "Emergency access" in text_by_id(inst.http.get("/workspace").text, "patient-list")
        mine = inst.http.get("/workspace/patient/alice")  # her GP: no banner
        assert mine.status_code == 200 and 'id="emergency-banner"' not in mine.text
