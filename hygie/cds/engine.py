"""The medication-safety engine: ``check(kb, patient, items) -> list[Finding]`` (pure, deterministic).

Public contract (issue 8): :func:`check` and :func:`load_knowledge`. Every item is resolved once
(:meth:`hygie.cds.knowledge.Knowledge.resolve`), then the interaction pairs (every pair of items, a
current one with a current one included), allergies, duplications, renal, pregnancy/lactation and
maximum-dose rules run; findings are sorted by level (CI, AD, PE, APEC), then kind, items and
substances. Docs: docs/medication-safety.md.
"""

from __future__ import annotations

from collections.abc import Sequence

from hygie.cds import rules
from hygie.cds.findings import Finding, sort_key
from hygie.cds.interactions import pair_findings
from hygie.cds.knowledge import Knowledge, Resolved, load_knowledge
from hygie.cds.model import DrugItem, PatientFacts

__all__ = ["Knowledge", "check", "load_knowledge", "resolve_all"]


def resolve_all(kb: Knowledge, items: Sequence[DrugItem]) -> list[Resolved]:
    """Each item resolved, in input order."""
    return [kb.resolve(item) for item in items]


def check(kb: Knowledge, patient: PatientFacts, items: Sequence[DrugItem]) -> list[Finding]:
    """Every finding for these drug items and this patient, most severe first."""
    resolved = resolve_all(kb, items)
    findings: list[Finding] = []
    for n, left in enumerate(resolved):
        for right in resolved[n + 1 :]:
            if left.item.ref != right.item.ref:
                findings.extend(pair_findings(kb, left, right))
    findings.extend(rules.allergy_findings(kb, patient, resolved))
    findings.extend(rules.duplication_findings(kb, resolved))
    findings.extend(rules.renal_findings(kb, patient, resolved))
    findings.extend(rules.pregnancy_findings(kb, patient, resolved))
    findings.extend(rules.max_dose_findings(kb, patient, resolved))
    return sorted(findings, key=sort_key)
