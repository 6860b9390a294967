"""Small readers and formatters of FHIR values for the workspace pages (pure, no I/O).

FHIR data types: https://hl7.org/fhir/R4/datatypes.html (CodeableConcept, Quantity, dateTime).
Dates are shown in the server's zone with the chart formats of :mod:`hygie.web.charts.fmt`
(``12 nov. 2026 14:05``), so tables and charts read alike.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from hygie.web.charts import fmt

ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")  # https://hl7.org/fhir/R4/datatypes.html#id


def valid_id(value: str) -> bool:
    return bool(ID.match(value))


def concept_text(concept: Any) -> str:
    """The text of a CodeableConcept: ``text``, else the first display, else the first code."""
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    codings = [c for c in concept.get("coding") or [] if isinstance(c, dict)]
    for key in ("display", "code"):
        for coding in codings:
            if coding.get(key):
                return str(coding[key])
    return ""


def codes(concept: Any) -> set[tuple[str, str]]:
    """``{(system, code)}`` of a CodeableConcept."""
    if not isinstance(concept, dict):
        return set()
    return {
        (str(c.get("system", "")), str(c.get("code", "")))
        for c in concept.get("coding") or []
        if isinstance(c, dict)
    }


def ref_id(reference: Any, rtype: str) -> str | None:
    """The id of a ``{"reference": "Type/id"}`` of type ``rtype`` (None otherwise)."""
    if not isinstance(reference, dict):
        return None
    text = str(reference.get("reference") or "")
    prefix = f"{rtype}/"
    return text[len(prefix) :] if text.startswith(prefix) and valid_id(text[len(prefix) :]) else None


def parse_instant(raw: Any) -> datetime | None:
    """A FHIR dateTime/instant with a time and zone as an aware datetime (else None)."""
    if not isinstance(raw, str) or "T" not in raw:
        return None
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def parse_date(raw: Any) -> date | None:
    if not isinstance(raw, str) or len(raw) < 10:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        return None


def when(raw: Any, lang: str, tz: tzinfo) -> str:
    """A FHIR date or dateTime as text: ``12 nov. 2026 14:05``, ``12 nov. 2026``, ``2026-11``."""
    at = parse_instant(raw)
    if at is not None:
        return fmt.moment(at, lang, tz)
    day = parse_date(raw)
    if day is not None:
        return fmt.day(datetime(day.year, day.month, day.day, 12, tzinfo=UTC), lang, UTC, year=True)
    return str(raw) if isinstance(raw, str) else ""


def day_of(raw: Any, lang: str, tz: tzinfo) -> str:
    """The date only of a FHIR date or dateTime: ``12 nov. 2026``."""
    at = parse_instant(raw)
    if at is not None:
        return fmt.day(at, lang, tz, year=True)
    return when(raw, lang, tz)


def sort_key(raw: Any) -> str:
    """A sortable UTC text of a FHIR date/dateTime ('' when missing)."""
    at = parse_instant(raw)
    if at is not None:
        return at.astimezone(UTC).isoformat()
    return str(raw) if isinstance(raw, str) else ""


def age(birth: Any, today: date) -> int | None:
    born = parse_date(birth)
    if born is None:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def quantity(q: Any, lang: str) -> str:
    """``4,2 mmol/L`` (the value as given, decimal comma in French)."""
    if not isinstance(q, dict) or not isinstance(q.get("value"), int | float):
        return ""
    value = q["value"]
    text = str(value)
    decimals = len(text.split(".", 1)[1]) if "." in text else 0
    number = fmt.number(float(value), lang, decimals)
    unit = q.get("unit") or q.get("code") or ""
    return f"{number} {unit}".strip()


def period_start(resource: dict[str, Any], *keys: str) -> Any:
    """The first present of ``keys`` (``effectiveDateTime``…) or of their ``…Period.start``."""
    for key in keys:
        value = resource.get(key)
        if isinstance(value, dict):
            value = value.get("start")
        if value:
            return value
    return None
