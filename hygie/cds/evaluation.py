"""Scoring the engine on a set of prescriptions with expected findings (issue 8, item 5).

A case lists drugs, a patient, the findings that must be reported (kind, level, items) and entries
that must not be (items, kinds). :func:`evaluate` runs :func:`hygie.cds.engine.check` on each case
and counts, per expected level, how many were reported at exactly that level (sensitivity), the
confusion matrix (expected level × reported level, ``none`` when nothing of that kind was reported
on those items) and the share of must-not entries left silent (specificity). :func:`render` gives
the Markdown table that docs/medication-safety.md carries (a test keeps them equal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hygie.cds.engine import check
from hygie.cds.findings import LEVEL_RANK, LEVELS, Finding
from hygie.cds.knowledge import Knowledge
from hygie.cds.model import ATC, CIP13, CIS, SUBSTANCE, AllergyFact, DrugCode, DrugItem, PatientFacts

SYSTEMS = {"cis": CIS, "cip13": CIP13, "atc": ATC, "substance": SUBSTANCE}
NONE = "none"


@dataclass
class Score:
    expected: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    exact: dict[str, int] = field(default_factory=lambda: dict.fromkeys(LEVELS, 0))
    confusion: dict[str, dict[str, int]] = field(
        default_factory=lambda: {lv: dict.fromkeys([*LEVELS, NONE], 0) for lv in LEVELS}
    )
    must_not: int = 0
    silent: int = 0
    misses: list[str] = field(default_factory=list)
    false_alerts: list[str] = field(default_factory=list)

    def sensitivity(self, level: str) -> float:
        return self.exact[level] / self.expected[level] if self.expected[level] else 1.0

    @property
    def specificity(self) -> float:
        return self.silent / self.must_not if self.must_not else 1.0


def patient_of(spec: dict[str, Any]) -> PatientFacts:
    allergies = tuple(
        AllergyFact(codes=(), text=a.get("text"), criticality=a.get("criticality"))
        for a in spec.get("allergies", [])
    )
    fields = {k: v for k, v in spec.items() if k != "allergies"}
    return PatientFacts(**fields, allergies=allergies)


def items_of(drugs: list[dict[str, Any]]) -> list[DrugItem]:
    out = []
    for drug in drugs:
        codes = tuple(DrugCode(SYSTEMS[k], str(v)) for k, v in drug.items() if k in SYSTEMS)
        out.append(
            DrugItem(
                ref=drug["ref"],
                codes=codes,
                text=drug.get("text"),
                draft=bool(drug.get("draft")),
                daily_dose_mg=drug.get("dose"),
            )
        )
    return out


def _on(finding: Finding, items: list[str]) -> bool:
    return sorted(finding.items) == sorted(items)


def evaluate(kb: Knowledge, cases: list[dict[str, Any]]) -> Score:
    score = Score()
    for case in cases:
        findings = check(kb, patient_of(case.get("patient", {})), items_of(case["drugs"]))
        for want in case["expect"]:
            level = want["level"]
            score.expected[level] += 1
            same = [f for f in findings if f.kind == want["kind"] and _on(f, want["items"])]
            got = min((f.level for f in same), key=LEVEL_RANK.__getitem__, default=NONE)
            score.confusion[level][got] += 1
            if got == level:
                score.exact[level] += 1
            else:
                score.misses.append(f"{case['id']}: expected {want['kind']} {level}, got {got}")
        for entry in case.get("must_not", []):
            score.must_not += 1
            noisy = [f for f in findings if f.kind in entry["kinds"] and _on(f, entry["items"])]
            if noisy:
                score.false_alerts.append(f"{case['id']}: {[(f.kind, f.level, f.substances) for f in noisy]}")
            else:
                score.silent += 1
    return score


def render(score: Score, cases: int) -> str:
    """The Markdown block of docs/medication-safety.md (between its evaluation markers)."""
    lines = [
        f"Cases: {cases}; expected findings: {sum(score.expected.values())}; "
        f"must-not-alert entries: {score.must_not}.",
        "",
        "| level | expected | reported at that level | sensitivity |",
        "|---|---|---|---|",
    ]
    for level in LEVELS:
        lines.append(
            f"| {level} | {score.expected[level]} | {score.exact[level]} | {score.sensitivity(level):.1%} |"
        )
    lines += [
        "",
        f"Specificity on the must-not-alert entries: {score.silent}/{score.must_not} = "
        f"{score.specificity:.1%}.",
        "",
        "Confusion matrix (rows: expected level; columns: level reported on the same items and kind):",
        "",
        f"| expected \\ reported | {' | '.join([*LEVELS, NONE])} |",
        f"|---|{'---|' * (len(LEVELS) + 1)}",
    ]
    for level in LEVELS:
        cells = " | ".join(str(score.confusion[level][c]) for c in [*LEVELS, NONE])
        lines.append(f"| {level} | {cells} |")
    return "\n".join(lines)
