"""Evaluation on realistic French prescriptions (tests/cds/eval_cases.json): sensitivity per level,
specificity on the must-not-alert entries, confusion matrix — and the same figures in the docs."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from hygie.cds import report
from hygie.cds.build import OUTPUT
from hygie.cds.engine import load_knowledge
from hygie.cds.evaluation import evaluate, render

CASES = json.loads((Path(__file__).with_name("eval_cases.json")).read_text(encoding="utf-8"))["cases"]
DOC = (Path(__file__).resolve().parents[2] / "docs" / "medication-safety.md").read_text(encoding="utf-8")


def test_the_set_covers_every_kind_of_case() -> None:
    kinds = {want["kind"] for case in CASES for want in case["expect"]}
    assert kinds == {"interaction", "duplication", "allergy", "renal", "pregnancy", "lactation", "max-dose"}
    systems = {
        key
        for case in CASES
        for drug in case["drugs"]
        for key in drug
        if key in ("cis", "cip13", "atc", "substance")
    }
    assert systems == {"cis", "cip13", "atc", "substance"}
    assert sum(len(case.get("must_not", [])) for case in CASES) >= 20
    assert all(
        want.get("why") for case in CASES for want in case["expect"]
    )  # each expectation cites its source


def test_targets_are_met() -> None:
    score = evaluate(load_knowledge(), CASES)
    assert score.sensitivity("CI") >= 0.98, score.misses
    assert score.sensitivity("AD") >= 0.98, score.misses
    assert score.specificity >= 0.95, score.false_alerts


def test_the_docs_carry_the_figures_this_test_computes() -> None:
    score = evaluate(load_knowledge(), CASES)
    assert report.block(DOC, "evaluation") == render(score, len(CASES))


def test_the_docs_carry_the_build_figures() -> None:
    knowledge = json.loads(gzip.decompress(OUTPUT.read_bytes()))
    assert report.block(DOC, "coverage") == report.coverage(knowledge)
    assert report.block(DOC, "reconciliation") == report.reconciliation(knowledge)
