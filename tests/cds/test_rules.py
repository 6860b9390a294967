"""Renal, pregnancy, maximum-dose, allergy and duplication rules: boundary tables from the data
files' sources (each row: the value on each side of a threshold)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from hygie.cds import rules
from hygie.cds.engine import check, load_knowledge
from hygie.cds.findings import Finding
from hygie.cds.model import ATC, AllergyFact, DrugCode, DrugItem, PatientFacts

KB = load_knowledge()
RENAL = {r["id"]: r for r in KB.rules["renal"]["rules"]}

# (rule, eGFR or clearance, level or None) — thresholds of renal.json, each side of each boundary
RENAL_TABLE = {
    "metformine": [(29.9, "CI"), (30, "PE"), (44.9, "PE"), (45, "APEC"), (59.9, "APEC"), (60, None)],
    "dabigatran": [(29.9, "CI"), (30, "PE"), (49.9, "PE"), (50, None)],
    "rivaroxaban": [(14.9, "AD"), (15, "PE"), (49.9, "PE"), (50, None)],
    "apixaban": [(14.9, "AD"), (15, "PE"), (29.9, "PE"), (30, None)],
    "edoxaban": [(14.9, "AD"), (15, "PE"), (50, "PE"), (51, None)],
    "enoxaparine": [(14.9, "AD"), (15, "PE"), (29.9, "PE"), (30, None)],
    "gabapentine": [(14.9, "PE"), (79.9, "PE"), (80, None)],
    "pregabaline": [(14.9, "PE"), (59.9, "PE"), (60, None)],
    "lithium": [(29.9, "CI"), (30, "PE"), (59.9, "PE"), (60, None)],
    "colchicine": [(29.9, "CI"), (30, "PE"), (49.9, "PE"), (50, None)],
}
RENAL_BOUNDARIES = [(rule, value, level) for rule, rows in RENAL_TABLE.items() for value, level in rows]


@pytest.mark.parametrize(("rule", "value", "level"), RENAL_BOUNDARIES)
def test_renal_band_boundaries(rule: str, value: float, level: str | None) -> None:
    band = rules.band_for(RENAL[rule], value)
    assert (band["level"] if band else None) == level


def test_every_renal_rule_cites_its_source() -> None:
    for rule in RENAL.values():
        assert rule["source"] and rule["edition"] and rule["bands"]


def drug(ref: str, text: str, dose: float | None = None) -> DrugItem:
    return DrugItem(ref=ref, codes=(), text=text, draft=True, daily_dose_mg=dose)


def only(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.kind == kind]


def test_renal_uses_the_metric_of_the_rule() -> None:
    # 85-year-old woman, 55 kg, creatinine 125 µmol/L: eGFR ≈ 35, clearance ≈ 25
    patient = PatientFacts(age_years=85, sex="female", weight_kg=55, creatinine_umol_l=125)
    dabigatran = only(check(KB, patient, [drug("a", "Pradaxa 110 mg")]), "renal")
    assert [(f.level, f.detail["metric"]) for f in dabigatran] == [("CI", "crcl")]
    assert dabigatran[0].detail["value"] == pytest.approx(25.2, abs=0.1)
    metformin = only(check(KB, patient, [drug("a", "Glucophage 1000 mg", 2000)]), "renal")
    assert [(f.level, f.detail["metric"]) for f in metformin] == [("PE", "egfr")]


def test_without_weight_the_clearance_falls_back_to_egfr() -> None:
    patient = PatientFacts(age_years=85, sex="female", creatinine_umol_l=125)
    [finding] = only(check(KB, patient, [drug("a", "Pradaxa 110 mg")]), "renal")
    assert finding.detail["metric"] == "egfr" and finding.detail["requested_metric"] == "crcl"


def test_no_renal_finding_without_creatinine() -> None:
    assert (
        only(check(KB, PatientFacts(age_years=85, sex="female"), [drug("a", "Pradaxa 110 mg")]), "renal")
        == []
    )


# (drug, weeks of amenorrhoea or None, level)
PREGNANCY = [
    ("Advil 400 mg", 23.9, "AD"),
    ("Advil 400 mg", 24, "CI"),
    ("Advil 400 mg", None, "AD"),
    ("Triatec 5 mg", 13.9, "AD"),
    ("Triatec 5 mg", 14, "CI"),
    ("Depakine 500 mg", 6, "CI"),
    ("Tahor 20 mg", 6, "CI"),
]


@pytest.mark.parametrize(("text", "weeks", "level"), PREGNANCY)
def test_pregnancy_boundaries(text: str, weeks: float | None, level: str) -> None:
    patient = PatientFacts(sex="female", pregnant=True, pregnancy_weeks=weeks)
    assert [f.level for f in only(check(KB, patient, [drug("a", text)]), "pregnancy")] == [level]


def test_no_pregnancy_flag_when_not_pregnant() -> None:
    patient = PatientFacts(sex="female", pregnant=False, pregnancy_weeks=30)
    assert only(check(KB, patient, [drug("a", "Advil 400 mg")]), "pregnancy") == []


def test_lactation() -> None:
    patient = PatientFacts(sex="female", breastfeeding=True)
    assert [f.level for f in only(check(KB, patient, [drug("a", "Cordarone 200 mg")]), "lactation")] == ["CI"]
    assert only(check(KB, patient, [drug("a", "Doliprane 1000 mg")]), "lactation") == []


# (drug, daily dose, patient, flagged)
ADULT = PatientFacts(age_years=40, weight_kg=70)
MAX_DOSE = [
    ("Doliprane 1000 mg", 4000, ADULT, False),
    ("Doliprane 1000 mg", 4001, ADULT, True),
    ("Doliprane 500 mg", 2400, replace(ADULT, weight_kg=40), False),
    ("Doliprane 500 mg", 2401, replace(ADULT, weight_kg=40), True),
    ("Doliprane 1000 mg", 4000, replace(ADULT, weight_kg=50), False),
    ("Atarax 25 mg", 100, replace(ADULT, age_years=64), False),
    ("Atarax 25 mg", 101, replace(ADULT, age_years=64), True),
    ("Atarax 25 mg", 50, replace(ADULT, age_years=65), False),
    ("Atarax 25 mg", 51, replace(ADULT, age_years=65), True),
    ("Motilium 10 mg", 30, ADULT, False),
    ("Motilium 10 mg", 40, ADULT, True),
    ("Topalgic 50 mg", 400, ADULT, False),
    ("Topalgic 50 mg", 450, ADULT, True),
]


@pytest.mark.parametrize(("text", "dose", "patient", "flagged"), MAX_DOSE)
def test_max_dose_boundaries(text: str, dose: float, patient: PatientFacts, flagged: bool) -> None:
    assert bool(only(check(KB, patient, [drug("a", text, dose)]), "max-dose")) is flagged


def test_max_dose_skips_combinations_and_unknown_doses() -> None:
    assert only(check(KB, ADULT, [drug("a", "Ixprim", 9000)]), "max-dose") == []
    assert only(check(KB, ADULT, [drug("a", "Doliprane 1000 mg")]), "max-dose") == []


def allergy(
    text: str | None, criticality: str | None = None, codes: tuple[DrugCode, ...] = ()
) -> PatientFacts:
    return PatientFacts(allergies=(AllergyFact(codes=codes, text=text, criticality=criticality),))


# (allergy text, criticality, drug, level or None)
ALLERGY = [
    ("pénicilline", None, "amoxicilline 1 g", "CI"),
    ("amoxicilline", None, "Augmentin 1 g", "CI"),
    ("pénicillines", "low", "Rocephine 1 g", "PE"),
    ("pénicillines", "high", "Rocephine 1 g", "CI"),
    ("céphalosporines", None, "amoxicilline 1 g", "PE"),
    ("bêta-lactamines", None, "Rocephine 1 g", "CI"),
    ("pénicilline", None, "Zithromax 250 mg", None),
    ("aspirine", None, "Advil 400 mg", "CI"),
    ("aspirine", None, "Doliprane 1000 mg", None),
    ("ciprofloxacine", None, "lévofloxacine 500 mg", "CI"),
    ("Lovenox", None, "héparine sodique", "CI"),
]


@pytest.mark.parametrize(("text", "criticality", "drug_text", "level"), ALLERGY)
def test_allergy_and_cross_reactivity(
    text: str, criticality: str | None, drug_text: str, level: str | None
) -> None:
    found = only(check(KB, allergy(text, criticality), [drug("a", drug_text)]), "allergy")
    assert [f.level for f in found] == ([level] if level else [])
    assert all(f.source.startswith("RCP") for f in found)


def test_allergy_coded_with_atc() -> None:
    found = only(
        check(KB, allergy(None, codes=(DrugCode(ATC, "J01CA04"),)), [drug("a", "Clamoxyl 1 g")]), "allergy"
    )
    assert [f.level for f in found] == ["CI"]


# (drug 1, drug 2, level or None)
DUPLICATION = [
    ("Doliprane 1000 mg", "Ixprim", "AD"),
    ("Triatec 5 mg", "périndopril 4 mg", "PE"),
    ("Kardegic 75", "Plavix 75 mg", None),
    ("Voltarenactigo 1 % gel", "Advil 400 mg", None),
    ("Voltarenactigo 1 % gel", "diclofénac 50 mg", None),
    ("Triatec 5 mg", "Amlor 5 mg", None),
    ("Inexium 20 mg", "Eupantol 40", "PE"),
]


@pytest.mark.parametrize(("one", "two", "level"), DUPLICATION)
def test_duplication(one: str, two: str, level: str | None) -> None:
    found = only(check(KB, PatientFacts(), [drug("a", one), drug("b", two)]), "duplication")
    assert [f.level for f in found] == ([level] if level else [])
