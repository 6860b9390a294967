"""Findings → CDS Hooks 2.0 cards (hygie/cds/cards.py): https://cds-hooks.hl7.org/2.0/#card-attributes"""

from __future__ import annotations

from typing import Any

import pytest

from hygie.cds import cards
from hygie.cds.findings import Finding

THESAURUS = "ANSM — Thésaurus des interactions médicamenteuses"
DRAFT = {
    "resourceType": "MedicationRequest",
    "id": "d1",
    "status": "draft",
    "intent": "order",
    "medicationCodeableConcept": {"text": "Kétoprofène 100 mg"},
    "subject": {"reference": "Patient/p"},
}


def _finding(
    level: str = "CI", kind: str = "interaction", suggestion: str | None = "remove", **over: Any
) -> Finding:
    values: dict[str, Any] = {
        "kind": kind,
        "level": level,
        "items": ("MedicationRequest/current", "MedicationRequest/d1"),
        "substances": ("méthotrexate", "anti-inflammatoires non stéroïdiens"),
        "mechanism": "Augmentation de la toxicité hématologique du méthotrexate.",
        "conduct": "Associer avec prudence.",
        "source": THESAURUS,
        "edition": "septembre 2023",
        "suggestion": suggestion,
        "detail": {},
    }
    values.update(over)
    return Finding(**values)


@pytest.mark.parametrize(
    ("level", "indicator"), [("CI", "critical"), ("AD", "warning"), ("PE", "info"), ("APEC", "info")]
)
def test_indicator_by_level(level: str, indicator: str) -> None:
    card = cards.card(_finding(level), "hook-1", "fr", {})
    assert card["indicator"] == indicator
    assert ("overrideReasons" in card) is (indicator != "info")


def test_every_card_names_its_source_document_and_edition() -> None:
    card = cards.card(_finding(), "hook-1", "fr", {})
    assert card["source"]["label"] == f"{THESAURUS} (édition septembre 2023)"
    assert "septembre 2023" in card["detail"] and THESAURUS in card["detail"]
    english = cards.card(_finding(), "hook-1", "en", {})
    assert english["source"]["label"] == f"{THESAURUS} (edition septembre 2023)"


def test_summary_is_at_most_140_characters_and_names_the_level() -> None:
    short = cards.card(_finding(), "h", "fr", {})
    assert short["summary"] == "Contre-indication : méthotrexate + anti-inflammatoires non stéroïdiens"
    assert cards.card(_finding(), "h", "en", {})["summary"].startswith("Contraindication: ")
    long = cards.card(_finding(substances=tuple(f"substance{i}" for i in range(40))), "h", "fr", {})
    assert len(long["summary"]) == 140 and long["summary"].endswith("…")
    renal = cards.card(_finding("AD", "renal", substances=("metformine",)), "h", "fr", {})
    assert renal["summary"] == "Fonction rénale (Association déconseillée) : metformine"


def test_remove_suggestion_deletes_the_draft_only() -> None:
    card = cards.card(_finding(), "h", "fr", {"MedicationRequest/d1": DRAFT})
    assert card["selectionBehavior"] == "at-most-one"
    [suggestion] = card["suggestions"]
    assert suggestion["label"] == "Retirer Kétoprofène 100 mg de la prescription"
    assert suggestion["actions"] == [
        {"type": "delete", "description": suggestion["label"], "resourceId": "MedicationRequest/d1"}
    ]


def test_adjust_dose_updates_the_draft_with_a_note() -> None:
    card = cards.card(_finding("PE", "renal", "adjust-dose"), "h", "en", {"MedicationRequest/d1": DRAFT})
    [action] = card["suggestions"][0]["actions"]
    assert action["type"] == "update"
    assert action["resource"]["id"] == "d1"
    assert action["resource"]["note"] == [{"text": "Dose to be adjusted: Associer avec prudence."}]
    assert "note" not in DRAFT  # the caller's draft is left alone


def test_no_suggestion_without_a_draft_or_a_suggestion() -> None:
    assert "suggestions" not in cards.card(_finding(), "h", "fr", {})
    assert "suggestions" not in cards.card(
        _finding(suggestion=None), "h", "fr", {"MedicationRequest/d1": DRAFT}
    )


def test_uuid_is_stable_per_hook_instance_and_finding() -> None:
    first = cards.card(_finding(), "h1", "fr", {})["uuid"]
    assert cards.card(_finding(), "h1", "en", {})["uuid"] == first
    assert cards.card(_finding(), "h2", "fr", {})["uuid"] != first
    assert cards.card(_finding("AD"), "h1", "fr", {})["uuid"] != first


def test_detail_gives_mechanism_conduct_and_figures() -> None:
    card = cards.card(
        _finding(detail={"egfr": 28, "threshold": 30, "url": "https://ansm.sante.fr/x"}), "h", "fr", {}
    )
    assert "**Mécanisme** : Augmentation" in card["detail"]
    assert "**Conduite à tenir** : Associer avec prudence." in card["detail"]
    assert "- egfr : 28" in card["detail"] and "- threshold : 30" in card["detail"]
    assert card["source"]["url"] == "https://ansm.sante.fr/x"
    assert card["extension"]["health.hygie.finding"]["level"] == "CI"
