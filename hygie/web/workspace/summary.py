"""``/workspace/patient/{id}``: the chart's summary — the patient's open alerts (with their
actions), the latest NEWS2, problems, treatments, allergies and vaccinations.

Resources: Condition (https://hl7.org/fhir/R4/condition.html), MedicationRequest and
MedicationStatement (active treatments), AllergyIntolerance (in the banner, detailed here),
Immunization, and the stored NEWS2 score Observations (SNOMED CT 1104051000000101,
docs/monitoring.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response

from hygie.web.fhir import resources
from hygie.web.pages import Page, page
from hygie.web.workspace.alert_actions import ACTIONS
from hygie.web.workspace.alerts import AlertRow, open_alerts
from hygie.web.workspace.chart import ChartView, open_chart, render_chart
from hygie.web.workspace.sparks import add_sparklines
from hygie.web.workspace.view import concept_text, day_of, period_start, sort_key, when

NEWS2 = "http://snomed.info/sct|1104051000000101"
CLINICAL = ("active", "recurrence", "relapse", "inactive", "remission", "resolved")
IMMUNIZATION = ("completed", "not-done")


@dataclass(frozen=True, slots=True)
class Line:
    """One row of a summary table: what, its status or detail, and when."""

    text: str
    detail: str
    when: str
    sort: str = ""


def _code(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    return str(codings[0].get("code", "")) if codings else ""


def _known(code: str, known: tuple[str, ...]) -> str:
    return code if code in known else ""


def medication(resource: dict[str, Any]) -> str:
    return concept_text(resource.get("medicationCodeableConcept")) or str(
        (resource.get("medicationReference") or {}).get("display") or "—"
    )


def dosage(resource: dict[str, Any]) -> str:
    found = resource.get("dosageInstruction") or resource.get("dosage") or []
    return "; ".join(str(d.get("text")) for d in found if isinstance(d, dict) and d.get("text"))


async def summary_lists(p: Page, pid: str) -> dict[str, Any]:
    tz = ZoneInfo(p.settings.timezone)
    found = await asyncio.gather(
        p.fhir.search("Condition", [("patient", pid), ("_count", "200")]),
        p.fhir.search("MedicationRequest", [("patient", pid), ("status", "active"), ("_count", "200")]),
        p.fhir.search("MedicationStatement", [("patient", pid), ("status", "active"), ("_count", "200")]),
        p.fhir.search("Immunization", [("patient", pid), ("_sort", "-date"), ("_count", "50")]),
        p.fhir.search(
            "Observation", [("patient", pid), ("code", NEWS2), ("_sort", "-date"), ("_count", "1")]
        ),
    )
    conditions, requests, statements, shots, latest = (resources(b) for b in found)
    problems = sorted(
        (
            Line(
                concept_text(c.get("code")) or "—",
                _known(_code(c.get("clinicalStatus")), CLINICAL),
                day_of(period_start(c, "onsetDateTime", "onsetPeriod", "recordedDate"), p.lang, tz),
                sort_key(period_start(c, "onsetDateTime", "onsetPeriod", "recordedDate")),
            )
            for c in conditions
            if _code(c.get("verificationStatus")) not in ("refuted", "entered-in-error")
        ),
        key=lambda line: (line.detail not in ("active", "recurrence", "relapse", ""), line.sort),
    )
    ordered = {f"MedicationRequest/{r.get('id')}" for r in requests}
    treatments = [
        Line(medication(r), dosage(r), day_of(r.get("authoredOn"), p.lang, tz)) for r in requests
    ] + [
        Line(
            medication(s),
            dosage(s),
            day_of(period_start(s, "effectiveDateTime", "effectivePeriod"), p.lang, tz),
        )
        for s in statements
        if not any(b.get("reference") in ordered for b in s.get("basedOn") or [])
    ]
    vaccinations = [
        Line(
            concept_text(i.get("vaccineCode")) or "—",
            _known(str(i.get("status", "")), IMMUNIZATION),
            day_of(i.get("occurrenceDateTime"), p.lang, tz),
        )
        for i in shots
        if i.get("status") != "entered-in-error"
    ]
    news2 = None
    if latest and isinstance((latest[0].get("valueQuantity") or {}).get("value"), int | float):
        obs = latest[0]
        risk = next((concept_text(c) for c in obs.get("interpretation") or []), "")
        risk_code = next((_code(c) for c in obs.get("interpretation") or []), "")
        news2 = {
            "score": int(obs["valueQuantity"]["value"]),
            "risk": risk_code,
            "risk_text": risk,
            "when": when(obs.get("effectiveDateTime"), p.lang, tz),
        }
    return {"problems": problems, "treatments": treatments, "vaccinations": vaccinations, "news2": news2}


@page("/workspace/patient/{patient}", who="professional")
async def chart_summary(p: Page) -> Response:
    view = await open_chart(p, "summary")
    if not isinstance(view, ChartView):
        return view
    alerts, lists = await asyncio.gather(alerts_of(p, view.id), summary_lists(p, view.id))
    done = p.request.query_params.get("done")
    return render_chart(
        p, view, "workspace/summary.html", alerts=alerts, done=done if done in ACTIONS else None, **lists
    )


async def alerts_of(p: Page, pid: str) -> list[AlertRow]:
    """The patient's open alerts with their sparklines."""
    alerts = await open_alerts(p, pid)
    await add_sparklines(p, alerts)
    return alerts


PAGES = [chart_summary]
