"""The knowledge files of hygie/demo/data name their sources (ARCHITECTURE principle 6), and the
BDPM extract is reproducible from the public files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hygie.demo import build_drugs
from hygie.demo.common import data

BDPM = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "bdpm" / "2026"
YEAR = re.compile(r"\b(19|20)\d\d\b")


@pytest.mark.parametrize(
    ("name", "field", "names"),
    [
        ("communes", "source", "INSEE, Code officiel géographique"),
        ("names", "source", "INSEE, Fichier des prénoms"),
        ("labs", "source", "LOINC"),
        ("vaccines", "source", "Calendrier des vaccinations et recommandations vaccinales 2025"),
        ("drugs", "source", "ANSM — Base de données publique des médicaments, "),
        ("formulary", "source", "ATC/DDD Index"),
        ("conditions", "allergy_source", "Société française d'allergologie"),
    ],
)
def test_every_data_file_cites_its_source(name: str, field: str, names: str) -> None:
    assert names in data(name)[field]


@pytest.mark.parametrize("condition", [c["key"] for c in data("conditions")["conditions"]])
def test_every_prevalence_table_is_complete_and_sourced(condition: str) -> None:
    (item,) = [c for c in data("conditions")["conditions"] if c["key"] == condition]
    assert YEAR.search(item["source"]), "the source names its edition"
    assert any(s in item["source"] for s in ("Assurance Maladie", "Santé publique France", "ANSM", "Agence"))
    for sex in ("female", "male"):
        table = item["prevalence"][sex]
        assert set(table) == set(data("conditions")["bands"])
        assert all(0 <= share < 0.7 for share in table.values())
    assert any(v > 0 for sex in ("female", "male") for v in item["prevalence"][sex].values())
    assert re.fullmatch(r"[A-Z]\d\d(\.\d)?", item["icd10"])
    assert item["snomed"].isdigit()
    shipped = {d["substance"] for d in data("drugs")["drugs"]}
    for spec in item["drugs"]:
        assert set(spec.split("|")) <= shipped
    assert set(item["labs"]) <= set(data("labs")["labs"])


def test_the_shipped_drug_list_is_what_the_build_script_makes() -> None:
    shipped = data("drugs")
    updated = shipped["source"].rsplit(", ", 1)[1]
    assert build_drugs.build(BDPM, updated) == shipped
    assert all(re.fullmatch(r"\d{8}", d["cis"]) for d in shipped["drugs"])


def test_bdpm_files_decode_utf8_or_windows_1252(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes("1\tLÉVOTHYROXINE\n".encode("cp1252"))
    (tmp_path / "b.txt").write_bytes("1\tLÉVOTHYROXINE\n".encode())
    assert build_drugs.read_table(tmp_path / "a.txt") == build_drugs.read_table(tmp_path / "b.txt")
    assert build_drugs.fold("LÉVOTHYROXINE SODIQUE") == "LEVOTHYROXINE SODIQUE"
