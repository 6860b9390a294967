"""The alert inbox of the worklist (both databases): what a professional sees, and acknowledge,
resolve and escalate through the pages — the Task changes, CSRF is required, hidden alerts stay
hidden."""

from __future__ import annotations

import re

import httpx2

from hygie.settings import Settings
from tests.security.smart_support import Installation, installation
from tests.web.support import form_fields, login, put_resources, text_by_id
from tests.web.workspace.support import alert, fhir_read

ACTION = "/workspace/alerts/al-alice"


def test_the_worklist_shows_my_patients_and_their_alerts_only(settings: Settings) -> None:
    with installation(settings) as inst:
        put_resources(inst, *alert("alice"), *alert("bob"))
        login(inst, "drmartin", lang="en")
        page = inst.http.get("/workspace")
        assert page.status_code == 200
        assert re.findall(r'id="alert-([^"]+)" aria-labelledby', page.text) == ["al-alice"]
        assert "SpO2 below 92 % for at least 10 minutes" in page.text  # the rule, in English
        assert text_by_id(page.text, "patients") == "My patients: 2"
        listed = re.findall(r'<a href="/workspace/patient/([^"]+)">', text_between(page.text, "patient-list"))
        assert sorted(listed) == ["alice", "charlie"]  # bob has another GP
        assert "High severity" in page.text and "Priority: as soon as possible" in page.text


def act(inst: Installation, page: str, what: str, **fields: str) -> httpx2.Response:
    """Post the alert form of ``page`` with the button ``what`` (acknowledge, resolve, escalate)."""
    return inst.http.post(
        ACTION, data={**form_fields(page, ACTION), "action": what, **fields}, follow_redirects=False
    )


def plain(page: str) -> str:
    return re.sub(r"<[^>]+>", "", page)


def text_between(page: str, element_id: str) -> str:
    start = page.index(f'id="{element_id}"')
    return page[start : page.index("</table>", start)]


def test_acknowledge_then_resolve_move_the_task_along(settings: Settings) -> None:
    with installation(settings) as inst:
        put_resources(inst, *alert("alice"))
        login(inst, "drmartin", lang="en")
        page = inst.http.get("/workspace").text
        answer = act(inst, page, "acknowledge", note="Called the patient, SpO2 recheck")
        assert (
            answer.status_code == 303 and answer.headers["location"] == "/workspace?done=acknowledge#alerts"
        )
        task = fhir_read(inst, "Task/al-alice")
        assert task["status"] == "accepted" and task["owner"] == {"reference": "Practitioner/gp"}
        assert task["note"][-1]["text"] == "Called the patient, SpO2 recheck"
        page = inst.http.get("/workspace?done=acknowledge").text
        assert text_by_id(page, "alert-done") == "Alert acknowledged."
        assert "Acknowledged by Martin on " in plain(page) and 'value="acknowledge"' not in page
        again = inst.http.post(ACTION, data={**form_fields(page, ACTION), "action": "acknowledge"})
        assert again.status_code == 409  # already acknowledged: the lifecycle refuses it
        done = act(inst, page, "resolve")
        assert done.status_code == 303
        assert fhir_read(inst, "Task/al-alice")["status"] == "completed"
        assert 'id="no-alerts"' in inst.http.get("/workspace").text


def test_escalate_raises_the_priority_one_step_until_immediate(settings: Settings) -> None:
    with installation(settings) as inst:
        put_resources(inst, *alert("alice", severity="moderate"))  # urgent
        login(inst, "drmartin", lang="en")
        page = inst.http.get("/workspace").text
        assert act(inst, page, "escalate").status_code == 303
        task = fhir_read(inst, "Task/al-alice")
        assert task["priority"] == "asap" and task["status"] == "requested"
        ext = {e["url"].rsplit("-", 1)[-1]: e for e in task["extension"]}
        assert ext["escalation"]["valueInteger"] == 1 and "valueDateTime" in ext["escalated"]
        assert task["note"][-1]["text"] == "Escalated from the workspace."
        assert task["note"][-1]["authorReference"] == {"reference": "Practitioner/gp"}
        # The page showed version 1: escalating from that stale page is refused, nothing changes.
        stale = act(inst, page, "escalate")
        assert stale.status_code == 409 and fhir_read(inst, "Task/al-alice")["priority"] == "asap"
        page = inst.http.get("/workspace").text
        assert "Escalated 1 times" in page
        assert act(inst, page, "escalate", note="Night doctor paged").status_code == 303
        task = fhir_read(inst, "Task/al-alice")
        assert task["priority"] == "stat" and task["note"][-1]["text"] == "Night doctor paged"
        page = inst.http.get("/workspace").text
        assert 'value="escalate"' not in page  # already at the highest priority
        refused = inst.http.post(ACTION, data={**form_fields(page, ACTION), "action": "escalate"})
        assert refused.status_code == 409 and "highest priority" in refused.text


def test_alert_actions_need_the_csrf_token_and_a_visible_alert(settings: Settings) -> None:
    with installation(settings) as inst:
        put_resources(inst, *alert("alice"), *alert("bob"))
        login(inst, "drmartin", lang="en")
        page = inst.http.get("/workspace").text
        fields = form_fields(page, ACTION)
        for bad in ({}, {"csrf": ""}, {"csrf": "x" * 43}):
            data = {**{k: v for k, v in fields.items() if k != "csrf"}, **bad, "action": "resolve"}
            assert inst.http.post(ACTION, data=data, follow_redirects=False).status_code == 403
        assert fhir_read(inst, "Task/al-alice")["status"] == "requested"
        wrong = inst.http.post(ACTION, data={**fields, "action": "delete"}, follow_redirects=False)
        assert wrong.status_code == 400
        hidden = inst.http.post("/workspace/alerts/al-bob", data={**fields, "action": "resolve"})
        assert hidden.status_code == 404  # bob is not drmartin's patient: as if absent
        assert fhir_read(inst, "Task/al-bob")["status"] == "requested"
        long_note = inst.http.post(ACTION, data={**fields, "action": "resolve", "note": "x" * 2001})
        assert long_note.status_code == 400 and fhir_read(inst, "Task/al-alice")["status"] == "requested"
        # The page the form goes back to is one of the workspace's, never another site.
        elsewhere = inst.http.post(
            ACTION,
            data={**fields, "action": "acknowledge", "back": "https://evil.example/"},
            follow_redirects=False,
        )
        assert elsewhere.headers["location"].startswith("/workspace?done=acknowledge")


def test_a_patient_cannot_use_the_workspace(settings: Settings) -> None:
    with installation(settings) as inst:
        put_resources(inst, *alert("alice"))
        login(inst, "alice")
        assert inst.http.get("/workspace").status_code == 403
        page = inst.http.get("/portal").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        answer = inst.http.post(ACTION, data={"csrf": csrf.group(1), "action": "resolve"})
        assert answer.status_code == 403 and fhir_read(inst, "Task/al-alice")["status"] == "requested"
