"""What the medication-safety engine reports: one :class:`Finding` per problem found.

Public contract between the engine (:mod:`hygie.cds.engine`) and the CDS Hooks / FHIR side
(cards, DetectedIssue). Fields may be added with defaults; none is renamed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

KINDS = ("interaction", "allergy", "duplication", "renal", "pregnancy", "lactation", "max-dose")
"""The kinds of finding, in no particular order."""

LEVELS = ("CI", "AD", "PE", "APEC")
"""The four levels of the ANSM thesaurus, most severe first: contre-indication, association
déconseillée, précaution d'emploi, à prendre en compte."""

LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}


@dataclass(frozen=True, slots=True)
class Finding:
    """One safety problem, explained with the source it comes from."""

    kind: str  # "interaction" | "allergy" | "duplication" | "renal" | "pregnancy" | "lactation" | "max-dose"
    level: str  # "CI" | "AD" | "PE" | "APEC" (for non-interactions: chosen by the rule, in its data file)
    items: tuple[str, ...]  # refs of the DrugItems involved (DrugItem.ref)
    substances: tuple[str, ...]  # substance / class names involved, as the source names them
    mechanism: str  # French text from the source ("" when none)
    conduct: str  # what to do (French, from the source)
    source: str  # source document title, e.g. "ANSM — Thésaurus des interactions médicamenteuses"
    edition: str  # e.g. "septembre 2023"
    suggestion: str | None = None  # "remove" | "replace" | "adjust-dose" | None
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. {"egfr": 28, "threshold": 30}


def sort_key(finding: Finding) -> tuple[int, str, tuple[str, ...], tuple[str, ...]]:
    """Deterministic order: severity (CI, AD, PE, APEC), then kind, items and substances."""
    return (LEVEL_RANK.get(finding.level, len(LEVELS)), finding.kind, finding.items, finding.substances)
