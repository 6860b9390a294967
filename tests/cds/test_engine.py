"""The engine: how drug codes resolve, context-dependent levels, order, and what never alerts."""

from __future__ import annotations

import random

import pytest

from hygie.cds.engine import check, load_knowledge
from hygie.cds.findings import LEVEL_RANK, Finding
from hygie.cds.model import ATC, CIP13, CIS, SUBSTANCE, UCD, DrugCode, DrugItem, PatientFacts
from hygie.cds.names import fold

KB = load_knowledge()
NOBODY = PatientFacts()


def item(ref: str, *codes: tuple[str, str], text: str | None = None, dose: float | None = None) -> DrugItem:
    return DrugItem(ref=ref, codes=tuple(DrugCode(s, c) for s, c in codes), text=text, daily_dose_mg=dose)


@pytest.mark.parametrize(
    ("drug", "substances"),
    [
        (item("a", (CIS, "69902323")), ("ATORVASTATINE",)),  # TAHOR 20 mg
        (item("a", (CIP13, "3400934306815")), ("ATORVASTATINE",)),  # a TAHOR 20 mg pack
        (item("a", (SUBSTANCE, "10171")), ("SIMVASTATINE",)),  # ANSM substance code
        (item("a", (ATC, "C10AA05")), ("ATORVASTATINE",)),
        (item("a", (UCD, "9999999"), text="Tahor 20 mg"), ("ATORVASTATINE",)),  # UCD unknown: text used
        (item("a", text="Bactrim Forte"), ("TRIMETHOPRIME", "SULFAMETHOXAZOLE")),  # combination product
        (item("a", text="amoxicilline 1 g"), ("AMOXICILLINE",)),  # generic name
        (item("a", text="Dépakine 500 mg"), ("ACIDE VALPROIQUE",)),  # SODIUM (VALPROATE DE)
    ],
)
def test_codes_and_names_resolve(drug: DrugItem, substances: tuple[str, ...]) -> None:
    assert KB.resolve(drug).substances == substances


def test_first_resolving_code_wins_and_unknown_drugs_resolve_to_nothing() -> None:
    assert KB.resolve(item("a", (CIS, "00000000"), (CIS, "69902323"))).product == "69902323"
    unknown = KB.resolve(item("a", (CIS, "00000000"), text="xyzzy"))
    assert not unknown.resolved and check(KB, NOBODY, [unknown.item, item("b", text="Zeclar 500 mg")]) == []


def interactions(findings: list[Finding]) -> list[tuple[str, tuple[str, ...]]]:
    return [(f.level, f.substances) for f in findings if f.kind == "interaction"]


@pytest.mark.parametrize(("statin", "level"), [("rosuvastatine 10 mg", "CI"), ("atorvastatine 20 mg", "PE")])
def test_context_naming_the_substance_decides_the_level(statin: str, level: str) -> None:
    # LEDIPASVIR + STATINES: CI "avec la rosuvastatine", PE "avec les autres" (2020 conditions)
    found = [
        f
        for f in check(KB, NOBODY, [item("a", text=statin), item("b", text="Harvoni")])
        if f.kind == "interaction" and "LEDIPASVIR" in fold(" ".join(f.substances))
    ]
    assert [f.level for f in found] == [level]


@pytest.mark.parametrize(
    ("dose", "level"), [(75, "AD"), (375, "AD"), (376, "CI"), (3000, "CI"), (None, "AD")]
)
def test_aspirin_dose_band_decides_the_level(dose: float | None, level: str) -> None:
    # ACIDE ACETYLSALICYLIQUE + ANTICOAGULANTS ORAUX: CI at anti-inflammatory doses, and at analgesic
    # doses with an ulcer history; AD at analgesic doses without, and at antiplatelet doses (50-375
    # mg/j) with an ulcer history; APEC otherwise. The history is unknown: the most severe level of
    # the dose band applies. Without a daily dose, the strength of one unit (Kardégic 75 mg) decides.
    drugs = [item("a", text="Kardegic 75", dose=dose), item("b", text="Eliquis 5 mg")]
    found = [
        f
        for f in check(KB, NOBODY, drugs)
        if f.substances == ("ACIDE ACETYLSALICYLIQUE", "ANTICOAGULANTS ORAUX")
    ]
    assert [f.level for f in found] == [level]
    assert found[0].detail["levels"] == ["CI", "AD", "APEC"]


def test_same_substance_twice_is_a_duplication_not_an_interaction() -> None:
    found = check(KB, NOBODY, [item("a", text="Doliprane 1000 mg"), item("b", text="Dafalgan 500 mg")])
    assert [f.kind for f in found] == ["duplication"]


def test_a_combination_product_does_not_interact_with_itself() -> None:
    assert check(KB, NOBODY, [item("a", text="Bactrim Forte")]) == []


def test_findings_are_sorted_and_deterministic() -> None:
    drugs = [
        item(str(n), text=t)
        for n, t in enumerate(
            [
                "Kardegic 75",
                "Eliquis 5 mg",
                "Zeclar 500 mg",
                "Colchicine Opocalcium",
                "simvastatine 20 mg",
                "Triatec 5 mg",
                "périndopril 4 mg",
                "Teralithe 250 mg",
                "Advil 400 mg",
                "Lasilix 40 mg",
            ]
        )
    ]
    first = check(KB, NOBODY, drugs)
    assert [LEVEL_RANK[f.level] for f in first] == sorted(LEVEL_RANK[f.level] for f in first)
    shuffled = drugs[:]
    random.Random(8).shuffle(shuffled)
    again = check(KB, NOBODY, shuffled)
    assert {(f.kind, f.level, frozenset(f.items), frozenset(f.substances)) for f in again} == {
        (f.kind, f.level, frozenset(f.items), frozenset(f.substances)) for f in first
    }
    assert check(KB, NOBODY, drugs) == first


def test_every_finding_names_its_source_and_edition() -> None:
    patient = PatientFacts(age_years=85, sex="female", weight_kg=50, creatinine_umol_l=150, pregnant=True)
    drugs = [
        item("a", text="Zeclar 500 mg"),
        item("b", text="simvastatine 20 mg"),
        item("c", text="Pradaxa 110 mg"),
        item("d", text="Doliprane 1000 mg", dose=6000),
        item("e", text="Dafalgan 500 mg"),
    ]
    found = check(KB, patient, drugs)
    assert {f.kind for f in found} >= {"interaction", "renal", "pregnancy", "max-dose", "duplication"}
    for finding in found:
        assert finding.source and finding.edition and finding.conduct, finding
    thesaurus = [f for f in found if f.kind == "interaction"]
    assert all(f.source == "ANSM — Thésaurus des interactions médicamenteuses" for f in thesaurus)
    assert {f.edition for f in thesaurus} <= {"septembre 2023", "janvier 2020"}


def test_knowledge_carries_its_editions_and_licence() -> None:
    assert KB.editions["thesaurus"] == ["septembre 2023", "janvier 2020"]
    assert any("BDPM" in line for line in KB.data["licence"])
    assert all(len(i["sha256"]) == 64 for i in KB.data["inputs"])
