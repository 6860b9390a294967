"""Languages of the web UI: French (default), English and Arabic (right to left).

Texts live in catalogues, one folder per area of the UI and one file per language:
``hygie/web/messages/<area>/{fr,en,ar}.json`` (key → text with ``{name}`` fields,
:meth:`str.format`): ``core`` (layout, sign-in, account), ``portal``, ``workspace``… A test checks
that the three languages of every area have exactly the same keys and the same fields, and that no
key is defined by two areas. Page code and templates call :func:`text` (``t('key', name=…)`` in
templates).

The language of a request (public contract, ARCHITECTURE.md "web UI"): ``?lang=fr|en|ar`` when
given — and then remembered in the ``hygie_lang`` cookie — else the remembered choice, else the
first of fr/en/ar in ``Accept-Language`` order of preference, else French.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import orjson

LANGUAGES: tuple[str, ...] = ("fr", "en", "ar")
DEFAULT = "fr"
RTL = frozenset({"ar"})
NAMES = {"fr": "Français", "en": "English", "ar": "العربية"}  # each in its own language
LANG_COOKIE = "hygie_lang"  # the same name as hygie.api.signin.LANG_COOKIE
LANG_COOKIE_MAX_AGE = 365 * 24 * 3600


def areas() -> list[str]:
    """The catalogue folders under ``hygie/web/messages``."""
    root = resources.files("hygie.web").joinpath("messages")
    return sorted(entry.name for entry in root.iterdir() if entry.is_dir())


def area_texts(area: str, lang: str) -> dict[str, str]:
    """One area's texts in one language (empty when that file is missing: the test says so)."""
    path = resources.files("hygie.web").joinpath("messages", area, f"{lang}.json")
    if not path.is_file():
        return {}
    texts: dict[str, str] = orjson.loads(path.read_bytes())
    return texts


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The texts of one language, every area merged (read once)."""
    merged: dict[str, str] = {}
    for area in areas():
        merged.update(area_texts(area, lang))
    return merged


def text(key: str, lang: str, **params: Any) -> str:
    """The text of ``key`` in ``lang`` (French when the language is unknown), fields filled in.

    An unknown key renders as the key itself, which the page tests catch."""
    texts = catalogue(lang if lang in LANGUAGES else DEFAULT)
    template = texts.get(key)
    if template is None:
        return key
    if not params:
        return template
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


def has(key: str) -> bool:
    return key in catalogue(DEFAULT)


def direction(lang: str) -> str:
    """``rtl`` for Arabic, ``ltr`` otherwise (the ``dir`` of ``<html>``)."""
    return "rtl" if lang in RTL else "ltr"


def choose(chosen: str | None, remembered: str | None, accept: str | None, default: str = DEFAULT) -> str:
    """The page language: ``chosen`` (``?lang=``), else ``remembered`` (cookie), else the
    ``Accept-Language`` header (q values honoured), else ``default``."""
    for lang in (chosen, remembered):
        if lang in LANGUAGES:
            return lang
    return accepted(accept) or (default if default in LANGUAGES else DEFAULT)


def accepted(header: str | None) -> str | None:
    """The first of our languages in an ``Accept-Language`` header (RFC 9110 §12.5.4)."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:32]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if q > 0 and primary in LANGUAGES:
            ranked.append((-q, index, primary))
    return min(ranked)[2] if ranked else None
