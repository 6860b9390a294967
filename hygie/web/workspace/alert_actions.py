"""``POST /workspace/alerts/{task}``: acknowledge, resolve or escalate a monitoring alert.

- **acknowledge** / **resolve** call the monitoring operations ``POST Task/[id]/$acknowledge``
  and ``$resolve`` (docs/monitoring.md), which keep the lifecycle valid (409 otherwise) and the
  optional note on the Task.
- **escalate**: the API has no escalate operation (the rounds escalate an alert nobody
  acknowledged, docs/monitoring.md "Alert lifecycle"). An explicit escalation does what an
  automatic one does — the escalation count +1, its time, and the Task ``priority`` one step up
  (routine → urgent → asap → stat, :func:`hygie.monitoring.alert_fhir.priority`) — through an
  ordinary FHIR update of the Task (https://hl7.org/fhir/R4/http.html#update) sent in a
  transaction with ``ifMatch`` on the version the page showed, so that an alert that changed
  meanwhile is not overwritten (412 → the "changed meanwhile" page). The note (or, without one,
  "escalated from the workspace") is kept on the Task with its author. An alert already at
  ``stat`` cannot go higher (409).

The answer is a ``303`` back to the page the form came from (the worklist or the patient's
chart), which shows what was done.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.responses import Response

from hygie.monitoring.alert_fhir import PRIORITIES, alert_from_task, priority, task
from hygie.web.fhir import WebFhirError, body_of
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
    current = await p.fhir.get(f"Task/{task_id}")
    try:
        alert = alert_from_task(current)
    except (ValueError, KeyError, StopIteration, TypeError):
        return p.error(400)
    seen = str((current.get("meta") or {}).get("versionId", ""))
    if not alert.open or (version and version != seen):
        return p.error(409, "ws_alert_changed")
    if priority(alert) == PRIORITIES[-1]:
        return p.error(409, "ws_escalate_highest")
    now = datetime.now(UTC).replace(microsecond=0)
    moved = replace(alert, escalation=alert.escalation + 1, escalated_at=now)
    updated = task(moved, str(current.get("description") or ""))
    entry: dict[str, Any] = {"text": note or p.t("ws_escalated_note"), "time": now.isoformat()}
    if p.principal.fhir_user:
        entry["authorReference"] = {"reference": p.principal.fhir_user}
    updated["note"] = [*(current.get("note") or []), entry]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": updated,
                "request": {"method": "PUT", "url": f"Task/{task_id}", "ifMatch": f'W/"{seen}"'},
            }
        ],
    }
    answer = await p.fhir.raw("POST", "", body=orjson.dumps(bundle))
    if answer.status_code >= 400:
        raw = await body_of(answer)
        outcome = orjson.loads(raw) if raw.strip() else {}
        raise WebFhirError(answer.status_code, outcome if isinstance(outcome, dict) else None)
    return None


PAGES = [alert_action]
