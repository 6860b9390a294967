"""``/workspace/patient/{id}/prescription/{number}``: a signed prescription, laid out to print.

The orders signed together share ``MedicationRequest.groupIdentifier`` (system
:data:`~hygie.web.workspace.prescribing.GROUP_SYSTEM`, the prescription's number): the page lists
the prescriber's orders of that number for the patient (read through ``p.fhir``: the access policy
and the audit trail apply; another prescriber's number is a 404). It shows what a French
prescription carries (Code de la santé publique R.5132-3): the prescriber's name, profession,
RPPS number and practice address, the date, the patient's name, sex and age (and the latest
weight, which matters for children), each drug with its dosage and duration, and room for the
signature. The browser prints it (Ctrl+P): the site's header and menus are not printed.
"""

from __future__ import annotations

import asyncio
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import Response

from hygie.web.fhir import WebFhirError, resources
from hygie.web.format import human_name
from hygie.web.pages import Page, page
from hygie.web.workspace.chart import ChartView, open_chart
from hygie.web.workspace.prescribing import GROUP, GROUP_SYSTEM, MAX_ORDERS, PROFESSION_SYSTEMS
from hygie.web.workspace.summary import dosage, medication
from hygie.web.workspace.view import concept_text, day_of, quantity, ref_id

RPPS = "urn:oid:1.2.250.1.71.4.2.1"  # ANS: the RPPS number of a health professional
WEIGHT = "http://loinc.org|29463-7"


def _rpps(practitioner: dict[str, Any]) -> str:
    return next(
        (str(i.get("value")) for i in practitioner.get("identifier") or [] if i.get("system") == RPPS),
        "",
    )


def _profession(roles: list[dict[str, Any]]) -> str:
    for role in roles:
        for concept in role.get("code") or []:
            for coding in concept.get("coding") or []:
                if coding.get("system") in PROFESSION_SYSTEMS and coding.get("display"):
                    return str(coding["display"])
    return ""


def _address(organization: dict[str, Any]) -> str:
    for address in organization.get("address") or []:
        parts = [
            *address.get("line", []),
            " ".join(x for x in (address.get("postalCode"), address.get("city")) if x),
        ]
        text = ", ".join(str(x) for x in parts if x)
        if text:
            return text
    return ""


def _phone(resource: dict[str, Any]) -> str:
    return next(
        (str(t.get("value")) for t in resource.get("telecom") or [] if t.get("system") == "phone"), ""
    )


async def _organization(p: Page, roles: list[dict[str, Any]]) -> dict[str, Any]:
    for role in roles:
        oid = ref_id(role.get("organization"), "Organization")
        if oid:
            try:
                return await p.fhir.get(f"Organization/{oid}")
            except WebFhirError:
                return {}
    return {}


@page("/workspace/patient/{patient}/prescription/{number}", who="professional")
async def printed(p: Page) -> Response:
    number = str(p.request.path_params["number"])
    if not GROUP.match(number):
        return p.error(404)
    view = await open_chart(p, "prescription")
    if not isinstance(view, ChartView):
        return view
    me = p.principal.fhir_user or ""
    if not me.startswith("Practitioner/"):
        return p.error(403, "ws_rx_no_practitioner")
    mine = [("patient", view.id), ("requester", me), ("_sort", "-authoredon"), ("_count", str(MAX_ORDERS))]
    orders, roles, weights, practitioner = await asyncio.gather(
        p.fhir.search("MedicationRequest", mine),
        p.fhir.search("PractitionerRole", [("practitioner", me), ("_count", "20")]),
        p.fhir.search(
            "Observation", [("patient", view.id), ("code", WEIGHT), ("_sort", "-date"), ("_count", "1")]
        ),
        p.fhir.get(me),
    )
    signed = [
        o
        for o in resources(orders)
        if (o.get("groupIdentifier") or {}).get("system") == GROUP_SYSTEM
        and (o.get("groupIdentifier") or {}).get("value") == number
        and o.get("status") not in ("draft", "entered-in-error")
    ]
    if not signed:
        return p.error(404)
    found_roles = resources(roles)
    organization = await _organization(p, found_roles)
    tz = ZoneInfo(p.settings.timezone)
    weight = resources(weights)
    lines = [
        {
            "name": medication(o),
            "dosage": dosage(o),
            "days": ((o.get("dispenseRequest") or {}).get("expectedSupplyDuration") or {}).get("value"),
            "status": str(o.get("status") or ""),
        }
        for o in sorted(signed, key=lambda o: str(o.get("id")))
    ]
    return p.render(
        "workspace/prescription_print.html",
        title="ws_rx_print_title",
        nav="workspace",
        chart=view,
        number=number,
        when=day_of(signed[0].get("authoredOn"), p.lang, tz),
        prescriber=human_name(practitioner) or me,
        rpps=_rpps(practitioner),
        profession=_profession(found_roles),
        specialty=next((concept_text(s) for r in found_roles for s in r.get("specialty") or []), ""),
        practice=str(organization.get("name") or ""),
        address=_address(organization),
        phone=_phone(organization),
        weight=quantity(weight[0].get("valueQuantity"), p.lang) if weight else "",
        lines=lines,
    )


PAGES = [printed]
