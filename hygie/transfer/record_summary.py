"""The human-readable summary of a portability export, as a renderer-neutral outline.

:func:`patient_summary` and :func:`practice_summary` read the exported resources (the staging
area) and return a :class:`Summary`: a title, paragraphs and sections of tables. The HTML
(:mod:`hygie.transfer.record_html`) and PDF (:mod:`hygie.transfer.record_pdf`) renderers draw
the same outline, so both files always say the same thing. Sections: identity (Patient), problems
(Condition), treatments (MedicationRequest, MedicationStatement), allergies
(AllergyIntolerance), vaccinations (Immunization), recent results and vital signs
(Observation: the latest value of each test), documents, and the counts of exported data.
R4 resources: https://hl7.org/fhir/R4/resourcelist.html
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hygie.fhir import jsonio
from hygie.transfer.record_staging import Staging
from hygie.transfer.record_text import label

MAX_RESULTS = 40


@dataclass(frozen=True, slots=True)
class Section:
    heading: str
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    notes: tuple[str, ...] = ()
    empty: str = ""  # shown when there are no rows


@dataclass(frozen=True, slots=True)
class Summary:
    lang: str
    title: str
    intro: tuple[str, ...]
    sections: tuple[Section, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class DocumentInfo:
    """A file of ``documents/`` as the summary lists it."""

    name: str
    title: str
    content_type: str
    date: str


def patient_summary(
    staging: Staging, pid: str, documents: Iterable[DocumentInfo], lang: str, exported: str
) -> Summary:
    patient = _load(staging.get("Patient", pid))
    name = person_name(patient) or f"Patient/{pid}"
    none = label("none", lang)
    sections = [
        _identity(patient, lang),
        Section(
            label("problems", lang),
            (label("what", lang), label("status", lang), label("since", lang)),
            _sorted(
                (concept(c.get("code")), concept(c.get("clinicalStatus")), date(_onset(c), lang))
                for c in _all(staging, "Condition")
            ),
            empty=none,
        ),
        Section(
            label("treatments", lang),
            (label("what", lang), label("dosage", lang), label("status", lang), label("date", lang)),
            _sorted(_treatments(staging, lang)),
            empty=none,
        ),
        Section(
            label("allergies", lang),
            (label("what", lang), label("criticality", lang), label("reaction", lang)),
            _sorted(
                (concept(a.get("code")), _str(a.get("criticality")), _reactions(a))
                for a in _all(staging, "AllergyIntolerance")
            ),
            empty=none,
        ),
        Section(
            label("vaccinations", lang),
            (label("what", lang), label("date", lang), label("status", lang)),
            _sorted(
                (
                    concept(i.get("vaccineCode")),
                    date(_str(i.get("occurrenceDateTime")), lang),
                    _str(i.get("status")),
                )
                for i in _all(staging, "Immunization")
            ),
            empty=none,
        ),
        _results(staging, lang),
        _documents(documents, lang),
        _contents(staging, lang),
    ]
    return Summary(
        lang,
        label("title_patient", lang, name=name),
        (label("exported", lang, date=date(exported, lang)),),
        (*sections, Section(label("about", lang), notes=(label("about_patient", lang),))),
    )


def practice_summary(
    staging: Staging,
    org_name: str,
    patients: list[str],
    documents: Iterable[DocumentInfo],
    lang: str,
    exported: str,
) -> Summary:
    rows = []
    for pid in patients:
        patient = _load(staging.get("Patient", pid))
        rows.append((pid, person_name(patient), date(_str(patient.get("birthDate")), lang)))
    sections = (
        Section(
            label("patients", lang),
            (label("id", lang), label("name", lang), label("birth_date", lang)),
            tuple(rows),
            notes=(label("patients_note", lang, count=len(patients)),),
            empty=label("none", lang),
        ),
        _documents(documents, lang),
        _contents(staging, lang),
        Section(label("about", lang), notes=(label("about_practice", lang),)),
    )
    return Summary(
        lang,
        label("title_practice", lang, name=org_name),
        (label("exported", lang, date=date(exported, lang)),),
        sections,
    )


# -- sections -----------------------------------------------------------------------------------


def _identity(patient: dict[str, Any], lang: str) -> Section:
    gender = _str(patient.get("gender"))
    rows = [
        (label("name", lang), person_name(patient)),
        (label("birth_date", lang), date(_str(patient.get("birthDate")), lang)),
        (
            label("gender", lang),
            label(gender, lang) if gender in ("male", "female", "other", "unknown") else "",
        ),
        (label("identifiers", lang), "; ".join(_identifier(i) for i in _dicts(patient.get("identifier")))),
        (label("address", lang), "; ".join(_address(a) for a in _dicts(patient.get("address")))),
        (label("telecom", lang), "; ".join(_str(t.get("value")) for t in _dicts(patient.get("telecom")))),
    ]
    return Section(label("identity", lang), ("", ""), tuple((k, v) for k, v in rows if v))


def _treatments(staging: Staging, lang: str) -> Iterable[tuple[str, ...]]:
    for rtype, when in (("MedicationRequest", "authoredOn"), ("MedicationStatement", "dateAsserted")):
        for med in _all(staging, rtype):
            what = concept(med.get("medicationCodeableConcept")) or _medication(staging, med)
            dosage = "; ".join(
                _str(d.get("text")) for d in _dicts(med.get("dosageInstruction") or med.get("dosage"))
            )
            when_value = _str(med.get(when)) or _str(med.get("effectiveDateTime"))
            yield what, dosage, _str(med.get("status")), date(when_value, lang)


def _results(staging: Staging, lang: str) -> Section:
    latest: dict[str, tuple[str, tuple[str, ...]]] = {}
    for obs in _all(staging, "Observation"):
        what = concept(obs.get("code"))
        when = _observed(obs)
        if what and (what not in latest or when > latest[what][0]):
            latest[what] = (when, (what, observed_value(obs), date(when, lang)))
    ordered = sorted(latest.values(), key=lambda item: (item[0], item[1][0]), reverse=True)
    notes = (label("more_results", lang, shown=MAX_RESULTS),) if len(ordered) > MAX_RESULTS else ()
    return Section(
        label("results", lang),
        (label("what", lang), label("value", lang), label("date", lang)),
        tuple(row for _, row in ordered[:MAX_RESULTS]),
        notes,
        label("none", lang),
    )


def _documents(documents: Iterable[DocumentInfo], lang: str) -> Section:
    rows = tuple(
        (d.title, date(d.date, lang), d.content_type, f"documents/{d.name}")
        for d in sorted(documents, key=lambda d: d.name)
    )
    headers = (label("title", lang), label("date", lang), label("type", lang), label("file", lang))
    return Section(label("documents", lang), headers, rows, empty=label("none", lang))


def _contents(staging: Staging, lang: str) -> Section:
    rows = tuple((t, str(staging.count(t))) for t in staging.types())
    return Section(label("contents", lang), (label("resource_type", lang), label("count", lang)), rows)


# -- FHIR datatypes as text ---------------------------------------------------------------------


def person_name(resource: dict[str, Any]) -> str:
    """The first HumanName (https://hl7.org/fhir/R4/datatypes.html#HumanName) as text."""
    for name in _dicts(resource.get("name")):
        if isinstance(name.get("text"), str):
            return str(name["text"])
        given = " ".join(g for g in name.get("given") or [] if isinstance(g, str))
        text = " ".join(p for p in (given, _str(name.get("family"))) if p)
        if text:
            return text
    return _str(resource.get("name"))  # Organization.name is a plain string


def concept(value: Any) -> str:
    """A CodeableConcept as text: its text, else the first display, else the first code."""
    if not isinstance(value, dict):
        return ""
    if isinstance(value.get("text"), str):
        return str(value["text"])
    codings = _dicts(value.get("coding"))
    for coding in codings:
        if isinstance(coding.get("display"), str):
            return str(coding["display"])
    return next((str(c["code"]) for c in codings if isinstance(c.get("code"), str)), "")


def observed_value(obs: dict[str, Any]) -> str:
    """``value[x]`` of an Observation as text; components joined (blood pressure: 120 / 80 mmHg)."""
    own = _value(obs)
    if own:
        return own
    parts = [_value(c) for c in _dicts(obs.get("component"))]
    return " / ".join(p for p in parts if p)


def _value(node: dict[str, Any]) -> str:
    quantity = node.get("valueQuantity")
    if isinstance(quantity, dict):
        unit = _str(quantity.get("unit")) or _str(quantity.get("code"))
        number = quantity.get("value")
        return f"{_str(quantity.get('comparator'))}{number if number is not None else ''} {unit}".strip()
    for key in ("valueString", "valueDateTime", "valueTime"):
        if isinstance(node.get(key), str):
            return str(node[key])
    if isinstance(node.get("valueCodeableConcept"), dict):
        return concept(node["valueCodeableConcept"])
    for key in ("valueInteger", "valueBoolean"):
        if key in node:
            return str(node[key])
    return ""


def date(value: str, lang: str) -> str:
    """An ISO date or dateTime as a date for people: 31/12/2024 in French, 2024-12-31 in English."""
    day = value[:10]
    if lang == "fr" and len(day) == 10 and day[4] == "-" and day[7] == "-":
        return f"{day[8:10]}/{day[5:7]}/{day[:4]}"
    return day


def _identifier(identifier: dict[str, Any]) -> str:
    kind = concept(identifier.get("type"))
    value = _str(identifier.get("value"))
    return f"{kind} {value}".strip() if kind else value


def _address(address: dict[str, Any]) -> str:
    if isinstance(address.get("text"), str):
        return str(address["text"])
    lines = [line for line in address.get("line") or [] if isinstance(line, str)]
    parts = [*lines, " ".join(p for p in (_str(address.get("postalCode")), _str(address.get("city"))) if p)]
    return ", ".join(p for p in parts if p)


def _medication(staging: Staging, med: dict[str, Any]) -> str:
    ref = med.get("medicationReference")
    target = ref.get("reference") if isinstance(ref, dict) else None
    if isinstance(target, str) and target.startswith("Medication/"):
        medication = _load(staging.get("Medication", target.split("/")[1]))
        return concept(medication.get("code")) or _str(ref.get("display"))  # type: ignore[union-attr]
    return _str(ref.get("display")) if isinstance(ref, dict) else ""


def _reactions(allergy: dict[str, Any]) -> str:
    found = [concept(m) for r in _dicts(allergy.get("reaction")) for m in _dicts(r.get("manifestation"))]
    return ", ".join(f for f in found if f)


def _onset(condition: dict[str, Any]) -> str:
    return _str(condition.get("onsetDateTime")) or _str(condition.get("recordedDate"))


def _observed(obs: dict[str, Any]) -> str:
    period = obs.get("effectivePeriod")
    start = period.get("start") if isinstance(period, dict) else None
    return _str(obs.get("effectiveDateTime")) or _str(start) or _str(obs.get("issued"))


def _all(staging: Staging, rtype: str) -> Iterable[dict[str, Any]]:
    for body in staging.bodies(rtype):
        yield _load(body)


def _load(body: bytes | None) -> dict[str, Any]:
    if body is None:
        return {}
    data = jsonio.loads(body)
    return data if isinstance(data, dict) else {}


def _sorted(rows: Iterable[tuple[str, ...]]) -> tuple[tuple[str, ...], ...]:
    return tuple(sorted(rows))


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""
