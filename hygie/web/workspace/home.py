"""``/workspace``: the professional's worklist — the monitoring alert inbox, then their patients.

- **Alerts**: every open alert the professional may see (hygie.web.workspace.alerts), most urgent
  first, 25 per page (``?apage=``), each with the sparkline of the vital sign behind it and its
  actions (``POST /workspace/alerts/{id}``).
- **My patients**: the patients the access policy lets them see — those of their care
  relationships (GP, practice, care teams) and any opened by break-the-glass, marked so — sorted
  by name, 20 per page (``?page=``; FHIR ``_offset`` paging, docs/search.md).

The query string carries page numbers and the last action's name only, never patient data.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from starlette.responses import Response

from hygie.api.checks import is_count
from hygie.web.fhir import resources
from hygie.web.pages import Page, page
from hygie.web.workspace.access import my_grants
from hygie.web.workspace.alert_actions import ACTIONS
from hygie.web.workspace.alerts import open_alerts
from hygie.web.workspace.identity import identity
from hygie.web.workspace.sparks import add_sparklines
from hygie.web.workspace.view import when

PAGE_SIZE = 20
ALERT_PAGE_SIZE = 25
MAX_PAGE = 10_000


@dataclass(frozen=True, slots=True)
class PatientRow:
    id: str
    name: str
    birth: str
    age: int | None
    gender_key: str
    ins: str | None
    alerts: int
    emergency: bool


def page_number(p: Page, name: str) -> int:
    raw = p.request.query_params.get(name, "1")
    return min(int(raw), MAX_PAGE) if is_count(raw, 18) and int(raw) > 0 else 1


def today(p: Page) -> date:
    return datetime.fromtimestamp(p.now_ms / 1000, ZoneInfo(p.settings.timezone)).date()


@page("/workspace", who="professional")
async def workspace_home(p: Page) -> Response:
    number, alert_number = page_number(p, "page"), page_number(p, "apage")
    alerts, bundle, grants = await asyncio.gather(
        open_alerts(p),
        p.fhir.search(
            "Patient",
            [
                ("_sort", "family,given"),
                ("_count", str(PAGE_SIZE)),
                ("_offset", str((number - 1) * PAGE_SIZE)),
            ],
        ),
        my_grants(p.fhir),
    )
    alert_pages = max(1, math.ceil(len(alerts) / ALERT_PAGE_SIZE))
    alert_number = min(alert_number, alert_pages)
    shown = alerts[(alert_number - 1) * ALERT_PAGE_SIZE : alert_number * ALERT_PAGE_SIZE]
    await add_sparklines(p, shown)
    total = int(bundle.get("total") or 0)
    counts: dict[str, int] = {}
    for a in alerts:
        counts[a.patient_id] = counts.get(a.patient_id, 0) + 1
    day = today(p)
    rows = []
    for patient in resources(bundle):
        who = identity(patient, day)
        rows.append(
            PatientRow(
                id=who.id,
                name=who.name,
                birth=when(patient.get("birthDate"), p.lang, ZoneInfo(p.settings.timezone)),
                age=who.age,
                gender_key=who.gender_key,
                ins=who.ins,
                alerts=counts.get(who.id, 0),
                emergency=who.id in grants,
            )
        )
    done = p.request.query_params.get("done")
    return p.render(
        "workspace/home.html",
        title="ws_home_title",
        nav="workspace",
        alerts=shown,
        alert_total=len(alerts),
        alert_page=alert_number,
        alert_pages=alert_pages,
        patients=rows,
        patient_total=total,
        page=number,
        pages=max(1, math.ceil(total / PAGE_SIZE)),
        done=done if done in ACTIONS else None,
    )


PAGES = [workspace_home]
