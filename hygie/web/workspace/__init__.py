"""The clinician workspace (``/workspace/…``): every page of it is listed in :data:`PAGES`.

- ``/workspace`` — the worklist: the monitoring alert inbox and my patients (home.py);
- ``POST /workspace/alerts/{task}`` — acknowledge, resolve, escalate an alert (alert_actions.py);
- ``/workspace/search`` — find a patient (POST: the terms stay out of URLs), ``POST
  /workspace/open`` — open a record by its number (search.py);
- ``/workspace/patient/{id}`` — the chart: summary, ``/vitals``, ``/glucose``, ``/results``,
  ``/timeline`` (+ ``/document/{doc}``), with the banner of chart.py;
- ``/workspace/patient/{id}/prescription`` — prescribing with the medication-safety checks
  (prescription.py, prescribing.py); ``…/prescription/{number}`` a signed prescription to print
  (prescription_print.py);
- ``POST /workspace/patient/{id}/break-glass`` — emergency access (breakglass.py).

See docs/web.md "Clinician workspace".
"""

from __future__ import annotations

from hygie.web.pages import PageRoute
from hygie.web.workspace import (
    alert_actions,
    breakglass,
    glucose,
    home,
    prescription,
    prescription_print,
    results,
    search,
    summary,
    timeline,
    vitals,
)

PAGES: list[PageRoute] = [
    *home.PAGES,
    *alert_actions.PAGES,
    *search.PAGES,
    *breakglass.PAGES,
    *summary.PAGES,
    *vitals.PAGES,
    *glucose.PAGES,
    *results.PAGES,
    *timeline.PAGES,
    *prescription.PAGES,
    *prescription_print.PAGES,
]
