"""Bilingual (French, English) diagnostics for OperationOutcome issues.

Each message is a key with a French and an English template (``str.format`` fields).
French is the platform default; the API picks the language from ``Accept-Language``.
Add new keys here rather than writing diagnostics inline, so both languages stay complete
(a unit test checks every key has both).
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("fr", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "ok": {"fr": "Opération réussie.", "en": "All OK."},
}


def register(messages: dict[str, dict[str, str]]) -> None:
    """Add message templates (used by modules that own their messages)."""
    for key, texts in messages.items():
        if set(texts) != set(LANGUAGES):
            raise ValueError(f"message {key!r} must have exactly {LANGUAGES}")
        MESSAGES[key] = texts


def render(key: str, lang: str, params: dict[str, Any]) -> str:
    texts = MESSAGES.get(key)
    if texts is None:
        return key
    template = texts.get(lang) or texts["en"]
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template
