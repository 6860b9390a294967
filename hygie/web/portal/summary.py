"""The health summary's lines, from FHIR resources to plain words (pure functions).

- problems: Condition (https://hl7.org/fhir/R4/condition.html), ``code`` and onset;
- treatments: MedicationRequest and MedicationStatement
  (https://hl7.org/fhir/R4/medicationrequest.html, …/medicationstatement.html), one line per
  medicine (a statement that repeats a prescription is the same treatment), with its dosage;
- allergies: AllergyIntolerance (https://hl7.org/fhir/R4/allergyintolerance.html), with the
  reactions, how serious (``criticality``) and whether it is confirmed;
- vaccinations: Immunization (https://hl7.org/fhir/R4/immunization.html), newest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from hygie.web.portal.dates import fhir_date, parse_instant
from hygie.web.portal.people import concept_text, reference_of


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a summary list: what, and details already in words."""

    text: str
    since: str = ""  # a date in words
    detail: str = ""  # dosage, reactions… as written in the record
    by: str | None = None  # a Practitioner reference (prescriber, vaccinator)
    tags: tuple[str, ...] = field(default_factory=tuple)  # message keys: allergy_serious…
    sort: str = ""


def _medication(resource: dict[str, Any], included: dict[str, dict[str, Any]]) -> str:
    text = concept_text(resource.get("medicationCodeableConcept"))
    if text:
        return text
    ref = reference_of(resource.get("medicationReference"))
    medication = included.get(ref or "")
    if medication is not None:
        return concept_text(medication.get("code"))
    found = resource.get("medicationReference")
    return str(found.get("display", "")) if isinstance(found, dict) else ""


def _onset(condition: dict[str, Any]) -> str | None:
    for key in ("onsetDateTime", "recordedDate"):
        if isinstance(condition.get(key), str):
            return str(condition[key])
    period = condition.get("onsetPeriod")
    if isinstance(period, dict) and isinstance(period.get("start"), str):
        return str(period["start"])
    return None


def problems(conditions: list[dict[str, Any]], lang: str, tz: tzinfo) -> list[Line]:
    lines = []
    for c in conditions:
        text = concept_text(c.get("code"))
        if not text:
            continue
        onset = _onset(c)
        lines.append(Line(text, since=fhir_date(onset, lang, tz) if onset else "", sort=text.lower()))
    return sorted(lines, key=lambda line: line.sort)


def treatments(
    requests: list[dict[str, Any]],
    statements: list[dict[str, Any]],
    lang: str,
    tz: tzinfo,
    included: dict[str, dict[str, Any]] | None = None,
) -> list[Line]:
    """One line per medicine: the prescription when there is one, else the statement."""
    found = included or {}
    lines: dict[str, Line] = {}
    for r in requests:
        name = _medication(r, found)
        if not name:
            continue
        dosage = next((str(d["text"]) for d in r.get("dosageInstruction") or [] if d.get("text")), "")
        since = fhir_date(r.get("authoredOn"), lang, tz)
        lines.setdefault(
            name.lower(), Line(name, since, dosage, reference_of(r.get("requester")), sort=name.lower())
        )
    for s in statements:
        name = _medication(s, found)
        if not name or name.lower() in lines:
            continue
        dosage = next((str(d["text"]) for d in s.get("dosage") or [] if d.get("text")), "")
        start = (s.get("effectivePeriod") or {}).get("start") or s.get("effectiveDateTime")
        lines[name.lower()] = Line(name, fhir_date(start, lang, tz), dosage, sort=name.lower())
    return sorted(lines.values(), key=lambda line: line.sort)


def _status(resource: dict[str, Any], key: str) -> str:
    concept = resource.get(key)
    codings = concept.get("coding") if isinstance(concept, dict) else None
    return str(codings[0].get("code", "")) if codings and isinstance(codings[0], dict) else ""


def allergies(items: list[dict[str, Any]], lang: str, tz: tzinfo) -> list[Line]:
    lines = []
    for a in items:
        text = concept_text(a.get("code"))
        if not text or _status(a, "verificationStatus") in ("refuted", "entered-in-error"):
            continue
        reactions = sorted(
            {
                concept_text(m)
                for r in a.get("reaction") or []
                if isinstance(r, dict)
                for m in r.get("manifestation") or []
            }
            - {""}
        )
        tags: list[str] = []
        if a.get("criticality") == "high":
            tags.append("allergy_serious")
        if _status(a, "verificationStatus") == "unconfirmed":
            tags.append("allergy_unconfirmed")
        since = fhir_date(a.get("onsetDateTime") or a.get("recordedDate"), lang, tz)
        lines.append(Line(text, since, ", ".join(reactions), tags=tuple(tags), sort=text.lower()))
    return sorted(lines, key=lambda line: line.sort)


def vaccinations(items: list[dict[str, Any]], lang: str, tz: tzinfo) -> list[Line]:
    lines = []
    for i in items:
        if i.get("status") not in (None, "completed"):
            continue
        text = concept_text(i.get("vaccineCode"))
        if not text:
            continue
        when = i.get("occurrenceDateTime") if isinstance(i.get("occurrenceDateTime"), str) else None
        at = parse_instant(when)
        key = at.isoformat() if at is not None else str(when or "")
        performer = next(
            (reference_of(p.get("actor")) for p in i.get("performer") or [] if isinstance(p, dict)), None
        )
        lines.append(Line(text, fhir_date(when, lang, tz), by=performer, sort=key))
    return sorted(lines, key=lambda line: line.sort, reverse=True)
