"""``/workspace/patient/{id}/results``: laboratory results, by report.

``DiagnosticReport?patient=…&_sort=-date&_include=DiagnosticReport:result`` — the 12 latest
reports with their result Observations (https://hl7.org/fhir/R4/diagnosticreport.html): test,
value with its unit, reference range and interpretation (v3 ObservationInterpretation: ``H``,
``L``, ``HH``, ``LL``, ``N``, ``A``…; https://hl7.org/fhir/R4/valueset-observation-interpretation.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response

from hygie.web.fhir import resources
from hygie.web.pages import Page, page
from hygie.web.workspace.chart import ChartView, open_chart, render_chart
from hygie.web.workspace.view import concept_text, period_start, quantity, when

REPORTS = 12
FLAGS = {
    "H": "high",
    "HH": "high",
    "HU": "high",
    "L": "low",
    "LL": "low",
    "LU": "low",
    "N": "normal",
    "A": "abnormal",
    "AA": "abnormal",
}


@dataclass(frozen=True, slots=True)
class Result:
    test: str
    value: str
    range: str
    flag: str  # high | low | normal | abnormal | ''


@dataclass(frozen=True, slots=True)
class Report:
    id: str
    title: str
    when: str
    results: tuple[Result, ...]


def reference_range(obs: dict[str, Any], lang: str) -> str:
    for r in obs.get("referenceRange") or []:
        if not isinstance(r, dict):
            continue
        if r.get("text"):
            return str(r["text"])
        low, high = quantity(r.get("low"), lang), quantity(r.get("high"), lang)
        if low and high:
            return f"{low} – {high}"
        return f"≥ {low}" if low else (f"≤ {high}" if high else "")
    return ""


def flag(obs: dict[str, Any]) -> str:
    for concept in obs.get("interpretation") or []:
        for coding in (concept or {}).get("coding") or []:
            if coding.get("code") in FLAGS:
                return FLAGS[str(coding["code"])]
    return ""


def result(obs: dict[str, Any], lang: str) -> Result:
    value = quantity(obs.get("valueQuantity"), lang) or str(
        obs.get("valueString") or concept_text(obs.get("valueCodeableConcept")) or "—"
    )
    return Result(concept_text(obs.get("code")) or "—", value, reference_range(obs, lang) or "—", flag(obs))


@page("/workspace/patient/{patient}/results", who="professional")
async def chart_results(p: Page) -> Response:
    view = await open_chart(p, "results")
    if not isinstance(view, ChartView):
        return view
    bundle = await p.fhir.search(
        "DiagnosticReport",
        [
            ("patient", view.id),
            ("_sort", "-date"),
            ("_count", str(REPORTS)),
            ("_include", "DiagnosticReport:result"),
        ],
    )
    observations = {f"Observation/{o.get('id')}": o for o in resources(bundle, "include")}
    tz = ZoneInfo(p.settings.timezone)
    reports = []
    for report in resources(bundle):
        rows = tuple(
            result(observations[ref], p.lang)
            for ref in (str(r.get("reference")) for r in report.get("result") or [] if isinstance(r, dict))
            if ref in observations and observations[ref].get("status") != "entered-in-error"
        )
        reports.append(
            Report(
                str(report.get("id")),
                str((report.get("code") or {}).get("text") or ""),
                when(period_start(report, "effectiveDateTime", "effectivePeriod", "issued"), p.lang, tz),
                rows,
            )
        )
    return render_chart(p, view, "workspace/results.html", reports=reports)


PAGES = [chart_results]
