"""The two thesaurus editions: levels, context headers, spilled headings, per-level conditions."""

from __future__ import annotations

import json
from pathlib import Path

from hygie.cds import thesaurus
from hygie.cds.names import fold

ROWS = [
    "substance,interactant,niveau,description,conduite",
    'ACIDE ACETYLSALICYLIQUE,ANTICOAGULANTS ORAUX,APEC,Majoration du risque hémorragique.,"CI - ASDEC - APEC '
    "Contre-indication avec : - des doses anti-inflammatoires Association déconseillée avec : - des doses "
    'antalgiques avec : - des doses antiagrégantes"',
    "MÉDICAMENTS SÉDATIFS,ALCOOL (BOISSON OU EXCIPIENT),AD,\"Majoration de l'effet sédatif. MÉDICAMENTS, "
    'BRADYKININE ET ANGIO-ŒDÈME Certains médicaments sont susceptibles de provoquer un angio-œdème.",'
    "Eviter la prise de boissons alcoolisées.",
    "MÉDICAMENTS SÉDATIFS,AUTRES MEDICAMENTS À RISQUE D'ANGIO-ŒDÈME,APEC,"
    "Risque de majoration de la survenue d'un angio-œdème.,",
    "MÉDICAMENTS SÉDATIFS,AUTRES MÉDICAMENTS SÉDATIFS,APEC,Majoration de la dépression centrale.,",
]
CSV = "\n".join(ROWS) + "\n"


def test_2023_csv_levels_and_context_headers(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes(CSV.encode("cp1252"))  # read as UTF-8 first, then Windows-1252
    pairs, counts = thesaurus.read_2023(path)
    assert counts == {"rows": 4, "context_headers": 1}
    aspirin = pairs[0]
    assert [c.level for c in aspirin.contexts] == ["CI", "AD", "APEC"]
    assert aspirin.level == "CI"  # the CSV kept the last level (APEC): the header is read back
    assert aspirin.conduct.startswith("Contre-indication avec")


def test_spilled_heading_is_cut_and_its_row_given_back(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(CSV, encoding="utf-8")
    pairs, _ = thesaurus.read_2023(path)
    known_2020 = {
        ("MEDICAMENTS, BRADYKININE ET ANGIO-OEDEME", "AUTRES MEDICAMENTS A RISQUE D'ANGIO-OEDEME"),
        ("MEDICAMENTS SEDATIFS", "AUTRES MEDICAMENTS SEDATIFS"),
    }
    headings = {"MEDICAMENTS, BRADYKININE ET ANGIO-OEDEME", "MEDICAMENTS SEDATIFS"}
    counts = thesaurus.repair_spills(pairs, headings, known_2020)
    assert counts == {"spilled_headings": 1, "reassigned_rows": 1}
    assert pairs[1].mechanism == "Majoration de l'effet sédatif."
    assert fold(pairs[2].a) == "MEDICAMENTS, BRADYKININE ET ANGIO-OEDEME"
    assert fold(pairs[3].a) == "MEDICAMENTS SEDATIFS"  # a genuine pair of the substance is left alone


def test_2020_json_keeps_each_context_with_its_condition(tmp_path: Path) -> None:
    entries = [
        {
            "main_drug": "LEDIPASVIR",
            "plus_drug": "INHIBITEURS DE L'HMG-COA REDUCTASE (STATINES)",
            "severity_levels": [
                {"level": "CONTRE-INDICATION", "info": ": - avec la rosuvastatine."},
                {"level": "Précaution d'emploi", "info": ": - avec les autres statines."},
            ],
            "interaction_mechanism": "Augmentation des concentrations de la statine.",
        },
        {
            "main_drug": "A",
            "plus_drug": "B",
            "severity_levels": [{"level": "A prendre en compte", "info": ""}],
            "interaction_mechanism": "x",
        },
    ]
    path = tmp_path / "t.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    ledipasvir, single = thesaurus.read_2020(path)
    assert ledipasvir.level == "CI"
    assert [(c.level, c.condition) for c in ledipasvir.contexts] == [
        ("CI", ": - avec la rosuvastatine."),
        ("PE", ": - avec les autres statines."),
    ]
    assert single.level == "APEC" and single.contexts == []


def test_split_contexts_of_a_flattened_2023_text() -> None:
    text = (
        "Contre-indication : - entre sacubitril et IEC : - entre gliptines et IEC "
        "Déconseillé entre les autres"
    )
    contexts = thesaurus.split_contexts(["CI", "AD", "APEC"], text)
    assert [(c.level, c.condition) for c in contexts] == [
        ("CI", "entre sacubitril et IEC"),
        ("APEC", "entre gliptines et IEC"),
        ("AD", "Déconseillé entre les autres"),
    ]


def test_split_contexts_gives_up_rather_than_guess() -> None:
    text = "Association déconseillée avec la nimodipine : Surveillance clinique"
    contexts = thesaurus.split_contexts(["AD", "PE"], text)
    assert [c.condition for c in contexts] == [text, text]
