"""The web UI's message catalogues (hygie/web/messages/<area>/{fr,en,ar}.json) and language choice."""

from __future__ import annotations

import re
import string

import pytest

from hygie.web import i18n
from hygie.web.signin_pages import SIGNIN_MESSAGES


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("area", i18n.areas())
def test_every_area_has_the_same_keys_and_fields_in_the_three_languages(area: str) -> None:
    texts = {lang: i18n.area_texts(area, lang) for lang in i18n.LANGUAGES}
    assert texts["fr"], f"{area}: no French catalogue"
    for lang in ("en", "ar"):
        assert set(texts[lang]) == set(texts["fr"]), (area, lang, set(texts[lang]) ^ set(texts["fr"]))
        for key, template in texts["fr"].items():
            assert _fields(texts[lang][key]) == _fields(template), (area, lang, key)
            assert texts[lang][key].strip(), (area, lang, key)


def test_no_key_is_defined_by_two_areas() -> None:
    seen: dict[str, str] = {}
    for area in i18n.areas():
        for key in i18n.area_texts(area, "fr"):
            assert key not in seen, f"{key!r} in both {seen[key]} and {area}"
            seen[key] = area


def test_arabic_texts_are_arabic() -> None:
    arabic = re.compile("[\u0600-\u06ff]")
    catalogue = i18n.catalogue("ar")
    assert catalogue
    untranslated = [k for k, v in catalogue.items() if not arabic.search(v) and k != "site_name"]
    assert untranslated == []


def test_every_message_of_the_sign_in_flow_is_translated() -> None:
    for lang in i18n.LANGUAGES:
        for key in SIGNIN_MESSAGES:
            assert key in i18n.catalogue(lang), (lang, key)


def test_text_fills_fields_and_falls_back_to_the_key() -> None:
    assert i18n.text("signed_in_as", "en", name="Ada") == "Signed in: Ada"
    assert i18n.text("no_such_key", "fr") == "no_such_key"
    assert i18n.text("sign_out", "xx") == i18n.text("sign_out", "fr")


@pytest.mark.parametrize(
    ("chosen", "remembered", "accept", "expected"),
    [
        ("ar", "en", "fr", "ar"),  # ?lang= wins
        (None, "en", "ar", "en"),  # then the remembered choice
        ("de", "xx", "ar-MA,fr;q=0.5", "ar"),  # unknown values are ignored
        (None, None, "de-DE,en;q=0.8,fr;q=0.9", "fr"),  # q values
        (None, None, "en;q=0,ar;q=0.2", "ar"),  # q=0 means "not this one"
        (None, None, "de,es", "fr"),  # French by default
        (None, None, None, "fr"),
    ],
)
def test_language_choice(
    chosen: str | None, remembered: str | None, accept: str | None, expected: str
) -> None:
    assert i18n.choose(chosen, remembered, accept) == expected


def test_direction() -> None:
    assert i18n.direction("ar") == "rtl"
    assert i18n.direction("fr") == i18n.direction("en") == "ltr"


def test_template_texts_escape_their_fields_and_isolate_names() -> None:
    from hygie.web.render import bdi, translate

    assert translate("signed_in_as", "en", name="<b>Eve</b>") == "Signed in: &lt;b&gt;Eve&lt;/b&gt;"
    isolated = translate("signed_in_as", "ar", name=bdi("Dr <Rousseau>"))
    assert isolated == "متصل: <bdi>Dr &lt;Rousseau&gt;</bdi>"
    assert translate("no_such_key", "fr") == "no_such_key"
