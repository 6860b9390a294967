"""Substance names → keys: salts, esters, hydrates and synonyms (table of BDPM spellings)."""

from __future__ import annotations

import pytest

from hygie.cds.names import candidates, fold, thesaurus_keys

# (BDPM spelling, key the thesaurus uses) — each row a form seen in CIS_COMPO_bdpm.txt.
CASES = [
    ("CHLORHYDRATE DE METFORMINE", "METFORMINE"),
    ("AMLODIPINE (BÉSILATE D')", "AMLODIPINE"),
    ("BÉSILATE D'AMLODIPINE", "AMLODIPINE"),
    ("LOSARTAN POTASSIQUE", "LOSARTAN"),
    ("SODIUM (VALPROATE DE)", "ACIDE VALPROIQUE"),
    ("VALPROATE DE SODIUM", "ACIDE VALPROIQUE"),
    ("LÉVOTHYROXINE SODIQUE ANHYDRE", "LEVOTHYROXINE"),
    ("FUMARATE DE FORMOTÉROL DIHYDRATÉ", "FORMOTEROL"),
    ("FORMOTÉROL (FUMARATE DE) DIHYDRATÉ", "FORMOTEROL"),
    ("DABIGATRAN ETEXILATE", "DABIGATRAN"),
    ("OLMÉSARTAN MÉDOXOMIL", "OLMESARTAN"),
    ("ACIDE ZOLÉDRONIQUE ANHYDRE", "ACIDE ZOLEDRONIQUE"),
    ("RISÉDRONATE MONOSODIQUE", "ACIDE RISEDRONIQUE"),
    ("ACÉTYLSALICYLATE DE DL-LYSINE", "ACIDE ACETYLSALICYLIQUE"),
    ("ENOXAPARINE SODIQUE", "ENOXAPARINE"),
    ("POTASSIUM (CHLORURE DE)", "POTASSIUM"),
    ("MANIDIPINE (DICHLORHYDRATE DE)", "MANIDIPINE"),
    ("INSULINE LISPRO RECOMBINANTE", "INSULINE LISPRO"),
    ("CHOLÉCALCIFÉROL , FORME PULVÉRULENTE", "CHOLECALCIFEROL"),
    ("MONTÉLUKAST ACIDE", "MONTELUKAST"),
    ("ACÉPONATE D'HYDROCORTISONE", "HYDROCORTISONE"),
]


@pytest.mark.parametrize(("bdpm", "key"), CASES)
def test_salts_esters_hydrates_reach_the_moiety(bdpm: str, key: str) -> None:
    assert key in candidates(bdpm)


def test_candidates_start_with_the_name_itself() -> None:
    # "HEPARINE SODIQUE" is itself a thesaurus substance: the full name is tried first
    assert candidates("Héparine sodique")[0] == "HEPARINE SODIQUE"


def test_the_cation_of_an_anion_salt_is_not_a_candidate() -> None:
    assert "SODIUM" not in candidates("SODIUM (VALPROATE DE)")


def test_fold() -> None:
    assert fold("  Bêta- bloquants  (y compris collyres) ") == "BETA-BLOQUANTS (Y COMPRIS COLLYRES)"
    assert fold("angio-œdème’s") == "ANGIO-OEDEME'S"


def test_thesaurus_keys_of_classes_keep_their_narrowing_parenthesis() -> None:
    assert thesaurus_keys("HÉPARINES (DOSES PRÉVENTIVES)", substance=False) == [
        "HEPARINES (DOSES PREVENTIVES)"
    ]
    assert thesaurus_keys("VALPROÏQUE (ACIDE)", substance=False) == ["VALPROIQUE (ACIDE)", "ACIDE VALPROIQUE"]
    assert thesaurus_keys("abciximab (c 7e3b fab)", substance=True)[-1] == "ABCIXIMAB"
