"""Dates of the patient portal in plain words, in the person's language.

FHIR dates may be partial (``2019``, ``2019-03``, ``2019-03-05``) or carry a time and a zone
(``dateTime``/``instant``: https://hl7.org/fhir/R4/datatypes.html#dateTime). A date alone is
shown as written (``5 March 2019``, ``March 2019``, ``2019``); a time is shown on the server's
clock (``HYGIE_TIMEZONE``). Months are written in full: these pages are read by patients, not
charted by nurses (the charts keep their short months).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo

MONTHS: dict[str, tuple[str, ...]] = {
    "fr": (
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "ar": (
        "يناير",
        "فبراير",
        "مارس",
        "أبريل",
        "مايو",
        "يونيو",
        "يوليو",
        "أغسطس",
        "سبتمبر",
        "أكتوبر",
        "نوفمبر",
        "ديسمبر",
    ),
}
_AT = {"fr": "{date} à {time}", "en": "{date} at {time}", "ar": "{date} الساعة {time}"}
_PARTIAL = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def _lang(lang: str) -> str:
    return lang if lang in MONTHS else "fr"


def day_text(year: int, month: int | None, day: int | None, lang: str) -> str:
    """``5 mars 2019`` / ``5 March 2019`` / ``5 مارس 2019``; ``March 2019``; ``2019``."""
    months = MONTHS[_lang(lang)]
    if month is None:
        return str(year)
    if day is None:
        return f"{months[month - 1]} {year}"
    first = "1er" if day == 1 and _lang(lang) == "fr" else str(day)  # « le 1er mars »
    return f"{first} {months[month - 1]} {year}"


def parse_instant(value: object) -> datetime | None:
    """A FHIR dateTime/instant with a time and a zone as an aware datetime (None otherwise)."""
    if not isinstance(value, str) or "T" not in value:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def when(at: datetime, lang: str, tz: tzinfo, *, time: bool = True) -> str:
    """``12 novembre 2026 à 14:05`` (local time of ``tz``), or the date only."""
    local = at.astimezone(tz)
    date = day_text(local.year, local.month, local.day, lang)
    if not time:
        return date
    return _AT[_lang(lang)].format(date=date, time=f"{local.hour:02d}:{local.minute:02d}")


def fhir_date(value: object, lang: str, tz: tzinfo, *, time: bool = False) -> str:
    """A FHIR date or dateTime in words ('' when absent or unreadable)."""
    if not isinstance(value, str):
        return ""
    at = parse_instant(value)
    if at is not None:
        return when(at, lang, tz, time=time)
    found = _PARTIAL.fullmatch(value.strip())
    if found is None:
        return ""
    year, month, day = found.groups()
    try:
        checked = datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
    except ValueError:
        return ""
    return day_text(checked.year, int(month) if month else None, int(day) if day else None, lang)


def ms_text(ms: int, lang: str, tz: tzinfo) -> str:
    """An instant in epoch milliseconds, in words with its time."""
    return when(datetime.fromtimestamp(ms / 1000, UTC), lang, tz)
