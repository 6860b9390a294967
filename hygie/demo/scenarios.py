"""Stories beyond the routine chart: hospital stays with a bed, emergency visits, deteriorating
inpatients, pregnancies and births.

Deteriorating inpatients get vital signs every four hours for the last 48 hours drifting the way
an early-warning score (NEWS2, Royal College of Physicians 2017) notices: rising respiratory rate
and pulse, falling SpO2 and systolic pressure, fever. Every current inpatient has a ``CareTeam``
naming the ward (Organization) and its nurse, so ward staff see them under the access policy
(hygie/auth/policy.py). https://hl7.org/fhir/R4/encounter.html, careteam.html, relatedperson.html.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from hygie.demo.clinical import Chart, add_condition, blood_pressure, encounter, lab, prescribe, vital
from hygie.demo.common import LOINC, ROLE_CODE, SNOMED, category, coding, concept, instant, quantity
from hygie.demo.people import Person
from hygie.monitoring.news2 import Vitals, score
from hygie.monitoring.news2_fhir import score_observation

# value at the start and at the end of the last 48 hours: rr, spo2, sbp, hr, temp
TRAJECTORIES = {
    "stable": ((16, 16), (97, 97), (125, 125), (76, 76), (36.8, 36.8)),
    "sepsis": ((16, 28), (97, 91), (128, 88), (82, 128), (37.1, 39.4)),
    "respiratory": ((18, 31), (93, 85), (135, 118), (88, 118), (37.0, 37.8)),
}
STAY_REASONS = {"sepsis": "sepsis", "respiratory": "copd_exacerbation", "stable": "pneumonia"}
HOSPITAL_STAY = ("32485007", "Hospital admission")
EMERGENCY_VISIT = ("50849002", "Emergency room admission")


def _series(c: Chart, trajectory: str, enc: str, start: datetime) -> None:
    rr, spo2, sbp, hr, temp = TRAJECTORIES[trajectory]
    first = max(start, c.now - timedelta(hours=48))
    steps = max(1, int((c.now - first).total_seconds() // (4 * 3600)))
    for step in range(steps + 1):
        when = first + timedelta(hours=4 * step)
        if when > c.now:
            break
        f = step / steps

        def at(pair: tuple[float, float], noise: float, f: float = f) -> float:
            return pair[0] + (pair[1] - pair[0]) * f + c.rng.gauss(0, noise)

        values = (round(at(rr, 0.8)), min(100, round(at(spo2, 0.6))), round(at(sbp, 3)), round(at(hr, 2)),
                  round(at(temp, 0.1), 1))  # fmt: skip
        refs = [
            vital(c, "rr", values[0], when, enc),
            vital(c, "spo2", values[1], when, enc),
            blood_pressure(c, values[2], round(at(sbp, 2) * 0.62), when, enc),
            vital(c, "hr", values[3], when, enc),
            vital(c, "temp", values[4], when, enc),
        ]
        _news2(c, trajectory, values, refs, when, enc)


def _news2(
    c: Chart, trajectory: str, values: tuple[float, ...], refs: list[str], when: datetime, enc: str
) -> None:
    """The nurse's NEWS2 at each round (RCP 2017; hygie/monitoring/news2.py): alert, on room air
    (a COPD patient on oxygen, SpO2 Scale 2), stored as the public contract's Observation."""
    copd = trajectory == "respiratory"
    vitals = Vitals(
        respiratory_rate=values[0], spo2=values[1], on_oxygen=copd, systolic_bp=values[2], pulse=values[3],
        consciousness="A", temperature=values[4], spo2_scale=2 if copd else 1,
    )  # fmt: skip
    obs = score_observation(score(vitals), [], "fr")
    obs.pop("issued")
    obs["subject"] = {"reference": c.p.ref}
    obs["encounter"] = {"reference": enc}
    obs["effectiveDateTime"] = instant(when)
    obs["derivedFrom"] = [{"reference": ref} for ref in refs]
    c.b.post(obs)


def inpatient_now(c: Chart, ward: str, bed: str, trajectory: str) -> str:
    """A stay in progress, in ``bed`` of ``ward``, with its care team, vitals, labs and drugs."""
    start = c.now - timedelta(hours=c.rng.randint(50, 120))
    service = c.t.services[ward]
    doctor = next(s for s in c.t.staff[ward] if s.endswith("-md"))
    reason = add_condition(c, STAY_REASONS[trajectory], 0, active=True)
    enc = encounter(
        c,
        "IMP",
        start,
        None,
        status="in-progress",
        provider=service,
        practitioner=doctor,
        location=bed,
        reason=reason,
        type_code=HOSPITAL_STAY,
    )
    members = [f"Organization/{service}", *(f"Practitioner/{s}" for s in c.t.staff[ward])]
    c.b.post(
        {
            "resourceType": "CareTeam",
            "status": "active",
            "name": "Équipe de séjour",
            "subject": {"reference": c.p.ref},
            "encounter": {"reference": enc},
            "period": {"start": instant(start)},
            "participant": [{"member": {"reference": m}} for m in members],
            "managingOrganization": [{"reference": f"Organization/{service}"}],
        }
    )
    if trajectory == "respiratory":  # BTS 2017: target 88-92 % at risk of hypercapnic failure
        c.b.post(
            {
                "resourceType": "Goal",
                "lifecycleStatus": "active",
                "description": {"text": "SpO2 cible 88-92 % (BPCO, risque d'hypercapnie ; BTS 2017)"},
                "subject": {"reference": c.p.ref},
                "startDate": instant(start)[:10],
                "expressedBy": {"reference": f"Practitioner/{doctor}"},
                "target": [
                    {
                        "measure": concept(coding(LOINC, "59408-5", "Oxygen saturation by pulse oximetry")),
                        "detailRange": {"low": quantity(88, "%"), "high": quantity(92, "%")},
                    }
                ],
            }
        )
    _series(c, trajectory, enc, start)
    sick = trajectory != "stable"
    for test in ("crp", "leukocytes", "lactate", "creatinine"):
        lab(c, test, start + timedelta(hours=2), sick=sick and test != "creatinine")
    if trajectory in ("sepsis", "stable"):
        prescribe(c, "CEFTRIAXONE", reason, 0, requester=doctor, statement=False, encounter=enc)
    prescribe(c, "PARACETAMOL", reason, 0, requester=doctor, statement=False, encounter=enc)
    return enc


def past_stay(c: Chart, ward: str, bed: str) -> str:
    """A finished stay months ago (pneumonia, treated)."""
    days_ago = c.rng.randint(60, 700)
    start = c.day(days_ago, 14)
    doctor = next(s for s in c.t.staff[ward] if s.endswith("-md"))
    reason = add_condition(c, "pneumonia", days_ago, active=False)
    enc = encounter(
        c,
        "IMP",
        start,
        start + timedelta(days=c.rng.randint(3, 8)),
        provider=c.t.services[ward],
        practitioner=doctor,
        location=bed,
        reason=reason,
        type_code=HOSPITAL_STAY,
    )
    vital(c, "temp", round(c.rng.gauss(38.6, 0.3), 1), start, enc)
    prescribe(
        c,
        "AMOXICILLINE",
        reason,
        days_ago,
        requester=doctor,
        status="completed",
        statement=False,
        encounter=enc,
    )
    return enc


def emergency_visit(c: Chart) -> str:
    days_ago = c.rng.randint(5, 400)
    start = c.day(days_ago, c.rng.randint(0, 23))
    key = c.rng.choice(("sprain", "gastroenteritis"))
    reason = add_condition(c, key, days_ago, active=False)
    doctor = c.t.staff["urgences"][0]
    enc = encounter(
        c,
        "EMER",
        start,
        start + timedelta(hours=c.rng.randint(2, 7)),
        provider=c.t.services["urgences"],
        practitioner=doctor,
        location=c.t.wards["urgences"],
        reason=reason,
        type_code=EMERGENCY_VISIT,
    )
    vital(c, "hr", round(c.rng.gauss(88, 8)), start, enc)
    vital(c, "temp", round(c.rng.gauss(37.2, 0.4), 1), start, enc)
    prescribe(c, "PARACETAMOL", reason, days_ago, requester=doctor, status="completed", statement=False)
    return enc


def pregnancy(c: Chart, weeks: int) -> None:
    """An ongoing pregnancy of ``weeks`` weeks of amenorrhoea: condition, status, due date."""
    onset = weeks * 7
    reason = add_condition(c, "pregnancy", onset - 14)
    due = c.today + timedelta(days=280 - onset)
    when = c.day(c.rng.randint(1, 20))
    c.b.post(
        {
            "resourceType": "Observation",
            "status": "final",
            "category": category("social-history"),
            "code": concept(coding(LOINC, "82810-3", "Pregnancy status")),
            "subject": {"reference": c.p.ref},
            "effectiveDateTime": instant(when),
            "valueCodeableConcept": concept(coding(SNOMED, "77386006", "Pregnant")),
        }
    )
    c.b.post(
        {
            "resourceType": "Observation",
            "status": "final",
            "category": category("exam"),
            "code": concept(coding(LOINC, "11778-8", "Delivery date Estimated")),
            "subject": {"reference": c.p.ref},
            "effectiveDateTime": instant(when),
            "valueDateTime": due.isoformat(),
        }
    )
    prescribe(c, "ACIDE FOLIQUE", reason, onset - 20)


def delivery(c: Chart, born: datetime) -> None:
    """The mother's side of a birth: the stay in the maternity ward and the delivery."""
    bed = c.t.bed("maternite", c.p.index)
    midwife = next(s for s in c.t.staff["maternite"] if s.endswith("-midwife"))
    days_ago = (c.today - born.date()).days
    reason = add_condition(c, "delivery", days_ago, active=False)
    encounter(
        c,
        "IMP",
        born - timedelta(hours=6),
        born + timedelta(days=3),
        provider=c.t.services["maternite"],
        practitioner=midwife,
        location=bed,
        reason=reason,
        type_code=HOSPITAL_STAY,
    )


def newborn(c: Chart, mother: Person, born: datetime) -> dict[str, Any]:
    """The baby's side: birth condition and weight, and the mother as a RelatedPerson."""
    add_condition(c, "newborn", (c.today - born.date()).days)
    c.b.post(
        {
            "resourceType": "Observation",
            "status": "final",
            "category": category("vital-signs"),
            "code": concept(coding(LOINC, "8339-4", "Birth weight Measured")),
            "subject": {"reference": c.p.ref},
            "effectiveDateTime": instant(born),
            "valueQuantity": quantity(round(c.rng.gauss(3350, 400)), "g"),
        }
    )
    related = {
        "resourceType": "RelatedPerson",
        "id": f"{c.p.id}-mere",
        "active": True,
        "patient": {"reference": c.p.ref},
        "relationship": [concept(coding(ROLE_CODE, "MTH", "mother"))],
        "name": [{"family": mother.family.upper(), "given": [mother.given]}],
        "gender": "female",
        "birthDate": mother.birth.isoformat(),
    }
    c.b.put(related)
    return related
