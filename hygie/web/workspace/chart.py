"""What every page of a patient's chart shares (``/workspace/patient/{id}…``): the patient, the
banner (identity, INS and its status, allergies — always visible), the chart's tabs, and the
"emergency access" banner when the record is open by break-the-glass.

A record the professional may not see answers 404 in the API (docs/security.md); here that page
explains it and offers break-the-glass (:mod:`hygie.web.workspace.breakglass`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response

from hygie.web.charts import fmt
from hygie.web.fhir import WebFhirError, resources
from hygie.web.pages import Page
from hygie.web.workspace.access import cares_directly, grant_until, in_team
from hygie.web.workspace.breakglass import offer
from hygie.web.workspace.home import today
from hygie.web.workspace.identity import Identity, identity
from hygie.web.workspace.view import concept_text, valid_id, when

TABS = (
    ("summary", ""),
    ("vitals", "/vitals"),
    ("glucose", "/glucose"),
    ("results", "/results"),
    ("timeline", "/timeline"),
    ("prescription", "/prescription"),
)
INACTIVE = {"inactive", "resolved"}
NOT_TRUE = {"refuted", "entered-in-error"}


@dataclass(frozen=True, slots=True)
class Allergy:
    text: str
    high: bool  # criticality high
    reactions: str
    confirmed: bool


@dataclass(frozen=True, slots=True)
class ChartView:
    id: str
    patient: dict[str, Any]
    who: Identity
    allergies: tuple[Allergy, ...]
    emergency: bool
    emergency_until: str  # '' when the grant's end is not known here
    tab: str


def _code(concept: Any) -> str:
    """The first code of a CodeableConcept ('' when none)."""
    codings = concept.get("coding") or [] if isinstance(concept, dict) else []
    return str(codings[0].get("code", "")) if codings and isinstance(codings[0], dict) else ""


def allergy_rows(found: list[dict[str, Any]]) -> tuple[Allergy, ...]:
    """Current allergies and intolerances (https://hl7.org/fhir/R4/allergyintolerance.html):
    not inactive or resolved, not refuted or entered in error; the most critical first."""
    rows = []
    for a in found:
        if _code(a.get("clinicalStatus")) in INACTIVE or _code(a.get("verificationStatus")) in NOT_TRUE:
            continue
        reactions = ", ".join(
            concept_text(m)
            for r in a.get("reaction") or []
            for m in r.get("manifestation") or []
            if concept_text(m)
        )
        rows.append(
            Allergy(
                concept_text(a.get("code")) or "—",
                a.get("criticality") == "high",
                reactions,
                _code(a.get("verificationStatus")) in ("", "confirmed"),
            )
        )
    return tuple(sorted(rows, key=lambda r: (not r.high, r.text)))


async def open_chart(p: Page, tab: str) -> ChartView | Response:
    """The chart's common part, or the page to answer instead (404 → the break-the-glass offer)."""
    pid = str(p.request.path_params["patient"])
    if not valid_id(pid):
        return p.error(404)
    try:
        patient = await p.fhir.get(f"Patient/{pid}")
    except WebFhirError as error:
        if error.status == 404:
            return offer(p, pid)
        raise
    outside = not cares_directly(patient, p.principal)  # then: a care team, or an emergency access?
    allergies, teams, until = await asyncio.gather(
        p.fhir.search("AllergyIntolerance", [("patient", pid), ("_count", "100")]),
        p.fhir.search("CareTeam", [("patient", pid), ("_count", "100")]) if outside else _nothing(),
        grant_until(p.fhir, pid) if outside else _no_grant(),
    )
    found = resources(allergies)
    emergency = until is not None or (
        outside and not in_team(resources(teams), p.principal, datetime.fromtimestamp(p.now_ms / 1000, UTC))
    )
    tz = ZoneInfo(p.settings.timezone)
    return ChartView(
        id=pid,
        patient=patient,
        who=identity(patient, today(p)),
        allergies=allergy_rows(found),
        emergency=emergency,
        emergency_until=fmt.moment(datetime.fromtimestamp(until / 1000, tz), p.lang, tz) if until else "",
        tab=tab,
    )


async def _nothing() -> dict[str, Any]:
    return {}


async def _no_grant() -> int | None:
    return None


def render_chart(p: Page, view: ChartView, template: str, **values: Any) -> Response:
    title = f"{view.who.name} – {p.t('ws_tab_' + view.tab)}"
    birth = when(view.patient.get("birthDate"), p.lang, ZoneInfo(p.settings.timezone))
    return p.render(template, title=title, nav="workspace", chart=view, tabs=TABS, birth_text=birth, **values)
