"""The charts' message table: three languages for every key, the same placeholders in each."""

from __future__ import annotations

import string

from hygie.monitoring.ingest.catalogue import data as catalogue
from hygie.web.charts.messages import LANGS, MEASURES, MESSAGES, MONTHS


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_key_has_french_english_and_arabic_with_the_same_placeholders() -> None:
    for key, texts in MESSAGES.items():
        assert set(texts) == set(LANGS), key
        assert all(text.strip() for text in texts.values()), key
        assert placeholders(texts["fr"]) == placeholders(texts["en"]) == placeholders(texts["ar"]), key


def words(template: str) -> str:
    """The template's own text, placeholders left out."""
    return "".join(literal for literal, _, _, _ in string.Formatter().parse(template))


def test_arabic_texts_are_arabic() -> None:
    for key, texts in MESSAGES.items():
        english = [c for c in words(texts["en"]) if c.isascii() and c.isalpha()]
        if len(english) > 1 or key.startswith("unit."):
            assert any("\u0600" <= c <= "\u06ff" for c in words(texts["ar"])), key


def test_every_catalogue_kind_has_a_label() -> None:
    kinds = set(catalogue()["kinds"])
    assert set(MEASURES) == kinds
    for kind in kinds:
        assert f"measure.{kind}" in MESSAGES


def test_twelve_months_in_every_language() -> None:
    assert set(MONTHS) == set(LANGS)
    assert all(len(names) == 12 and len(set(names)) == 12 for names in MONTHS.values())
