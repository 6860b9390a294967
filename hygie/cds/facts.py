"""FHIR R4 resources → the engine's inputs (:class:`PatientFacts`, :class:`DrugItem`).

Pure functions of resources as JSON dicts (no I/O), shared by the CDS Hooks service and the
``$check-interactions`` operation (docs/cds-hooks.md, "What the service reads"):

- **Drugs** — MedicationRequest (https://hl7.org/fhir/R4/medicationrequest.html) and
  MedicationStatement (https://hl7.org/fhir/R4/medicationstatement.html): every coding of
  ``medicationCodeableConcept``, or of the Medication (https://hl7.org/fhir/R4/medication.html)
  that ``medicationReference`` points to — contained (``#id``), in the same Bundle (``fullUrl``) or
  included (``Medication/id``) — with its ingredients' codings (combination products). The French
  systems of the ANS ePrescription guide (CIS, CIP13, UCD, ANSM substance) and ATC are the ones
  the engine understands. Daily dose in mg from ``dosageInstruction`` / ``dosage``
  (``doseQuantity`` in mg, g or µg × ``timing.repeat`` frequency per period).
- **Current** drugs: MedicationRequests ``active`` or ``on-hold``; MedicationStatements
  ``active``, ``intended`` or ``on-hold``.
- **Patient**: age (from ``birthDate``; a year alone counts from 1 July, a month from the 15th)
  and sex (``gender`` male/female) from Patient; the latest body weight (LOINC 29463-7, 3141-9),
  serum creatinine (LOINC 2160-0 in mg/dL × 88.42, or mg/L; 14682-9 in µmol/L, or mmol/L),
  pregnancy (LOINC 82810-3 Observation; else an active Condition SNOMED CT 77386006 or ICD-10
  Z33–Z35) and breastfeeding (LOINC 63895-7 Observation; else an active Condition SNOMED CT
  413712001 or 169750002); allergies from AllergyIntolerance (not inactive, resolved, refuted or
  entered in error), with the codings of ``code`` and of each ``reaction.substance``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from hygie.cds.model import AllergyFact, DrugCode, DrugItem, PatientFacts

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = (
    "http://hl7.org/fhir/sid/icd-10",
    "http://hl7.org/fhir/sid/icd-10-fr",
    "http://hl7.org/fhir/sid/icd-10-cm",
)
WEIGHT_CODES = frozenset({"29463-7", "3141-9"})
CREATININE_MASS = "2160-0"  # Creatinine [Mass/volume] in Serum or Plasma
CREATININE_MOLES = "14682-9"  # Creatinine [Moles/volume] in Serum or Plasma
PREGNANCY_STATUS = "82810-3"
BREASTFEEDING_STATUS = "63895-7"
PREGNANT = frozenset({(SNOMED, "77386006"), (LOINC, "LA15173-0")})
NOT_PREGNANT = frozenset({(SNOMED, "60001007"), (LOINC, "LA26683-5")})
YES = frozenset({(LOINC, "LA33-6"), (SNOMED, "373066001")})
NO = frozenset({(LOINC, "LA32-8"), (SNOMED, "373067005")})
BREASTFEEDING_CONDITIONS = frozenset({"413712001", "169750002"})
CURRENT_REQUEST = frozenset({"active", "on-hold"})
CURRENT_STATEMENT = frozenset({"active", "intended", "on-hold"})
UMOL_PER_MG_DL = 88.42  # creatinine, 113.12 g/mol
MG_FACTORS = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "µg": 0.001, "mcg": 0.001}
PER_DAY = {"h": 24.0, "d": 1.0, "wk": 1 / 7, "mo": 1 / 30}
Resource = dict[str, Any]


def _dicts(value: Any) -> list[Resource]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def codings(concept: Any) -> tuple[DrugCode, ...]:
    """Every coding of a CodeableConcept that has a system and a code."""
    if not isinstance(concept, dict):
        return ()
    out = []
    for coding in _dicts(concept.get("coding")):
        system, code, display = coding.get("system"), coding.get("code"), coding.get("display")
        if isinstance(system, str) and isinstance(code, str) and system and code:
            out.append(DrugCode(system, code, display if isinstance(display, str) else None))
    return tuple(out)


def concept_text(concept: Any) -> str | None:
    """``text``, else the first coding's ``display``."""
    if not isinstance(concept, dict):
        return None
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        return str(concept["text"])
    return next((c.display for c in codings(concept) if c.display), None)


def bundle_resources(bundle: Any) -> list[Resource]:
    """The resources of a Bundle's entries (nothing for anything else)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return []
    return [e["resource"] for e in _dicts(bundle.get("entry")) if isinstance(e.get("resource"), dict)]


def medication_index(bundles: Iterable[Any]) -> dict[str, Resource]:
    """Medications of Bundles by ``Medication/id`` and by ``fullUrl``."""
    index: dict[str, Resource] = {}
    for bundle in bundles:
        if not isinstance(bundle, dict):
            continue
        for entry in _dicts(bundle.get("entry")):
            resource = entry.get("resource")
            if not isinstance(resource, dict) or resource.get("resourceType") != "Medication":
                continue
            if isinstance(resource.get("id"), str):
                index[f"Medication/{resource['id']}"] = resource
            if isinstance(entry.get("fullUrl"), str):
                index[entry["fullUrl"]] = resource
    return index


def _resolve(reference: Any, holder: Resource, medications: Mapping[str, Resource]) -> Resource | None:
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    ref: str = reference["reference"]
    if ref.startswith("#"):
        return next((c for c in _dicts(holder.get("contained")) if c.get("id") == ref[1:]), None)
    if ref in medications:
        return medications[ref]
    parts = ref.split("/_history/", maxsplit=1)[0].rstrip("/").split("/")
    return medications.get("/".join(parts[-2:])) if len(parts) >= 2 else None


def medication_codes(
    resource: Resource, medications: Mapping[str, Resource]
) -> tuple[tuple[DrugCode, ...], str | None]:
    """The codings of the drug a MedicationRequest/Statement is about, and its name."""
    concept = resource.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return codings(concept), concept_text(concept)
    reference = resource.get("medicationReference")
    medication = _resolve(reference, resource, medications)
    display = reference.get("display") if isinstance(reference, dict) else None
    if medication is None:
        return (), display if isinstance(display, str) else None
    codes = list(codings(medication.get("code")))
    for ingredient in _dicts(medication.get("ingredient")):
        codes.extend(c for c in codings(ingredient.get("itemCodeableConcept")) if c not in codes)
    text = concept_text(medication.get("code")) or (display if isinstance(display, str) else None)
    return tuple(codes), text


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _dose_mg(dosage: Resource) -> float | None:
    """mg per day of one Dosage (None when it does not say)."""
    rates = _dicts(dosage.get("doseAndRate"))
    quantity = rates[0].get("doseQuantity") if rates else None
    if not isinstance(quantity, dict) and rates and isinstance(rates[0].get("doseRange"), dict):
        quantity = rates[0]["doseRange"].get("high")
    if not isinstance(quantity, dict):
        return None
    unit = quantity.get("code") or quantity.get("unit")
    amount = _number(quantity.get("value"))
    factor = MG_FACTORS.get(unit.strip().lower()) if isinstance(unit, str) else None
    timing = dosage.get("timing")
    repeat = timing.get("repeat") if isinstance(timing, dict) else None
    if amount is None or factor is None or not isinstance(repeat, dict):
        return None
    frequency = _number(repeat.get("frequency", 1))
    period = _number(repeat.get("period", 1))
    per_day = PER_DAY.get(str(repeat.get("periodUnit", "d")))
    if frequency is None or period is None or period <= 0 or per_day is None:
        return None
    return amount * factor * frequency * per_day / period


def daily_dose_mg(resource: Resource) -> float | None:
    """Total mg per day over the dosage instructions (None if any of them does not say)."""
    dosages = _dicts(resource.get("dosageInstruction") or resource.get("dosage"))
    if not dosages:
        return None
    doses = [_dose_mg(d) for d in dosages]
    if any(d is None for d in doses):
        return None
    return round(sum(d for d in doses if d is not None), 6)


def reference_of(resource: Resource, fallback: str | None = None) -> str:
    """``Type/id`` of a resource (``fallback`` when it has no id)."""
    rid = resource.get("id")
    if isinstance(rid, str) and rid:
        return f"{resource.get('resourceType')}/{rid}"
    return fallback or f"{resource.get('resourceType')}/?"


def drug_item(
    resource: Resource, medications: Mapping[str, Resource], *, draft: bool, ref: str | None = None
) -> DrugItem:
    """The DrugItem of one MedicationRequest or MedicationStatement."""
    codes, text = medication_codes(resource, medications)
    return DrugItem(
        ref=ref or reference_of(resource),
        codes=codes,
        text=text,
        draft=draft,
        daily_dose_mg=daily_dose_mg(resource),
    )


def is_current(resource: Resource) -> bool:
    kind, status = resource.get("resourceType"), resource.get("status")
    if kind == "MedicationRequest":
        return status in CURRENT_REQUEST
    return kind == "MedicationStatement" and status in CURRENT_STATEMENT


def current_items(resources: Iterable[Resource], medications: Mapping[str, Resource]) -> list[DrugItem]:
    """The patient's current drugs among ``resources`` (each once, by reference). A
    MedicationStatement ``basedOn`` a current MedicationRequest among them records the taking of
    that order: the same treatment, counted once (as the order)."""
    resources = list(resources)
    orders = {
        reference_of(r)
        for r in resources
        if r.get("resourceType") == "MedicationRequest" and is_current(r) and isinstance(r.get("id"), str)
    }
    items: dict[str, DrugItem] = {}
    for resource in resources:
        if resource.get("resourceType") == "MedicationStatement" and any(
            isinstance(b, dict) and b.get("reference") in orders for b in resource.get("basedOn") or []
        ):
            continue
        if is_current(resource):
            item = drug_item(resource, medications, draft=False)
            items.setdefault(item.ref, item)
    return list(items.values())


# --- the patient ---------------------------------------------------------------------------------
def _birth(text: Any) -> date | None:
    if not isinstance(text, str):
        return None
    parts = text[:10].split("-")
    try:
        if len(parts) == 1:
            return date(int(parts[0]), 7, 1)
        if len(parts) == 2:
            return date(int(parts[0]), int(parts[1]), 15)
        return date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        return None


def age_years(patient: Resource, today: date) -> float | None:
    born = _birth(patient.get("birthDate"))
    if born is None or born > today:
        return None
    return round((today - born).days / 365.25, 2)


def _when(resource: Resource) -> str:
    """When an Observation holds (ISO text, compared as text: fine within one time zone)."""
    for name in ("effectiveDateTime", "effectiveInstant", "issued"):
        if isinstance(resource.get(name), str):
            return str(resource[name])
    period = resource.get("effectivePeriod")
    if isinstance(period, dict):
        return str(period.get("end") or period.get("start") or "")
    return ""


def _has_code(resource: Resource, system: str, codes: Iterable[str]) -> bool:
    wanted = set(codes)
    return any(c.system == system and c.code in wanted for c in codings(resource.get("code")))


def _latest(observations: list[Resource], system: str, codes: Iterable[str]) -> Resource | None:
    wanted = frozenset(codes)
    found = [o for o in observations if _has_code(o, system, wanted)]
    return max(found, key=_when) if found else None


def _quantity(observation: Resource) -> tuple[float, str] | None:
    quantity = observation.get("valueQuantity")
    if not isinstance(quantity, dict):
        return None
    value = _number(quantity.get("value"))
    unit = quantity.get("code") or quantity.get("unit") or ""
    return (value, str(unit).strip()) if value is not None else None


def weight_kg(observations: list[Resource]) -> float | None:
    latest = _latest(observations, LOINC, WEIGHT_CODES)
    found = _quantity(latest) if latest else None
    if found is None:
        return None
    value, unit = found
    factor = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237}.get(unit or "kg")
    return round(value * factor, 3) if factor is not None else None


def creatinine_umol_l(observations: list[Resource]) -> float | None:
    """The latest serum creatinine in µmol/L (mg/dL × 88.42)."""
    latest = _latest(observations, LOINC, (CREATININE_MASS, CREATININE_MOLES))
    found = _quantity(latest) if latest else None
    if latest is None or found is None:
        return None
    value, unit = found
    mass = _has_code(latest, LOINC, (CREATININE_MASS,))
    unit = unit.replace("µ", "u").replace("μ", "u") or ("mg/dL" if mass else "umol/L")
    factor = {"mg/dL": UMOL_PER_MG_DL, "mg/L": UMOL_PER_MG_DL / 10, "umol/L": 1.0, "mmol/L": 1000.0}.get(unit)
    return round(value * factor, 2) if factor is not None else None


def _value_codes(observation: Resource) -> set[tuple[str, str]]:
    return {(c.system, c.code) for c in codings(observation.get("valueCodeableConcept"))}


def _active(condition: Resource) -> bool:
    clinical = {c.code for c in codings(condition.get("clinicalStatus"))}
    verified = {c.code for c in codings(condition.get("verificationStatus"))}
    if clinical and not clinical & {"active", "recurrence", "relapse"}:
        return False
    return not verified & {"refuted", "entered-in-error"}


def _condition_says(
    conditions: list[Resource], snomed: frozenset[str], icd_prefixes: tuple[str, ...]
) -> bool:
    for condition in conditions:
        if not _active(condition):
            continue
        for c in codings(condition.get("code")):
            if (c.system == SNOMED and c.code in snomed) or (
                c.system in ICD10 and c.code.startswith(icd_prefixes)
            ):
                return True
    return False


def _status(observations: list[Resource], code: str, yes: frozenset[Any], no: frozenset[Any]) -> bool | None:
    latest = _latest(observations, LOINC, (code,))
    if latest is None:
        return None
    if isinstance(latest.get("valueBoolean"), bool):
        return bool(latest["valueBoolean"])
    values = _value_codes(latest)
    return True if values & yes else False if values & no else None


def pregnant(observations: list[Resource], conditions: list[Resource]) -> bool | None:
    said = _status(observations, PREGNANCY_STATUS, PREGNANT | YES, NOT_PREGNANT | NO)
    if said is not None:
        return said
    return True if _condition_says(conditions, frozenset({"77386006"}), ("Z33", "Z34", "Z35")) else None


def breastfeeding(observations: list[Resource], conditions: list[Resource]) -> bool | None:
    said = _status(observations, BREASTFEEDING_STATUS, YES, NO)
    if said is not None:
        return said
    return True if _condition_says(conditions, BREASTFEEDING_CONDITIONS, ()) else None


def allergy_facts(allergies: Iterable[Resource]) -> tuple[AllergyFact, ...]:
    out = []
    for allergy in allergies:
        clinical = {c.code for c in codings(allergy.get("clinicalStatus"))}
        verified = {c.code for c in codings(allergy.get("verificationStatus"))}
        if clinical & {"inactive", "resolved"} or verified & {"refuted", "entered-in-error"}:
            continue
        codes = list(codings(allergy.get("code")))
        for reaction in _dicts(allergy.get("reaction")):
            codes.extend(c for c in codings(reaction.get("substance")) if c not in codes)
        text = concept_text(allergy.get("code"))
        if codes or text:
            out.append(AllergyFact(codes=tuple(codes), text=text))
    return tuple(out)


def _usable(resource: Resource) -> bool:
    return resource.get("status") not in ("entered-in-error", "cancelled")


def patient_facts(patient: Resource | None, resources: Iterable[Resource], today: date) -> PatientFacts:
    """The facts about a patient from its Patient resource and its other resources (Observation,
    Condition, AllergyIntolerance; others are ignored)."""
    by_type: dict[str, list[Resource]] = {}
    for resource in resources:
        by_type.setdefault(str(resource.get("resourceType")), []).append(resource)
    observations = [o for o in by_type.get("Observation", []) if _usable(o)]
    conditions = by_type.get("Condition", [])
    gender = patient.get("gender") if patient else None
    return PatientFacts(
        age_years=age_years(patient, today) if patient else None,
        sex=gender if gender in ("male", "female") else None,
        weight_kg=weight_kg(observations),
        pregnant=pregnant(observations, conditions),
        breastfeeding=breastfeeding(observations, conditions),
        creatinine_umol_l=creatinine_umol_l(observations),
        allergies=allergy_facts(by_type.get("AllergyIntolerance", [])),
    )
