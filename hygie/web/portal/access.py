"""``/portal/access``: who accessed my record, from the audit trail, in plain words.

The entries are the ledger's AuditEvents about the record shown, read with
``GET AuditEvent?patient=…`` through ``p.fhir`` (docs/security-audit.md "Patients reading their
audit trail": newest first, paged with ``_cursor``; a patient reads the entries of their own
record and of those they act for; reading them is audited too). Each line says who (a
professional with their role and workplace, you, a person who acts for you, an automatic
service), did what (viewed, added, changed, deleted, downloaded, changed the privacy settings),
when, through which application; emergency ("break the glass") openings are highlighted with
their reason; refused attempts are said so. Pages of :data:`PAGE` entries:
``/portal/access?before=<entry id>`` (ids only); ``others=1`` leaves out your own visits.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.responses import Response

from hygie.api.checks import is_count
from hygie.web.fhir import resources
from hygie.web.pages import Page, page
from hygie.web.portal.access_words import grouped, span
from hygie.web.portal.common import render, zone
from hygie.web.portal.people import describe

PAGE = 100  # audit entries read per page (grouped into fewer lines)


def next_cursor(bundle: dict[str, Any]) -> str | None:
    """The ``_cursor`` of the Bundle's ``next`` link (digits only), if any."""
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next":
            values = parse_qs(urlsplit(str(link.get("url") or "")).query).get("_cursor") or []
            if values and is_count(values[0], 18):
                return values[0]
    return None


@page("/portal/access", who="patient")
async def access(p: Page) -> Response:
    query = p.request.query_params
    before = query.get("before") or ""
    if before and not is_count(before, 18):
        return p.error(404)
    others = query.get("others") == "1"
    trail = p.state.api().trail
    if trail is not None:
        await trail.flush()  # accesses of the last instant (this visit's own included) are shown
    params = [("patient", p.patient), ("_count", str(PAGE))]
    if before:
        params.append(("_cursor", before))
    bundle = await p.fhir.search("AuditEvent", params)
    tz = zone(p)
    me = p.principal.fhir_user
    lines = grouped(resources(bundle), tz)
    if others:
        lines = [line for line in lines if line.actor != me]
    people = await describe(p.fhir, {line.actor for line in lines if line.actor})
    shown = [(line, span(line, p.lang, tz)) for line in lines]
    return render(
        p,
        "portal/access.html",
        title="pt_access_title",
        section="access",
        lines=shown,
        people=people,
        me=me,
        record=f"Patient/{p.patient}",
        older=next_cursor(bundle),
        first_page=not before,
        others=others,
    )


PAGES = [access]
