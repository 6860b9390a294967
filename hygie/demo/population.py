"""The synthetic French demo population, generated patient by patient.

:func:`demo_bundles` yields FHIR transaction Bundles: first the territory
(:mod:`hygie.demo.territory`), then the patients in chunks of ``per_bundle``. Each patient (or a
mother with her newborn) has its own random generator seeded from ``(seed, index)``, so the
population never sits in memory, patient 7 is the same whatever ``--patients`` says, and the same
``seed`` and ``now`` always give the same Bundles. Every date is relative to ``now`` (the loader
passes the current time, so "the last seven days" of device streams are recent).

Roles by index (so small populations already show everything):

- index 0: the demo patient account's record (type 2 diabetes, hypertension, smartwatch, CGM);
- ``index % 250`` = 2, 4, 6, 8: deteriorating patients (:data:`SCENARIOS`);
- ``index % 50`` = 10 and 11: a mother and her newborn; ``index % 50`` = 20: a pregnant woman;
- ``index % 25`` = 13: a current inpatient (stable), in one of the wards, in their own bed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hygie.demo import clinical, documents, scenarios, streams
from hygie.demo.common import DEMO_TAG, Builder, transaction
from hygie.demo.people import Person, patient_id, patient_resource, person
from hygie.demo.territory import (
    HOSPITAL_STAFF,
    INPATIENTS_EVERY,
    PRACTICES,
    SCENARIO_EVERY,
    Territory,
    make_territory,
    territory_entries,
)

__all__ = ["DEMO_TAG", "SCENARIOS", "demo_bundles", "deteriorating", "patient_bundles"]

REFERENCE_NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)  # fixed `now` of tests and examples
SCENARIOS = {2: "sepsis", 4: "respiratory", 6: "hypoglycaemia", 8: "hyperglycaemia"}
FAMILY_EVERY, MOTHER_AT, PREGNANT_AT = 50, 10, 20
YEAR = 365


@dataclass(frozen=True)
class Deteriorating:
    patient: str
    kind: str


def scenario(index: int) -> str | None:
    return SCENARIOS.get(index % SCENARIO_EVERY)


def deteriorating(patients: int) -> list[Deteriorating]:
    """The deteriorating patients of a population of ``patients`` (ids and kinds)."""
    return [Deteriorating(patient_id(i), kind) for i in range(patients) if (kind := scenario(i))]


def _forced(index: int) -> tuple[bool | None, tuple[int, int] | None, list[str]]:
    """(female, age range in days, conditions) imposed by the index's role."""
    kind = scenario(index)
    if index == 0:
        return True, (55 * YEAR, 62 * YEAR), ["diabetes_t2", "hypertension"]
    if kind == "sepsis":
        return None, (72 * YEAR, 88 * YEAR), ["hypertension"]
    if kind == "respiratory":
        return None, (60 * YEAR, 80 * YEAR), ["copd"]
    if kind == "hypoglycaemia":
        return None, (20 * YEAR, 40 * YEAR), ["diabetes_t1"]
    if kind == "hyperglycaemia":
        return None, (50 * YEAR, 70 * YEAR), ["diabetes_t2"]
    if index % FAMILY_EVERY == MOTHER_AT:
        return True, (24 * YEAR, 38 * YEAR), []
    if index % FAMILY_EVERY == PREGNANT_AT:
        return True, (25 * YEAR, 38 * YEAR), []
    return None, None, []


def _rng(seed: int, index: int) -> random.Random:
    return random.Random(f"hygie-demo:{seed}:{index}")  # noqa: S311 (synthetic data, not security)


def _chart(b: Builder, rng: random.Random, t: Territory, p: Person, now: datetime) -> clinical.Chart:
    practice = t.practices[p.practice]
    gp = practice.gps[(p.index // len(t.practices)) % len(practice.gps)]
    return clinical.Chart(b, rng, p, now, t, gp, practice.org)


def _gp_name(gp: str) -> str:
    for key, _name, _city, _postal, *gps in PRACTICES:
        for n, (given, family) in enumerate(gps, start=1):
            if gp == f"demo-pr-{key}-{n}":
                return f"Dr {given} {family}"
    return "Dr"


def _routine(c: clinical.Chart, forced: list[str]) -> None:
    age = c.p.age(c.today)
    keys = list(dict.fromkeys([*forced, *clinical.draw_conditions(c.rng, c.p, age)]))
    if "diabetes_t1" in keys and "diabetes_t2" in keys:
        keys.remove("diabetes_t2")
    c.p.conditions = keys
    clinical.chronic(c, keys)
    clinical.allergies(c)
    clinical.immunizations(c)
    visits = clinical.gp_visits(c)
    clinical.lab_panels(c)
    if visits:
        last = visits[-1]
        documents.consultation_letter(c, last, c.day(1), _gp_name(c.gp), pdf=c.rng.random() < 0.25)
    if c.rng.random() < 0.08:
        scenarios.emergency_visit(c)
    if age >= 50 and c.rng.random() < 0.05:
        ward = c.rng.choice(["medecine-interne", "pneumologie", "cardiologie"])
        scenarios.past_stay(c, ward, c.t.bed(ward, c.rng.randrange(c.t.beds_per_ward)))


def _hospital(c: clinical.Chart, kind: str | None) -> None:
    index = c.p.index
    if kind in ("sepsis", "respiratory"):
        block = index // SCENARIO_EVERY
        bed = c.t.bed("medecine-interne", c.t.regular_beds + 2 * block + (0 if kind == "sepsis" else 1))
        scenarios.inpatient_now(c, "medecine-interne", bed, kind)
    elif index % INPATIENTS_EVERY == 13:
        k = index // INPATIENTS_EVERY
        wards = [w for w in c.t.ward_keys if w not in ("maternite",)]
        ward = wards[k % len(wards)]
        scenarios.inpatient_now(c, ward, c.t.bed(ward, k // len(wards)), "stable")


def _devices(c: clinical.Chart, kind: str | None) -> None:
    diabetic = next((k for k in ("diabetes_t1", "diabetes_t2") if k in c.conditions), None)
    glucose = None
    if kind == "hypoglycaemia":
        glucose = "hypo"
    elif kind == "hyperglycaemia":
        glucose = "hyper"
    elif diabetic:
        glucose = "t1" if diabetic == "diabetes_t1" else "t2"
    adult = c.p.age(c.today) >= 18
    watch = c.p.index == 0 or kind in ("hypoglycaemia", "hyperglycaemia") or (adult and c.rng.random() < 0.12)
    bp = "hypertension" in c.conditions and c.rng.random() < 0.3
    streams.streams_for(c, wears_watch=watch, wears_bp=bp, glucose=glucose)


def _one(
    b: Builder, seed: int, index: int, t: Territory, now: datetime
) -> tuple[clinical.Chart, dict[str, Any]]:
    rng = _rng(seed, index)
    female, ages, forced = _forced(index)
    p = person(rng, index, index % len(t.practices), now, female=female, age_days=ages)
    c = _chart(b, rng, t, p, now)
    resource = patient_resource(rng, p, c.gp, c.org)
    b.put(resource)
    _routine(c, forced)
    kind = scenario(index)
    _hospital(c, kind)
    _devices(c, kind)
    if index % FAMILY_EVERY == PREGNANT_AT:
        scenarios.pregnancy(c, rng.randint(8, 34))
    return c, resource


def _family(b: Builder, seed: int, index: int, t: Territory, now: datetime) -> None:
    """A mother (``index``) and her newborn (``index + 1``), in one unit."""
    mother_chart, mother_resource = _one(b, seed, index, t, now)
    mother = mother_chart.p
    rng = _rng(seed, index + 1)
    age = rng.randint(2, 25)
    born = (now - timedelta(days=age)).replace(hour=rng.randint(0, 23), minute=rng.choice((5, 20, 40)))
    baby = person(rng, index + 1, mother.practice, now, age_days=(age, age))
    baby.family = mother.family
    c = _chart(b, rng, t, baby, now)
    c.gp, c.org = mother_chart.gp, mother_chart.org
    b.put(patient_resource(rng, baby, c.gp, c.org))
    related = scenarios.newborn(c, mother, born)
    mother_resource["link"] = [{"other": {"reference": f"RelatedPerson/{related['id']}"}, "type": "seealso"}]
    scenarios.delivery(mother_chart, born)
    clinical.immunizations(c)


def units(patients: int) -> Iterator[list[int]]:
    """Indices generated together: one patient, or a mother and her newborn."""
    index = 0
    while index < patients:
        if index % FAMILY_EVERY == MOTHER_AT and index + 1 < patients:
            yield [index, index + 1]
            index += 2
        else:
            yield [index]
            index += 1


def unit_entries(seed: int, indices: list[int], t: Territory, now: datetime) -> list[dict[str, Any]]:
    b = Builder(_rng(seed, -1 - indices[0]))
    if len(indices) == 2:
        _family(b, seed, indices[0], t, now)
    else:
        _one(b, seed, indices[0], t, now)
    return b.entries


def patient_bundles(
    patients: int, seed: int, now: datetime, *, per_bundle: int = 25
) -> Iterator[dict[str, Any]]:
    """Transaction Bundles of about ``per_bundle`` patients each."""
    t = make_territory(patients)
    entries: list[dict[str, Any]] = []
    count = 0
    for indices in units(patients):
        entries.extend(unit_entries(seed, indices, t, now))
        count += len(indices)
        if count >= per_bundle:
            yield transaction(entries)
            entries, count = [], 0
    if entries:
        yield transaction(entries)


def demo_bundles(
    patients: int, seed: int, now: datetime | None = None, *, per_bundle: int = 25
) -> Iterator[dict[str, Any]]:
    """The territory Bundle, then the patients' Bundles (same seed and ``now`` → same content)."""
    yield transaction(territory_entries(make_territory(patients)))
    yield from patient_bundles(patients, seed, now or REFERENCE_NOW, per_bundle=per_bundle)


def staff_ids() -> list[str]:
    return [f"demo-pr-{s[0]}-{s[5]}" for s in HOSPITAL_STAFF]
