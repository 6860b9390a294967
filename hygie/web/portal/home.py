"""``/portal``: my health summary — problems, treatments, allergies, vaccinations, my doctor.

Everything is read through ``p.fhir`` as the signed-in patient, for the record shown
(``p.patient``: their own, or the one chosen with "switch profile"): the same access policy and
audit trail as the FHIR API. Searches (https://hl7.org/fhir/R4/search.html): active Conditions
(``clinical-status=active``), active MedicationRequests and MedicationStatements
(``status=active``), active AllergyIntolerances, Immunizations.
"""

from __future__ import annotations

from starlette.responses import Response

from hygie.web.fhir import resources
from hygie.web.format import human_name
from hygie.web.pages import Page, page
from hygie.web.portal import summary
from hygie.web.portal.common import MAX_LIST, render, search_all, zone
from hygie.web.portal.dates import fhir_date
from hygie.web.portal.people import describe, reference_of


@page("/portal", who="patient")
async def portal_home(p: Page) -> Response:
    tz, lang, pid = zone(p), p.lang, p.patient
    patient = await p.fhir.get(f"Patient/{pid}")
    conditions = await search_all(p, "Condition", [("patient", pid), ("clinical-status", "active")])
    bundle = await p.fhir.search(
        "MedicationRequest",
        [
            ("patient", pid),
            ("status", "active"),
            ("_include", "MedicationRequest:medication"),
            ("_count", str(MAX_LIST)),
        ],
    )
    medications = {f"Medication/{m.get('id')}": m for m in resources(bundle, "include")}
    statements = await search_all(p, "MedicationStatement", [("patient", pid), ("status", "active")])
    allergies = await search_all(p, "AllergyIntolerance", [("patient", pid), ("clinical-status", "active")])
    vaccines = await search_all(p, "Immunization", [("patient", pid)])
    problems = summary.problems(conditions, lang, tz)
    treatments = summary.treatments(resources(bundle), statements, lang, tz, medications)
    vaccinations = summary.vaccinations(vaccines, lang, tz)
    doctors = [r for g in patient.get("generalPractitioner") or [] if (r := reference_of(g))]
    wanted = {line.by for line in [*treatments, *vaccinations] if line.by} | set(doctors)
    people = await describe(p.fhir, wanted)
    return render(
        p,
        "portal/home.html",
        title="portal_title",
        section="summary",
        name=human_name(patient),
        birth=fhir_date(patient.get("birthDate"), lang, tz),
        doctors=[people[d] for d in doctors if d in people],
        people=people,
        problems=problems,
        treatments=treatments,
        allergies=summary.allergies(allergies, lang, tz),
        vaccinations=vaccinations,
    )


PAGES = [portal_home]
