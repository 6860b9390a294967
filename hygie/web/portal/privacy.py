"""``/portal/privacy``: who may see my record — block a professional, see my blocks, lift one.

A block is a Consent with a deny provision naming the Practitioner (hygie.web.portal.consent,
read by the access policy: docs/security.md), written and deleted through ``p.fhir`` for the
record shown (``p.patient``: a parent acting for a child blocks for the child); lifting a block
makes its Consent ``inactive`` (kept, so the record's history says when it was lifted). The
professionals offered are those of the record (general practitioner, care teams, visits), and any
other found by name (a POST form: names stay out of URLs). Every change is a CSRF-checked POST
answered by a redirect; each is in the audit trail as a change of who may see the record.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from starlette.responses import Response

from hygie.web.fhir import WebFhirError, resources
from hygie.web.format import human_name
from hygie.web.pages import Page, page
from hygie.web.portal.common import render, search_all, zone
from hygie.web.portal.consent import Block, block_consent, blocked, blocks
from hygie.web.portal.dates import fhir_date
from hygie.web.portal.people import describe, reference_of

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
MAX_NAME = 100
FOUND_MAX = 20


async def current_blocks(p: Page) -> list[Block]:
    consents = await search_all(p, "Consent", [("patient", p.patient), ("status", "active")])
    return blocks(consents, p.patient)


async def record_professionals(p: Page) -> list[str]:
    """Practitioners of the record: general practitioner(s), care team members, visits."""
    patient = await p.fhir.get(f"Patient/{p.patient}")
    refs = [r for g in patient.get("generalPractitioner") or [] if (r := reference_of(g))]
    for team in await search_all(p, "CareTeam", [("patient", p.patient), ("status", "active")]):
        refs += [
            r
            for m in team.get("participant") or []
            if isinstance(m, dict) and (r := reference_of(m.get("member")))
        ]
    visits = await p.fhir.search("Encounter", [("patient", p.patient), ("_sort", "-date"), ("_count", "50")])
    for visit in resources(visits):
        refs += [
            r
            for m in visit.get("participant") or []
            if isinstance(m, dict) and (r := reference_of(m.get("individual")))
        ]
    return list(dict.fromkeys(r for r in refs if r.startswith("Practitioner/")))


async def _page(
    p: Page,
    *,
    found: list[str] | None = None,
    name: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    current = await current_blocks(p)
    known = await record_professionals(p)
    people = await describe(p.fhir, {*known, *(found or []), *(a for b in current for a in b.actors)})
    names = await p.record_names() if len(p.user.patients) > 1 else {}
    return render(
        p,
        "portal/privacy.html",
        title="pt_privacy_title",
        section="privacy",
        status=status,
        blocks=current,
        dates={b.consent: fhir_date(b.date, p.lang, zone(p)) for b in current if b.date},
        blocked=blocked(current),
        known=[r for r in known if r in people],
        found=found,
        name=name,
        people=people,
        error=error,
        done=p.request.query_params.get("done") if status == 200 else None,
        record_name=names.get(p.patient, "") if p.patient != p.user.patients[0] else "",
    )


@page("/portal/privacy", who="patient")
async def privacy(p: Page) -> Response:
    return await _page(p)


@page("/portal/privacy/find", who="patient", methods=["POST"])
async def find(p: Page) -> Response:
    name = " ".join(p.form.get("name").split())[:MAX_NAME]
    if len(name) < 2:
        return await _page(p, name=name, error="pt_find_too_short", status=400)
    bundle = await p.fhir.search("Practitioner", [("name", name), ("_count", str(FOUND_MAX))])
    found = [f"Practitioner/{r.get('id')}" for r in resources(bundle) if human_name(r)]
    return await _page(p, found=found, name=name)


@page("/portal/privacy/block", who="patient", methods=["POST"])
async def block(p: Page) -> Response:
    practitioner = p.form.get("practitioner")
    if not _ID.fullmatch(practitioner):
        return await _page(p, error="pt_block_unknown", status=400)
    try:
        who = await p.fhir.get(f"Practitioner/{practitioner}")
    except WebFhirError as failure:
        if failure.status in (404, 410):
            return await _page(p, error="pt_block_unknown", status=400)
        raise
    reference = f"Practitioner/{practitioner}"
    if reference in blocked(await current_blocks(p)):
        return p.redirect("/portal/privacy?done=blocked")
    now = datetime.fromtimestamp(p.now_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    consent = block_consent(
        p.patient, reference, performer=p.principal.fhir_user, now=now, display=human_name(who)
    )
    await p.fhir.create(consent)
    return p.redirect("/portal/privacy?done=blocked")


@page("/portal/privacy/unblock", who="patient", methods=["POST"])
async def unblock(p: Page) -> Response:
    consent_id = p.form.get("consent")
    if not _ID.fullmatch(consent_id):
        return p.error(404)
    consent: dict[str, Any] = await p.fhir.get(f"Consent/{consent_id}")
    mine = [b for b in blocks([consent], p.patient) if b.ours]
    if not mine:
        return p.error(404)  # not a block of the record shown that the portal may lift
    await p.fhir.update({**consent, "status": "inactive"})
    return p.redirect("/portal/privacy?done=unblocked")


PAGES = [privacy, find, block, unblock]
