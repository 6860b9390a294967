"""Index rows of one resource and the converters that make them from FHIRPath values.

Spec: https://hl7.org/fhir/R4/search.html (what each parameter type matches in each data type).
Row shapes are described in :mod:`hygie.search.extract`. Every converter exists in two forms: per
value (``token_value``...: what the generated extractors of :mod:`hygie.search.extract_codegen` call
for the shapes they do not inline) and per collection (``_token``...: a loop over the first, what
plans run). Both are the one definition of what a value gives.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from functools import lru_cache
from typing import Any

from hygie.fhir.fhirpath import CHOICE_SUFFIXES, ResolvedReference
from hygie.search.normalize import fold
from hygie.search.ranges import DATE_MAX_MS, DATE_MIN_MS, date_range, number_range

__all__ = [
    "CONTACT_SYSTEMS",
    "CONVERTERS",
    "MAX_STRING",
    "VALUE_CONVERTERS",
    "IndexRows",
    "parse_reference",
]

MAX_STRING = 512
_ISO4217 = "urn:iso:std:iso:4217"
CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
_NAME_PARTS = ("text", "family", "given", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")
_REF_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")

TokenRow = tuple[str, str | None, str | None]
StringRow = tuple[str, str, str]
ReferenceRow = tuple[str, str | None, str | None, str]
DateRow = tuple[str, int, int]
NumberRow = tuple[str, float, float, float]
QuantityRow = tuple[str, str | None, str | None, float, float, float]


@dataclass(slots=True)
class IndexRows:
    """The rows of each index table for one resource (see :mod:`hygie.search.extract` for shapes)."""

    token: list[TokenRow] = field(default_factory=list)
    token_text: list[tuple[str, str]] = field(default_factory=list)
    string: list[StringRow] = field(default_factory=list)
    reference: list[ReferenceRow] = field(default_factory=list)
    date: list[DateRow] = field(default_factory=list)
    number: list[NumberRow] = field(default_factory=list)
    quantity: list[QuantityRow] = field(default_factory=list)
    uri: list[tuple[str, str]] = field(default_factory=list)
    composite: list[tuple[Any, ...]] = field(default_factory=list)

    @classmethod
    def empty(cls) -> IndexRows:
        """``IndexRows()``, made faster (every write makes one)."""
        rows = cls.__new__(cls)
        rows.token, rows.token_text, rows.string, rows.reference, rows.date = [], [], [], [], []
        rows.number, rows.quantity, rows.uri, rows.composite = [], [], [], []
        return rows

    def dedupe(self) -> None:
        for name in self.__slots__:
            rows = getattr(self, name)
            # Rows of different parameters never collide: hash whole rows only where a code repeats.
            if len(rows) > 1 and len({row[0] for row in rows}) < len(rows):
                setattr(self, name, list(dict.fromkeys(rows)))


Converter = Callable[[str, list[Any], IndexRows, tzinfo, frozenset[str]], None]
ValueConverter = Callable[[str, Any, IndexRows, tzinfo, frozenset[str]], None]


# ---------------------------------------------------------------------------------------------
# Value helpers


def unwrap_extension(value: Any) -> Any:
    """An Extension is indexed by its value[x]; anything else is returned unchanged.

    Converters call it only for dicts with a ``url`` (a cheap test inline: most values are not).
    """
    if type(value) is dict and "url" in value and "resourceType" not in value:
        for key, inner in value.items():
            if key.startswith("value") and key[5:] in CHOICE_SUFFIXES:
                return inner
    return value


@lru_cache(maxsize=4096)  # codings' displays and concept texts recur across resources
def folded(text: str) -> str:
    return fold(text)[:MAX_STRING]


def _string_value(text: str) -> tuple[str, str]:
    exact = text[:MAX_STRING]
    return fold(exact)[:MAX_STRING], exact


@lru_cache(maxsize=8192)  # a patient's, an encounter's references recur across resources
def parse_reference(text: str, resource_types: frozenset[str]) -> tuple[str | None, str | None]:
    """``(type, id)`` named by a reference or canonical string, or ``(None, None)``."""
    if not text or text[0] == "#" or text.startswith("urn:"):
        return None, None
    path = text.split("|", 1)[0].rstrip("/")
    if "/_history/" in path:
        path = path.split("/_history/", 1)[0]
    parts = path.rsplit("/", 2)
    if len(parts) < 2:
        return None, None
    rtype, rid = parts[-2], parts[-1]
    if rtype in resource_types and _REF_ID.fullmatch(rid):
        return rtype, rid
    return None, None


# ---------------------------------------------------------------------------------------------
# Converters, per value: one value of a parameter → rows


def token_value(code: str, raw: Any, rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
    value = unwrap_extension(raw) if type(raw) is dict and "url" in raw else raw
    kind = type(value)
    if kind is str:
        rows.token.append((code, None, value))
    elif kind is bool:
        rows.token.append((code, None, "true" if value else "false"))
    elif kind is int or isinstance(value, float):  # float or jsonio.Decimal
        rows.token.append((code, None, getattr(value, "text", None) or str(value)))
    elif kind is dict:
        token_complex(code, value, rows)


def _coding(code: str, coding: Any, rows: IndexRows) -> None:
    if type(coding) is not dict:
        return
    system, value = coding.get("system"), coding.get("code")
    if system is not None or value is not None:
        rows.token.append((code, system, value))
    display = coding.get("display")
    if type(display) is str:
        rows.token_text.append((code, folded(display)))


def token_complex(code: str, value: dict[str, Any], rows: IndexRows) -> None:
    """The token rows of a CodeableConcept, Identifier, ContactPoint or Coding."""
    codings = value.get("coding")
    if codings is not None or ("text" in value and "value" not in value and "code" not in value):
        # CodeableConcept
        for coding in codings or ():
            _coding(code, coding, rows)
        text = value.get("text")
        if type(text) is str:
            rows.token_text.append((code, folded(text)))
    elif "value" in value:
        identifier_value = value["value"]
        if type(identifier_value) is not str:
            return  # a Quantity is not a token
        system = value.get("system")
        if system in CONTACT_SYSTEMS or "rank" in value:  # ContactPoint: system is the kind, not a URI
            rows.token.append((code, None, identifier_value))
        else:  # Identifier; its type's text and displays serve :text (R4 search.html#token)
            rows.token.append((code, system, identifier_value))
            kind = value.get("type")
            if type(kind) is dict:
                text = kind.get("text")
                if type(text) is str:
                    rows.token_text.append((code, folded(text)))
                for coding in kind.get("coding") or ():
                    display = coding.get("display") if type(coding) is dict else None
                    if type(display) is str:
                        rows.token_text.append((code, folded(display)))
    elif "code" in value or "system" in value:  # Coding
        _coding(code, value, rows)


def string_value(code: str, raw: Any, rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
    value = unwrap_extension(raw) if type(raw) is dict and "url" in raw else raw
    out = rows.string
    if type(value) is str:
        out.append((code, *_string_value(value)))
    elif type(value) is dict:
        is_address = "line" in value or "city" in value or "postalCode" in value or "country" in value
        for part in _ADDRESS_PARTS if is_address else _NAME_PARTS:
            item = value.get(part)
            if type(item) is str:
                out.append((code, *_string_value(item)))
            elif type(item) is list:
                out.extend((code, *_string_value(s)) for s in item if type(s) is str)


def reference_value(code: str, raw: Any, rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
    value = unwrap_extension(raw) if type(raw) is dict and "url" in raw else raw
    if isinstance(value, ResolvedReference):
        value = value.reference
    if type(value) is str:
        rows.reference.append((code, *parse_reference(value, types), value))
    elif type(value) is dict:
        ref = value.get("reference")
        if type(ref) is str:
            rows.reference.append((code, *parse_reference(ref, types), ref))
        elif "resourceType" in value and type(value.get("id")) is str:  # an inline resource
            rtype, rid = value["resourceType"], value["id"]
            rows.reference.append((code, rtype, rid, f"{rtype}/{rid}"))
        reference_identifier(code, value, rows)


def reference_identifier(code: str, value: dict[str, Any], rows: IndexRows) -> None:
    """The ``code:identifier`` token row of a Reference's identifier (if it has a value)."""
    identifier = value.get("identifier")
    if type(identifier) is dict and type(identifier.get("value")) is str:
        rows.token.append((code + ":identifier", identifier.get("system"), identifier["value"]))


def period_bounds(period: dict[str, Any], tz: tzinfo) -> tuple[int, int] | None:
    start, end = period.get("start"), period.get("end")
    low_range = date_range(start, tz) if type(start) is str else None
    high_range = date_range(end, tz) if type(end) is str else None
    if low_range is None and high_range is None:
        return None
    return (
        low_range[0] if low_range else DATE_MIN_MS,
        high_range[1] if high_range else DATE_MAX_MS,
    )


def _timing_bounds(timing: dict[str, Any], tz: tzinfo) -> tuple[int, int] | None:
    bounds: list[tuple[int, int]] = []
    for event in timing.get("event") or ():
        if type(event) is str and (found := date_range(event, tz)) is not None:
            bounds.append(found)
    repeat = timing.get("repeat")
    if type(repeat) is dict and type(repeat.get("boundsPeriod")) is dict:
        found = period_bounds(repeat["boundsPeriod"], tz)
        if found is not None:
            bounds.append(found)
    if not bounds:
        return None
    return min(b[0] for b in bounds), max(b[1] for b in bounds)


def date_value(code: str, raw: Any, rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
    value = unwrap_extension(raw) if type(raw) is dict and "url" in raw else raw
    found: tuple[int, int] | None = None
    if type(value) is str:
        found = date_range(value, tz)
    elif type(value) is dict:
        if "start" in value or "end" in value:
            found = period_bounds(value, tz)
        elif "event" in value or "repeat" in value:
            found = _timing_bounds(value, tz)
    if found is not None:
        rows.date.append((code, *found))


def number_value(code: str, raw: Any, rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
    value = unwrap_extension(raw) if type(raw) is dict and "url" in raw else raw
    if type(value) is dict:
        value = value.get("value")
    if type(value) in (int, float, str) and (found := number_range(value)) is not None:
        rows.number.append((code, *found))


def quantity_value(code: str, raw: Any, rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
    value = unwrap_extension(raw) if type(raw) is dict and "url" in raw else raw
    out = rows.quantity
    if type(value) is int or isinstance(value, float):
        if (found := number_range(value)) is not None:
            out.append((code, None, None, *found))
    elif type(value) is not dict:
        return
    elif "low" in value or "high" in value:  # Range
        _range(code, value, rows)
    elif "value" in value and (found := number_range(value["value"])) is not None:
        if "currency" in value:  # Money
            out.append((code, _ISO4217, value["currency"], *found))
            return
        unit_code, unit = value.get("code"), value.get("unit")
        out.append((code, value.get("system"), unit_code, *found))
        if type(unit) is str and unit != unit_code:
            out.append((code, None, unit, *found))


def _range(code: str, value: dict[str, Any], rows: IndexRows) -> None:
    low, high = value.get("low"), value.get("high")
    low_value = low.get("value") if type(low) is dict else None
    high_value = high.get("value") if type(high) is dict else None
    if not isinstance(low_value, int | float) and not isinstance(high_value, int | float):
        return
    bound = low if isinstance(low_value, int | float) else high
    assert isinstance(bound, dict)
    rows.quantity.append(
        (
            code,
            bound.get("system"),
            bound.get("code") or bound.get("unit"),
            float(low_value if isinstance(low_value, int | float) else high_value),  # type: ignore[arg-type]
            float(low_value) if isinstance(low_value, int | float) else -math.inf,
            float(high_value) if isinstance(high_value, int | float) else math.inf,
        )
    )


def uri_value(code: str, raw: Any, rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
    value = unwrap_extension(raw) if type(raw) is dict and "url" in raw else raw
    if type(value) is str:
        rows.uri.append((code, value))


VALUE_CONVERTERS: dict[str, ValueConverter] = {
    "token": token_value,
    "string": string_value,
    "reference": reference_value,
    "date": date_value,
    "number": number_value,
    "quantity": quantity_value,
    "uri": uri_value,
}


# ---------------------------------------------------------------------------------------------
# Converters, per collection: the values of one parameter → rows


def _collection(convert_value: ValueConverter) -> Converter:
    def convert(code: str, values: list[Any], rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
        for value in values:
            convert_value(code, value, rows, tz, types)

    convert.__name__ = convert_value.__name__.replace("_value", "")
    return convert


CONVERTERS: dict[str, Converter] = {name: _collection(fn) for name, fn in VALUE_CONVERTERS.items()}
