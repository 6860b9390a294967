"""A patient's chart: conditions, treatments, allergies, vaccinations, GP visits, labs, letters.

Knowledge comes from the data files beside this module (ARCHITECTURE principle 6), each with its
source: ``conditions.json`` (CIM-10/ICD-10 and SNOMED CT codes, prevalence by age band and sex),
``drugs.json`` (BDPM specialities with CIS and ATC, built by :mod:`hygie.demo.build_drugs`),
``labs.json`` (LOINC, French units, reference ranges), ``vaccines.json`` (French schedule).
FHIR resources: https://hl7.org/fhir/R4/condition.html, medicationrequest.html,
medicationstatement.html, allergyintolerance.html, immunization.html, encounter.html,
observation.html (vital signs profile: https://hl7.org/fhir/R4/observation-vitalsigns.html),
diagnosticreport.html.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from hygie.demo.common import (
    ACT_CODE,
    ATC,
    CIS,
    CONDITION_CATEGORY,
    CONDITION_CLINICAL,
    ICD10,
    LOINC,
    SNOMED,
    Builder,
    category,
    coding,
    concept,
    data,
    instant,
    quantity,
)
from hygie.demo.people import Person
from hygie.demo.territory import Territory

ENCOUNTER_STATUS_FINISHED = "finished"


@dataclass
class Chart:
    """Everything the generators of one patient share."""

    b: Builder
    rng: random.Random
    p: Person
    now: datetime
    t: Territory
    gp: str
    org: str
    conditions: dict[str, str] = field(default_factory=dict)  # key → urn of the Condition
    drugs: list[str] = field(default_factory=list)  # substances prescribed

    @property
    def today(self) -> date:
        return self.now.date()

    def day(self, days_ago: int, hour: int = 9) -> datetime:
        """``days_ago`` days before now, at a plausible consultation time."""
        moment = datetime.combine(
            self.today - timedelta(days=days_ago), time(hour, self.rng.choice((0, 15, 30, 45)))
        )
        return moment.replace(tzinfo=self.now.tzinfo)


def condition_info(key: str) -> dict[str, Any]:
    table = data("conditions")
    for item in table["conditions"]:
        if item["key"] == key:
            return dict(item)
    return dict(table["acute"][key])


def band(age: int) -> str:
    for name in data("conditions")["bands"]:
        low, _, high = name.partition("-")
        if age >= int(low.rstrip("+")) and (not high or age <= int(high)):
            return str(name)
    return "75+"


def draw_conditions(rng: random.Random, p: Person, age: int) -> list[str]:
    """Chronic conditions, each drawn with its prevalence for the person's age band and sex."""
    sex, group = ("female" if p.female else "male"), band(age)
    found = [c["key"] for c in data("conditions")["conditions"] if rng.random() < c["prevalence"][sex][group]]
    if "diabetes_t1" in found and "diabetes_t2" in found:
        found.remove("diabetes_t2")
    return found


def add_condition(
    c: Chart, key: str, onset_days: int, *, active: bool = True, encounter: str | None = None
) -> str:
    info = condition_info(key)
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "clinicalStatus": concept(coding(CONDITION_CLINICAL, "active" if active else "resolved")),
        "category": [
            concept(coding(CONDITION_CATEGORY, "problem-list-item" if active else "encounter-diagnosis"))
        ],
        "code": concept(
            coding(ICD10, info["icd10"], info["icd10_display"]),
            coding(SNOMED, info["snomed"], info["display_en"]),
            text=info["display_fr"],
        ),
        "subject": {"reference": c.p.ref},
        "onsetDateTime": c.day(onset_days).date().isoformat(),
        "recordedDate": instant(c.day(max(0, onset_days - 1))),
    }
    if encounter:
        resource["encounter"] = {"reference": encounter}
    if not active:
        resource["abatementDateTime"] = c.day(max(0, onset_days - 10)).date().isoformat()
    urn = c.b.post(resource)
    c.conditions[key] = urn
    return urn


def drug_for(rng: random.Random, substance: str) -> dict[str, Any]:
    choices = [d for d in data("drugs")["drugs"] if d["substance"] == substance]
    return dict(rng.choice(choices))


def medication_concept(drug: dict[str, Any]) -> dict[str, Any]:
    return concept(coding(CIS, drug["cis"], drug["name"]), coding(ATC, drug["atc"]), text=drug["name"])


def prescribe(
    c: Chart,
    substance: str,
    reason: str | None,
    authored_days: int,
    *,
    requester: str | None = None,
    status: str = "active",
    statement: bool = True,
    encounter: str | None = None,
) -> str:
    """A MedicationRequest for a BDPM speciality of ``substance`` (and the patient's statement)."""
    drug = drug_for(c.rng, substance)
    request: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": medication_concept(drug),
        "subject": {"reference": c.p.ref},
        "authoredOn": instant(c.day(authored_days)),
        "requester": {"reference": f"Practitioner/{requester or c.gp}"},
        "dosageInstruction": [{"text": drug["dose"]}],
    }
    if reason:
        request["reasonReference"] = [{"reference": reason}]
    if encounter:
        request["encounter"] = {"reference": encounter}
    urn = c.b.post(request)
    c.drugs.append(substance)
    if statement:
        c.b.post(
            {
                "resourceType": "MedicationStatement",
                "status": "active" if status == "active" else "completed",
                "medicationCodeableConcept": medication_concept(drug),
                "subject": {"reference": c.p.ref},
                "basedOn": [{"reference": urn}],
                "effectivePeriod": {"start": c.day(authored_days).date().isoformat()},
                "dateAsserted": instant(c.day(max(0, authored_days - 30))),
                "dosage": [{"text": drug["dose"]}],
            }
        )
    return urn


def chronic(c: Chart, keys: list[str]) -> None:
    """Conditions with their usual treatment (one substance per ``A|B`` alternative)."""
    age_days = c.p.age_days(c.today)
    for key in keys:
        onset = c.rng.randint(60, max(61, min(age_days - 1, 15 * 365)))
        reason = add_condition(c, key, onset)
        for spec in condition_info(key)["drugs"]:
            substance = c.rng.choice(spec.split("|"))
            if substance not in c.drugs:
                prescribe(c, substance, reason, c.rng.randint(5, 80))


def allergies(c: Chart) -> None:
    for item in data("conditions")["allergies"]:
        if c.rng.random() >= item["share"]:
            continue
        c.b.post(
            {
                "resourceType": "AllergyIntolerance",
                "clinicalStatus": concept(
                    coding("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active")
                ),
                "verificationStatus": concept(
                    coding(
                        "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed"
                    )
                ),
                "type": "allergy",
                "category": [item["category"]],
                "code": concept(coding(SNOMED, item["snomed"], item["display_en"]), text=item["display_fr"]),
                "patient": {"reference": c.p.ref},
                "recordedDate": instant(c.day(c.rng.randint(30, 3000))),
                "reaction": [{"manifestation": [concept(text=item["reaction"])]}],
            }
        )


def immunizations(c: Chart) -> None:
    """Vaccinations of the French schedule already due at the patient's age (most given)."""
    table = data("vaccines")
    age_days = c.p.age_days(c.today)
    given: list[tuple[int, dict[str, Any]]] = []
    for vaccine in table["schedule"]:
        for months in vaccine["ages_months"]:
            days_after_birth = int(months * 30.44)
            if days_after_birth <= age_days and age_days - days_after_birth < 40 * 365:
                given.append((age_days - days_after_birth, vaccine))
    age = c.p.age(c.today)
    for vaccine in table["seasonal"]:
        if age >= vaccine["from_age_years"]:
            given.append((c.rng.randint(30, 60), vaccine))
    for vaccine in table["adult_once"]:
        if age >= vaccine["from_age_years"] + 1 and c.rng.random() < 0.4:
            given.append((c.rng.randint(60, 300), vaccine))
    for days_ago, vaccine in given:
        if c.rng.random() < 0.08:  # not everyone is up to date
            continue
        c.b.post(
            {
                "resourceType": "Immunization",
                "status": "completed",
                "vaccineCode": concept(
                    coding(ATC, vaccine["atc"], vaccine["display"]), text=vaccine["display"]
                ),
                "patient": {"reference": c.p.ref},
                "occurrenceDateTime": instant(c.day(max(0, days_ago))),
                "primarySource": True,
                "performer": [{"actor": {"reference": f"Practitioner/{c.gp}"}}],
            }
        )


def encounter(
    c: Chart,
    cls: str,
    start: datetime,
    end: datetime | None,
    *,
    status: str = ENCOUNTER_STATUS_FINISHED,
    provider: str | None = None,
    practitioner: str | None = None,
    location: str | None = None,
    reason: str | None = None,
    type_code: tuple[str, str] = ("11429006", "Consultation"),
) -> str:
    names = {"AMB": "ambulatory", "EMER": "emergency", "IMP": "inpatient encounter"}
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": status,
        "class": coding(ACT_CODE, cls, names[cls]),
        "type": [concept(coding(SNOMED, *type_code))],
        "subject": {"reference": c.p.ref},
        "participant": [{"individual": {"reference": f"Practitioner/{practitioner or c.gp}"}}],
        "period": {"start": instant(start), **({"end": instant(end)} if end else {})},
        "serviceProvider": {"reference": f"Organization/{provider or c.org}"},
    }
    if location:
        resource["location"] = [
            {
                "location": {"reference": f"Location/{location}"},
                "status": "active" if end is None else "completed",
            }
        ]
    if reason:
        resource["reasonReference"] = [{"reference": reason}]
    return c.b.post(resource)


VITALS = {  # key: (LOINC, display, UCUM unit)
    "hr": ("8867-4", "Heart rate", "/min"),
    "rr": ("9279-1", "Respiratory rate", "/min"),
    "temp": ("8310-5", "Body temperature", "Cel"),
    "spo2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "%"),
    "weight": ("29463-7", "Body weight", "kg"),
    "height": ("8302-2", "Body height", "cm"),
}


def vital(
    c: Chart,
    key: str,
    value: float,
    when: datetime,
    encounter_ref: str | None = None,
    device: str | None = None,
) -> str:
    code, display, unit = VITALS[key]
    codings = [coding(LOINC, code, display)]
    if key == "spo2":
        codings.append(coding(LOINC, "2708-6", "Oxygen saturation in Arterial blood"))
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": category("vital-signs"),
        "code": concept(*codings),
        "subject": {"reference": c.p.ref},
        "effectiveDateTime": instant(when),
        "valueQuantity": quantity(value, unit),
    }
    if encounter_ref:
        resource["encounter"] = {"reference": encounter_ref}
    if device:
        resource["device"] = {"reference": device}
    return c.b.post(resource)


def blood_pressure(
    c: Chart,
    systolic: int,
    diastolic: int,
    when: datetime,
    encounter_ref: str | None = None,
    device: str | None = None,
) -> str:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": category("vital-signs"),
        "code": concept(coding(LOINC, "85354-9", "Blood pressure panel with all children optional")),
        "subject": {"reference": c.p.ref},
        "effectiveDateTime": instant(when),
        "component": [
            {
                "code": concept(coding(LOINC, "8480-6", "Systolic blood pressure")),
                "valueQuantity": quantity(systolic, "mm[Hg]"),
            },
            {
                "code": concept(coding(LOINC, "8462-4", "Diastolic blood pressure")),
                "valueQuantity": quantity(diastolic, "mm[Hg]"),
            },
        ],
    }
    if encounter_ref:
        resource["encounter"] = {"reference": encounter_ref}
    if device:
        resource["device"] = {"reference": device}
    return c.b.post(resource)


def gp_visits(c: Chart) -> list[str]:
    """One to four GP consultations over the last eighteen months, with vital signs."""
    age = c.p.age(c.today)
    hypertensive = "hypertension" in c.conditions
    found = []
    for days_ago in sorted({c.rng.randint(3, 540) for _ in range(c.rng.randint(1, 4))}, reverse=True):
        start = c.day(days_ago, c.rng.randint(8, 18))
        enc = encounter(c, "AMB", start, start + timedelta(minutes=20))
        found.append(enc)
        if age >= 16:
            base = 138 if hypertensive else 118 + age // 4
            blood_pressure(c, int(c.rng.gauss(base, 9)), int(c.rng.gauss(78, 7)), start, enc)
            weight = round(c.rng.gauss(76 if not c.p.female else 64, 11), 1)
        else:
            weight = round(max(3.2, 3.4 + age * 2.6 + c.rng.gauss(0, 1.5)), 1)
        vital(c, "hr", round(c.rng.gauss(72 if age >= 12 else 100, 8)), start, enc)
        vital(c, "weight", weight, start, enc)
    return found


def lab_value(c: Chart, key: str, sick: bool) -> tuple[dict[str, Any], float]:
    spec = data("labs")["labs"][key]
    mean, sd = (spec["sick_mean"], spec["sick_sd"]) if sick else (spec["mean"], spec["sd"])
    value = max(0.0, c.rng.gauss(mean, sd))
    digits = spec["decimals"]
    return spec, (round(value, digits) if digits else float(round(value)))


def lab(c: Chart, key: str, when: datetime, *, sick: bool = False) -> str:
    spec, value = lab_value(c, key, sick)
    shown: float | int = int(value) if spec["decimals"] == 0 else value
    low, high = spec["low"], spec["high"]
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": category("laboratory"),
        "code": concept(coding(LOINC, spec["loinc"], spec["display"]), text=spec["fr"]),
        "subject": {"reference": c.p.ref},
        "effectiveDateTime": instant(when),
        "issued": instant(when + timedelta(hours=6)),
        "performer": [{"reference": f"Organization/{c.t.lab}"}],
        "valueQuantity": quantity(shown, spec["unit"]),
    }
    ref_range: dict[str, Any] = {}
    if low is not None:
        ref_range["low"] = quantity(low, spec["unit"])
    if high is not None:
        ref_range["high"] = quantity(high, spec["unit"])
    if ref_range:
        resource["referenceRange"] = [ref_range]
        flag = "L" if low is not None and value < low else "H" if high is not None and value > high else "N"
        resource["interpretation"] = [
            concept(coding("http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", flag))
        ]
    return c.b.post(resource)


def lab_panels(c: Chart) -> None:
    """Blood tests: the follow-up labs of each condition, plus a routine check-up for adults."""
    wanted: dict[str, bool] = {}
    for key in c.conditions:
        info = condition_info(key)
        for test in info.get("labs", []):
            wanted[test] = True
    if c.p.age(c.today) >= 40 and c.rng.random() < 0.6:
        for test in data("labs")["routine"]:
            wanted.setdefault(test, False)
    if not wanted:
        return
    for days_ago in sorted({c.rng.randint(10, 120), c.rng.randint(150, 400)}):
        when = c.day(days_ago, 8)
        results = [
            {"reference": lab(c, test, when, sick=sick and c.rng.random() < 0.8)}
            for test, sick in sorted(wanted.items())
        ]
        c.b.post(
            {
                "resourceType": "DiagnosticReport",
                "status": "final",
                "category": [concept(coding("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB"))],
                "code": concept(coding(LOINC, "11502-2", "Laboratory report")),
                "subject": {"reference": c.p.ref},
                "effectiveDateTime": instant(when),
                "issued": instant(when + timedelta(hours=8)),
                "performer": [{"reference": f"Organization/{c.t.lab}"}],
                "result": results,
            }
        )
