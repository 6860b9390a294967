"""Break-the-glass: opening, in an emergency, a record outside one's care relationships.

A professional who opens ``/workspace/patient/{id}`` for a patient the access policy does not
give them gets the page of :func:`offer` (status 404, as the API answers: it does not say whether
the patient exists). It explains what break-the-glass is and asks for a written justification
(mandatory, 15 to 1,000 characters) and a duration; the form posts (CSRF-checked) to
``/workspace/patient/{id}/break-glass``, which calls the API's
``POST Patient/[id]/$break-glass`` (hygie/api/operations/break_glass.py: a time-limited grant,
audited as a BALP "Emergency Override Started" event with purpose of use BTG and the
justification, and a notice in the patient's portal). The chart then opens with a visible
"emergency access" banner; every access during the grant is audited with purpose BTG.
"""

from __future__ import annotations

from starlette.responses import Response

from hygie.web.fhir import WebFhirError
from hygie.web.pages import Page, page
from hygie.web.workspace.view import valid_id

DURATIONS = ("60", "240", "720")  # minutes: 1 h, 4 h, 12 h (the API allows 1 to 720)
REASON = (15, 1000)


def offer(
    p: Page, pid: str, *, reason: str = "", minutes: str = "60", error: str | None = None, status: int = 404
) -> Response:
    """The explanation and the break-the-glass form for patient ``pid``."""
    return p.render(
        "workspace/breakglass.html",
        title="ws_btg_title",
        nav="workspace",
        status=status,
        pid=pid,
        reason=reason,
        minutes=minutes if minutes in DURATIONS else "60",
        durations=DURATIONS,
        error=error,
        limits=REASON,
    )


@page("/workspace/patient/{patient}/break-glass", who="professional", methods=["GET", "POST"])
async def break_glass(p: Page) -> Response:
    pid = str(p.request.path_params["patient"])
    if not valid_id(pid):
        return p.error(404)
    if p.request.method == "GET":
        return p.redirect(f"/workspace/patient/{pid}")
    reason = " ".join(p.form.get("reason").split())
    minutes = p.form.get("minutes", "60")
    if minutes not in DURATIONS:
        return offer(p, pid, reason=reason, error="ws_btg_duration_error", status=400)
    if not REASON[0] <= len(reason) <= REASON[1]:
        return offer(p, pid, reason=reason, minutes=minutes, error="ws_btg_reason_error", status=400)
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "reason", "valueString": reason},
            {"name": "minutes", "valueInteger": int(minutes)},
        ],
    }
    try:
        await p.fhir.operation(f"Patient/{pid}/$break-glass", parameters)
    except WebFhirError as failure:
        if failure.status == 400:
            return offer(p, pid, reason=reason, minutes=minutes, error="ws_btg_reason_error", status=400)
        if failure.status == 404:
            return p.error(404, "ws_btg_no_patient")
        raise
    return p.redirect(f"/workspace/patient/{pid}")


PAGES = [break_glass]
