"""The knowledge build on the real shared data, through ``hygie cds build-knowledge``: same bytes
as the shipped file, every thesaurus pair accounted for, mapping coverage above the target."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from hygie.cds import build, thesaurus
from hygie.cds.names import fold
from hygie.cli import cli

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("kb") / "knowledge.json.gz"
    result = CliRunner().invoke(cli, ["cds", "build-knowledge", str(DATA), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out, result.output


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress(path.read_bytes()))
    return data


def test_the_shipped_knowledge_is_what_the_command_builds(built: tuple[Path, str]) -> None:
    out, output = built
    assert out.read_bytes() == build.OUTPUT.read_bytes()  # reproducible: same inputs, same bytes
    assert "mapping coverage: 12,243/12,245" in output and "interactions 1,635" in output


def test_inputs_editions_licence_and_quirks_are_recorded(built: tuple[Path, str]) -> None:
    kb = load(built[0])
    assert {i["file"] for i in kb["inputs"]} >= {
        "bdpm/2026/CIS_bdpm.txt",
        "ansm-thesaurus/thesaurus_ansm_2023-09.csv",
    }
    assert kb["editions"]["thesaurus"] == ["septembre 2023", "janvier 2020"]
    assert len(kb["licence"]) == 2
    assert kb["quirks"]["2026/CIS_bdpm.txt"]["encoding"] == "cp1252"
    assert len(kb["packs"]) > 19_000 and len(kb["generic_groups"]) > 1_000


def test_no_thesaurus_pair_is_lost(built: tuple[Path, str]) -> None:
    kb = load(built[0])
    fixes = build.load_json("thesaurus_fixes.json")
    aliases = {fold(k): fold(v) for k, v in fixes["aliases"].items()}
    shipped = {frozenset((row[0], row[1])) for row in kb["interactions"]}
    superseded = {line.split(" → ")[0] for line in kb["reconciliation"]["superseded"]}
    pairs_2023, _ = thesaurus.read_2023(DATA / "ansm-thesaurus" / "thesaurus_ansm_2023-09.csv")
    pairs_2020 = thesaurus.read_2020(build.Inputs(DATA).thesaurus_2020)
    lost = []
    for pair in pairs_2020 + pairs_2023:
        a, b = (aliases.get(k, k) for k in pair.key)
        if frozenset((a, b)) not in shipped and f"{a} + {b}" not in superseded:
            lost.append((pair.a, pair.b))
    # the one 2023 row the extraction gave to the wrong substance is shipped under its real owner
    assert lost == [("MÉDICAMENTS SÉDATIFS", "AUTRES MEDICAMENTS À RISQUE D'ANGIO-ŒDÈME")]


def test_mapping_coverage_meets_the_target(built: tuple[Path, str]) -> None:
    coverage = load(built[0])["coverage"]
    assert coverage["share_resolved"] >= 0.95
    assert coverage["near_misses"] == []  # every near miss reviewed (synonyms.json)


def test_missing_inputs_are_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["cds", "build-knowledge", str(tmp_path), "--out", str(tmp_path / "k.gz")]
    )
    assert result.exit_code == 2
    assert "missing input files" in result.output and not (tmp_path / "k.gz").exists()
