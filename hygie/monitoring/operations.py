"""Alert inbox operations: ``POST [base]/Task/[id]/$acknowledge``, ``$resolve`` and ``$escalate``.

The inbox itself is a plain FHIR search — ``GET [base]/Task?code=https://hygie.health/fhir/CodeSystem/monitoring|alert&status=requested,accepted``
(add ``patient``, ``_sort=-priority``…) — under the caller's access policy like any search. These
operations move an alert along its lifecycle (:mod:`hygie.monitoring.alerts`), so that the
transitions stay valid (a resolved alert cannot be acknowledged) and the escalation stops;
``$escalate`` does by hand what the rounds do when nobody acknowledges an open alert (escalation
+ 1, the priority one step up; 409 at ``stat``). An ``If-Match`` header (``W/"version"``) makes
the transition conditional on the version the caller saw (412 otherwise). the
caller must be allowed to read and update the Task (a professional caring for the patient); an
alert they cannot see answers 404 like an absent one. The answer is the updated Task. Optional
body: a Parameters resource with a ``note`` (valueString) kept on the Task.
Operations framework: https://hl7.org/fhir/R4/operations.html.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from hygie.api.checks import parse_etag
from hygie.api.http import FhirApi, OperationCall, OperationHandler, parse_json
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.monitoring.alert_fhir import alert_from_task, escalate, task
from hygie.monitoring.alerts import Alert, acknowledge, resolve
from hygie.monitoring.cgm_op import cgm_operation
from hygie.monitoring.ingest_op import ingest_operation
from hygie.monitoring.samples_op import samples_operation
from hygie.monitoring.service import Monitor

register(
    {
        "alert_not_an_alert": {
            "fr": "Cette tâche n'est pas une alerte de télésurveillance.",
            "en": "This Task is not a monitoring alert.",
        },
        "alert_transition": {
            "fr": "Transition impossible : {reason}.",
            "en": "Transition not allowed: {reason}.",
        },
        "alert_note": {
            "fr": "Le corps doit être une ressource Parameters avec au plus une note (valueString).",
            "en": "The body must be a Parameters resource with at most one note (valueString).",
        },
    }
)
Transition = Callable[[Alert, str, datetime], Alert]


def _note(raw: bytes, depth: int) -> str | None:
    if not raw.strip():
        return None
    body = parse_json(raw, depth)
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise FhirError.of(400, "invalid", "alert_note")
    notes = [p for p in body.get("parameter") or [] if isinstance(p, dict) and p.get("name") == "note"]
    others = [p for p in body.get("parameter") or [] if not (isinstance(p, dict) and p.get("name") == "note")]
    if others or len(notes) > 1 or (notes and not isinstance(notes[0].get("valueString"), str)):
        raise FhirError.of(400, "invalid", "alert_note")
    return str(notes[0]["valueString"])[:2000] if notes else None


def _transition(step: Transition) -> OperationHandler:
    async def handler(call: OperationCall) -> Response:
        if call.req.method != "POST":
            raise FhirError.of(405, "not-supported", "method_not_allowed", method=call.req.method[:16])
        note = _note(await call.read_body(), call.api.settings.max_json_depth)
        principal = call.principal
        who = (principal.fhir_user if principal else None) or ""
        now = datetime.now(UTC).replace(microsecond=0)
        assert call.req.id is not None

        if_match = call.request.headers.get("if-match")
        expected = parse_etag(if_match) if if_match is not None else None  # 400 when malformed

        def work(session: Any) -> bytes:
            env = call.env(session)
            current = env.store.read("Task", call.req.id or "", for_update=True)
            if current is None or current.deleted:
                raise FhirError.of(404, "not-found", "not_found", type="Task", id=call.req.id)
            if expected is not None and expected != current.vid:
                raise FhirError.of(
                    412, "conflict", "version_conflict", expected=expected, current=current.vid
                )
            resource = current.resource()
            try:
                alert = alert_from_task(resource)
            except (ValueError, KeyError, StopIteration) as exc:
                raise FhirError.of(422, "business-rule", "alert_not_an_alert") from exc
            try:
                moved = step(alert, who, now)
            except ValueError as exc:
                raise FhirError.of(409, "business-rule", "alert_transition", reason=str(exc)) from exc
            updated = task(moved, resource.get("description", ""))
            notes = list(resource.get("note") or [])
            if note:
                entry: dict[str, Any] = {"text": note, "time": now.isoformat()}
                if who:
                    entry["authorReference"] = {"reference": who}
                notes.append(entry)
            if notes:
                updated["note"] = notes
            version = env.store.update(current, updated)
            env.touched.append(version)
            return version.body or b""

        body = await call.api.db.run(work)
        return Response(body, status_code=200, media_type="application/fhir+json")

    return handler


def operations(monitor: Monitor | None = None) -> dict[str, OperationHandler]:
    """Operation key → handler (wired by the composition root); ``$ingest`` tells ``monitor``
    of the patients that got data."""
    return {
        "instance:Task:$acknowledge": _transition(acknowledge),
        "instance:Task:$resolve": _transition(resolve),
        "instance:Task:$escalate": _transition(escalate),
        "instance:Patient:$samples": samples_operation,
        "instance:Patient:$cgm-metrics": cgm_operation,
        "instance:Patient:$ingest": ingest_operation(monitor.touch if monitor is not None else None),
    }


def start(api: FhirApi) -> Monitor | None:
    """Start the monitoring rounds (``HYGIE_MONITORING_INTERVAL_SECONDS``; 0: none)."""
    interval = api.settings.monitoring_interval_seconds
    if interval <= 0:
        return None
    base = (api.settings.base_url or "http://localhost").rstrip("/") + "/fhir"
    monitor = Monitor(run=api.db.run, make_env=lambda s: api._env(s, base, api.settings.default_language),
                      interval=interval)  # fmt: skip
    monitor.start()
    return monitor


async def close(monitor: Monitor | None) -> None:
    """Stop the monitoring rounds."""
    if monitor is not None:
        await monitor.close()
