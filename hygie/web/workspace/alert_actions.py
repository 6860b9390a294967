"""``POST /workspace/alerts/{task}``: acknowledge, resolve or escalate a monitoring alert.

- **acknowledge** / **resolve** call the monitoring operations ``POST Task/[id]/$acknowledge``
  and ``$resolve`` (docs/monitoring.md), which keep the lifecycle valid (409 otherwise) and the
  optional note on the Task.
- **escalate** calls ``POST Task/[id]/$escalate`` (docs/monitoring.md): what the rounds do when
  nobody acknowledges an alert — the escalation count +1, its time, and the Task ``priority`` one
  step up (routine → urgent → asap → stat) — with ``If-Match`` on the version the page showed, so
  that an alert that changed meanwhile is not overwritten (412 → the "changed meanwhile" page).
  The note (or, without one, "escalated from the workspace") is kept on the Task with its author.
  An alert already at ``stat`` cannot go higher (409, said so).

The answer is a ``303`` back to the page the form came from (the worklist or the patient's
chart), which shows what was done.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response

from hygie.api.checks import is_count
from hygie.monitoring.alert_fhir import PRIORITIES
from hygie.web.fhir import WebFhirError
from hygie.web.pages import Page, page
from hygie.web.workspace.view import valid_id

ACTIONS = ("acknowledge", "resolve", "escalate")
BACK = re.compile(r"^/workspace(/patient/[A-Za-z0-9\-.]{1,64})?$")
MAX_NOTE = 2000


@page("/workspace/alerts/{task}", who="professional", methods=["POST"])
async def alert_action(p: Page) -> Response:
    task_id = str(p.request.path_params["task"])
    action = p.form.get("action")
    note = p.form.get("note").strip()
    back = p.form.get("back")
    back = back if BACK.match(back) else "/workspace"
    if not valid_id(task_id) or action not in ACTIONS:
        return p.error(400)
    if len(note) > MAX_NOTE:
        return p.error(400, "ws_note_too_long")
    try:
        if action == "escalate":
            failure = await escalate(p, task_id, p.form.get("version"), note)
            if failure is not None:
                return failure
        else:
            body: dict[str, Any] = {"resourceType": "Parameters"}
            if note:
                body["parameter"] = [{"name": "note", "valueString": note}]
            await p.fhir.operation(f"Task/{task_id}/${action}", body)
    except WebFhirError as error:
        if error.status in (409, 412):
            return p.error(409, "ws_alert_changed")
        if error.status == 422:
            return p.error(400)
        raise
    return p.redirect(f"{back}?done={action}#alerts")


async def escalate(p: Page, task_id: str, version: str, note: str) -> Response | None:
    """``POST Task/[id]/$escalate`` with the note (or "escalated from the workspace") under
    ``If-Match`` on the version the page showed; an alert already at the highest priority gets its
    own page (the API would answer 409 too)."""
    if version and not is_count(version):
        return p.error(400)
    current = await p.fhir.get(f"Task/{task_id}")
    if current.get("priority") == PRIORITIES[-1]:
        return p.error(409, "ws_escalate_highest")
    text = note or p.t("ws_escalated_note")
    body = {"resourceType": "Parameters", "parameter": [{"name": "note", "valueString": text}]}
    await p.fhir.operation(f"Task/{task_id}/$escalate", body, if_match=version or None)
    return None


PAGES = [alert_action]
