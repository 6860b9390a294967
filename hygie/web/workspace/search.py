"""``/workspace/search``: find a patient by name, birth date or identifier (INS, local number).

The terms are posted (``POST /workspace/search``, CSRF-checked) and the results page is the
answer: names and birth dates never appear in a URL (docs/web.md "Security"). The search is the
FHIR Patient search under the professional's access policy (https://hl7.org/fhir/R4/patient.html#search):

- ``name``: every word must start a part of the name — ``name=helene&name=dup`` — accent- and
  case-insensitive (docs/search.md: ``Hélène`` is found by ``helene``);
- ``birthdate``: ``YYYY-MM-DD`` (the date field) or ``DD/MM/YYYY``;
- ``identifier``: the value in any system (spaces removed: an INS is often written in groups).

A patient outside the professional's care is not found. ``POST /workspace/open`` goes to the
chart of a record number (an id: allowed in a URL); a record they may not see offers
break-the-glass there.
"""

from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo

from starlette.responses import Response

from hygie.web.fhir import resources
from hygie.web.pages import Page, page
from hygie.web.workspace.home import PatientRow, today
from hygie.web.workspace.identity import identity
from hygie.web.workspace.view import valid_id, when

MAX_RESULTS = 50
MAX_TERM = 100
FRENCH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def birth_date(raw: str) -> str | None:
    """``YYYY-MM-DD`` from the date field or a French ``DD/MM/YYYY`` (None when invalid)."""
    text = raw.strip()
    found = FRENCH_DATE.match(text)
    try:
        if found:
            return date(int(found.group(3)), int(found.group(2)), int(found.group(1))).isoformat()
        return date.fromisoformat(text).isoformat() if len(text) == 10 else None
    except ValueError:
        return None


def criteria(name: str, born: str, ident: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The FHIR search parameters of the form, and the form's errors by field."""
    errors: dict[str, str] = {}
    params: list[tuple[str, str]] = []
    words = [w for w in re.split(r"[\s,]+", name) if w]
    if len(name) > MAX_TERM or len(words) > 5:
        errors["name"] = "ws_search_name_error"
    params += [("name", w) for w in words]
    if born:
        parsed = birth_date(born)
        if parsed is None:
            errors["birthdate"] = "ws_search_date_error"
        else:
            params.append(("birthdate", parsed))
    number = re.sub(r"\s+", "", ident)
    if number:
        if len(number) > MAX_TERM or "|" in number or "," in number:
            errors["identifier"] = "ws_search_identifier_error"
        else:
            params.append(("identifier", number))
    if not params and not errors:
        errors["name"] = "ws_search_empty"
    return params, errors


@page("/workspace/search", who="professional", methods=["GET", "POST"])
async def patient_search(p: Page) -> Response:
    values = {k: p.form.get(k).strip() for k in ("name", "birthdate", "identifier")}
    if p.request.method == "GET":
        return p.render(
            "workspace/search.html",
            title="ws_search_title",
            nav="workspace",
            values=values,
            errors={},
            results=None,
        )
    params, errors = criteria(values["name"], values["birthdate"], values["identifier"])
    if errors:
        return p.render(
            "workspace/search.html",
            title="ws_search_title",
            nav="workspace",
            values=values,
            errors=errors,
            results=None,
            status=400,
        )
    bundle = await p.fhir.search(
        "Patient", [*params, ("_sort", "family,given"), ("_count", str(MAX_RESULTS))]
    )
    day, tz = today(p), ZoneInfo(p.settings.timezone)
    results = []
    for patient in resources(bundle):
        who = identity(patient, day)
        results.append(
            PatientRow(
                who.id,
                who.name,
                when(patient.get("birthDate"), p.lang, tz),
                who.age,
                who.gender_key,
                who.ins,
                0,
                False,
            )
        )
    total = int(bundle.get("total") or len(results))
    return p.render(
        "workspace/search.html",
        title="ws_search_title",
        nav="workspace",
        values=values,
        errors={},
        results=results,
        total=total,
    )


@page("/workspace/open", who="professional", methods=["POST"])
async def open_record(p: Page) -> Response:
    number = p.form.get("record").strip()
    if not valid_id(number):
        return p.render(
            "workspace/search.html",
            title="ws_search_title",
            nav="workspace",
            values={"name": "", "birthdate": "", "identifier": ""},
            errors={"record": "ws_open_error"},
            results=None,
            record=number,
            status=400,
        )
    return p.redirect(f"/workspace/patient/{number}")


PAGES = [patient_search, open_record]
