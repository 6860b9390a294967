"""Index rows extracted from a resource for every search parameter that applies to its type.

Spec: https://hl7.org/fhir/R4/search.html (parameter types and what each data type matches).

Storage calls :func:`extract` on every write (hot path): per resource type, the parameters are
compiled once into a plan of ``(code, converter, compiled FHIRPath)`` entries; each converter turns
the values an expression yields into rows of one table. Row shapes (one list per table):

- ``token``: ``(param, system, code)`` — Coding (system, code); CodeableConcept (one row per coding);
  Identifier (system, value); ContactPoint (None, value); code/id/string/uri/boolean primitives
  (None, value), booleans as ``"true"``/``"false"``. References also give ``(param + ":identifier",
  system, value)`` rows for ``:identifier`` searches on ``Reference.identifier``.
- ``token_text``: ``(param, folded)`` — CodeableConcept.text and Coding.display for ``:text``.
- ``string``: ``(param, folded, exact)`` — each part of a HumanName (family, given, prefix, suffix,
  text) or an Address (line, city, district, state, postalCode, country, text) as its own row;
  ``folded`` is :func:`hygie.search.normalize.fold`; both truncated to 512 characters.
- ``reference``: ``(param, target_type, target_id, url)`` — ``url`` is always the original string
  (storage keeps it empty for a plain ``Type/id``); ``Type/id`` (with or without
  ``/_history/v``) and absolute URLs ending in ``Type/id`` give the type and id (for a known
  resource type); ``#contained``, ``urn:uuid:`` and other forms give ``None``, ``None``.
  Canonicals (strings) are parsed the same way, ignoring a ``|version``.
- ``date``: ``(param, low, high)`` — epoch milliseconds, half-open ``[low, high)``; the precision of
  the value is its range (``2024`` → [2024-01-01, 2025-01-01)); values without a timezone use
  ``default_tz``; Period start/end (open ends → :data:`DATE_MIN_MS` / :data:`DATE_MAX_MS`);
  Timing → the outer limits of its events and ``repeat.boundsPeriod``.
- ``number``: ``(param, value, low, high)`` — precision range from the JSON decimal (5.4 → [5.35,
  5.45); integers 100 → [99.5, 100.5)).
- ``quantity``: ``(param, system, code, value, low, high)`` — Quantity (and Age, Duration...) with its
  precision range, plus a ``(param, None, unit, ...)`` row when the unit differs from the code;
  Money → system ``urn:iso:std:iso:4217``, code = currency; Range → one row with
  ``low``/``high`` = the range bounds (open bound → ∓inf) and ``value`` = the low (else high) value.
  SampledData has no single value and is not indexed.
- ``uri``: ``(param, uri)``.
- ``composite``: ``(param, c1_system, c1_code, c1_text, c1_value, c1_low, c1_high, c2_…, c3_…)`` —
  one row per element of the base expression and combination of its components' values (the
  components of the same element paired, never across elements): :mod:`hygie.search.composite`.

Meta-derived parameters come out of the common Resource parameters: ``_tag``/``_security`` (token),
``_profile``/``_source`` (uri; ``_profile`` is a uri parameter in the R4 package), ``_lastUpdated``
(date). ``_id`` is not extracted (storage has it), nor special parameters. Rows are deduplicated
per resource. Extension values (``extension('url')``) are indexed by their ``value[x]``.

Speed (``bench/extract_speed.py``): expressions use the specialised FHIRPath forms; a plan runs only
the parameters reading one of the resource's top-level keys (remembered per resource shape); dates
with a fixed offset and numbers are ranged by integer arithmetic, with small caches for values that
recur (an encounter's dates, a value indexed by two parameters). :func:`extract_reference` is the
slow path (generic engine, every parameter) that ``tests/search/test_extract_golden.py`` holds
:func:`extract` to.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from functools import lru_cache
from typing import Any

from hygie.fhir.fhirpath import (
    CHOICE_SUFFIXES,
    Compiled,
    FhirPathError,
    ResolvedReference,
    compile_expression,
    compile_generic,
    root_keys,
)
from hygie.fhir.searchparams import Registry, default_registry
from hygie.search.normalize import fold
from hygie.search.ranges import DATE_MAX_MS, DATE_MIN_MS, date_range, number_range

__all__ = [
    "DATE_MAX_MS",
    "DATE_MIN_MS",
    "MAX_STRING",
    "IndexRows",
    "Plan",
    "date_range",
    "extract",
    "extract_reference",
    "number_range",
    "parse_reference",
    "plan_for",
]

MAX_STRING = 512
_ISO4217 = "urn:iso:std:iso:4217"
_CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
_NAME_PARTS = ("text", "family", "given", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")
_MAX_SELECTIONS = 256  # resource shapes remembered per type
_NOT_EXTRACTED = frozenset({"special"})
_REF_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_REF_TYPE = re.compile(r"[A-Z][A-Za-z]+")

TokenRow = tuple[str, str | None, str | None]
StringRow = tuple[str, str, str]
ReferenceRow = tuple[str, str | None, str | None, str]
DateRow = tuple[str, int, int]
NumberRow = tuple[str, float, float, float]
QuantityRow = tuple[str, str | None, str | None, float, float, float]


@dataclass(slots=True)
class IndexRows:
    """The rows of each index table for one resource (see the module docstring for shapes)."""

    token: list[TokenRow] = field(default_factory=list)
    token_text: list[tuple[str, str]] = field(default_factory=list)
    string: list[StringRow] = field(default_factory=list)
    reference: list[ReferenceRow] = field(default_factory=list)
    date: list[DateRow] = field(default_factory=list)
    number: list[NumberRow] = field(default_factory=list)
    quantity: list[QuantityRow] = field(default_factory=list)
    uri: list[tuple[str, str]] = field(default_factory=list)
    composite: list[tuple[Any, ...]] = field(default_factory=list)

    def dedupe(self) -> None:
        for name in self.__slots__:
            rows = getattr(self, name)
            # Rows of different parameters never collide: hash whole rows only where a code repeats.
            if len(rows) > 1 and len({row[0] for row in rows}) < len(rows):
                setattr(self, name, list(dict.fromkeys(rows)))


_Converter = Callable[[str, list[Any], IndexRows, tzinfo, frozenset[str]], None]


# ---------------------------------------------------------------------------------------------
# Value helpers


def _unwrap_extension(value: Any) -> Any:
    """An Extension is indexed by its value[x]; anything else is returned unchanged.

    Converters call it only for dicts with a ``url`` (a cheap test inline: most values are not).
    """
    if type(value) is dict and "url" in value and "resourceType" not in value:
        for key, inner in value.items():
            if key.startswith("value") and key[5:] in CHOICE_SUFFIXES:
                return inner
    return value


@lru_cache(maxsize=4096)  # codings' displays and concept texts recur across resources
def _folded(text: str) -> str:
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
# Converters: values of one parameter → rows


def _token(code: str, values: list[Any], rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
    out = rows.token
    for raw in values:
        value = _unwrap_extension(raw) if type(raw) is dict and "url" in raw else raw
        kind = type(value)
        if kind is str:
            out.append((code, None, value))
        elif kind is bool:
            out.append((code, None, "true" if value else "false"))
        elif kind is int or isinstance(value, float):  # float or jsonio.Decimal
            out.append((code, None, getattr(value, "text", None) or str(value)))
        elif kind is dict:
            _token_complex(code, value, rows)


def _coding(code: str, coding: Any, rows: IndexRows) -> None:
    if type(coding) is not dict:
        return
    system, value = coding.get("system"), coding.get("code")
    if system is not None or value is not None:
        rows.token.append((code, system, value))
    display = coding.get("display")
    if type(display) is str:
        rows.token_text.append((code, _folded(display)))


def _token_complex(code: str, value: dict[str, Any], rows: IndexRows) -> None:
    codings = value.get("coding")
    if codings is not None or ("text" in value and "value" not in value and "code" not in value):
        # CodeableConcept
        for coding in codings or ():
            _coding(code, coding, rows)
        text = value.get("text")
        if type(text) is str:
            rows.token_text.append((code, _folded(text)))
    elif "value" in value:
        identifier_value = value["value"]
        if type(identifier_value) is not str:
            return  # a Quantity is not a token
        system = value.get("system")
        if system in _CONTACT_SYSTEMS or "rank" in value:  # ContactPoint: system is the kind, not a URI
            rows.token.append((code, None, identifier_value))
        else:  # Identifier; its type's text and displays serve :text (R4 search.html#token)
            rows.token.append((code, system, identifier_value))
            kind = value.get("type")
            if type(kind) is dict:
                text = kind.get("text")
                if type(text) is str:
                    rows.token_text.append((code, _folded(text)))
                for coding in kind.get("coding") or ():
                    display = coding.get("display") if type(coding) is dict else None
                    if type(display) is str:
                        rows.token_text.append((code, _folded(display)))
    elif "code" in value or "system" in value:  # Coding
        _coding(code, value, rows)


def _string(code: str, values: list[Any], rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
    out = rows.string
    for raw in values:
        value = _unwrap_extension(raw) if type(raw) is dict and "url" in raw else raw
        if type(value) is str:
            out.append((code, *_string_value(value)))
        elif type(value) is dict:
            is_address = "line" in value or "city" in value or "postalCode" in value or "country" in value
            parts = _ADDRESS_PARTS if is_address else _NAME_PARTS
            for part in parts:
                item = value.get(part)
                if type(item) is str:
                    out.append((code, *_string_value(item)))
                elif type(item) is list:
                    out.extend((code, *_string_value(s)) for s in item if type(s) is str)


def _reference(code: str, values: list[Any], rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
    out = rows.reference
    for raw in values:
        value = _unwrap_extension(raw) if type(raw) is dict and "url" in raw else raw
        if isinstance(value, ResolvedReference):
            value = value.reference
        if type(value) is str:
            out.append((code, *parse_reference(value, types), value))
        elif type(value) is dict:
            ref = value.get("reference")
            if type(ref) is str:
                out.append((code, *parse_reference(ref, types), ref))
            elif "resourceType" in value and type(value.get("id")) is str:  # an inline resource
                rtype, rid = value["resourceType"], value["id"]
                out.append((code, rtype, rid, f"{rtype}/{rid}"))
            identifier = value.get("identifier")
            if type(identifier) is dict and type(identifier.get("value")) is str:
                rows.token.append((code + ":identifier", identifier.get("system"), identifier["value"]))


def _period_bounds(period: dict[str, Any], tz: tzinfo) -> tuple[int, int] | None:
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
        found = _period_bounds(repeat["boundsPeriod"], tz)
        if found is not None:
            bounds.append(found)
    if not bounds:
        return None
    return min(b[0] for b in bounds), max(b[1] for b in bounds)


def _date(code: str, values: list[Any], rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
    out = rows.date
    for raw in values:
        value = _unwrap_extension(raw) if type(raw) is dict and "url" in raw else raw
        found: tuple[int, int] | None = None
        if type(value) is str:
            found = date_range(value, tz)
        elif type(value) is dict:
            if "start" in value or "end" in value:
                found = _period_bounds(value, tz)
            elif "event" in value or "repeat" in value:
                found = _timing_bounds(value, tz)
        if found is not None:
            out.append((code, *found))


def _number(code: str, values: list[Any], rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
    for raw in values:
        value = _unwrap_extension(raw) if type(raw) is dict and "url" in raw else raw
        if type(value) is dict:
            value = value.get("value")
        if type(value) in (int, float, str) and (found := number_range(value)) is not None:
            rows.number.append((code, *found))


def _quantity(code: str, values: list[Any], rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
    out = rows.quantity
    for raw in values:
        value = _unwrap_extension(raw) if type(raw) is dict and "url" in raw else raw
        if type(value) is int or isinstance(value, float):
            if (found := number_range(value)) is not None:
                out.append((code, None, None, *found))
        elif type(value) is not dict:
            continue
        elif "low" in value or "high" in value:  # Range
            _range(code, value, rows)
        elif "value" in value and (found := number_range(value["value"])) is not None:
            if "currency" in value:  # Money
                out.append((code, _ISO4217, value["currency"], *found))
                continue
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


def _uri(code: str, values: list[Any], rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
    for raw in values:
        value = _unwrap_extension(raw) if type(raw) is dict and "url" in raw else raw
        if type(value) is str:
            rows.uri.append((code, value))


_CONVERTERS: dict[str, _Converter] = {
    "token": _token,
    "string": _string,
    "reference": _reference,
    "date": _date,
    "number": _number,
    "quantity": _quantity,
    "uri": _uri,
}


# ---------------------------------------------------------------------------------------------
# Plans


@dataclass(frozen=True, slots=True, eq=False)
class Plan:
    """The compiled extraction plan of one resource type."""

    entries: tuple[tuple[str, _Converter, Compiled], ...]  # (code, converter, compiled expression)
    uncompiled: tuple[tuple[str, str, str], ...]  # (code, expression, error)
    resource_types: frozenset[str]
    # Most parameters of a type read elements a given resource does not have: each top-level key
    # lists the entries that read it, so only those run; ``always`` are those that may read any.
    by_key: dict[str, tuple[int, ...]]
    always: frozenset[int]
    # Resources of a type mostly share a few shapes: the entries to run, by top-level key tuple.
    selections: dict[tuple[str, ...], tuple[tuple[str, _Converter, Compiled], ...]] = field(
        default_factory=dict
    )

    def select(self, resource: dict[str, Any]) -> tuple[tuple[str, _Converter, Compiled], ...]:
        """The entries that may yield values for ``resource`` (those reading one of its keys)."""
        shape = tuple(resource)
        found = self.selections.get(shape)
        if found is None:
            indices = set(self.always)
            for key in shape:
                indices.update(self.by_key.get(key, ()))
            found = tuple(self.entries[i] for i in sorted(indices))
            if len(self.selections) < _MAX_SELECTIONS:
                self.selections[shape] = found
        return found


@lru_cache(maxsize=1024)
def plan_for(resource_type: str, registry: Registry | None = None, *, generic: bool = False) -> Plan:
    """Compile (once per registry and type) the parameters of ``resource_type`` worth indexing.

    ``generic`` compiles with the generic FHIRPath engine only, and runs every entry on every
    resource: the reference the specialised plan must match (see :func:`extract_reference`).
    """
    registry = registry or default_registry()
    entries: list[tuple[str, _Converter, Compiled]] = []
    uncompiled: list[tuple[str, str, str]] = []
    by_key: dict[str, list[int]] = {}
    always: set[int] = set()

    def add(code: str, convert: _Converter, compiled: Compiled, keys: frozenset[str] | None) -> None:
        for key in keys or ():
            by_key.setdefault(key, []).append(len(entries))
        if keys is None:
            always.add(len(entries))
        entries.append((code, convert, compiled))

    composites = []
    for code, param in registry.params_for(resource_type).items():
        if param.type in _NOT_EXTRACTED or param.expression is None or code == "_id":
            continue
        if param.type == "composite":
            composites.append(param)
            continue
        try:
            compiled = (compile_generic if generic else compile_expression)(param.expression)
        except FhirPathError as exc:
            uncompiled.append((code, param.expression, str(exc)))
            continue
        add(code, _CONVERTERS[param.type], compiled, None if generic else root_keys(param.expression))
    if composites:  # grouped by components: elements shared by several parameters convert once
        from hygie.search.composite import plan_entries

        for entry in plan_entries(composites, registry, generic=generic, failed=uncompiled):
            add(*entry)
    index = {key: tuple(found) for key, found in by_key.items()}
    return Plan(tuple(entries), tuple(uncompiled), registry.resource_types(), index, frozenset(always))


def extract(
    resource: dict[str, Any], registry: Registry | None = None, *, default_tz: tzinfo = UTC
) -> IndexRows:
    """Index rows for ``resource`` (see the module docstring for each table's row shape)."""
    resource_type = resource.get("resourceType")
    if type(resource_type) is not str:
        return IndexRows()
    return _run(plan_for(resource_type, registry), resource, default_tz)


def extract_reference(
    resource: dict[str, Any], registry: Registry | None = None, *, default_tz: tzinfo = UTC
) -> IndexRows:
    """:func:`extract` by the slow path: every parameter, each by the generic FHIRPath engine.

    Same rows as :func:`extract` (tests hold the specialised expressions to it).
    """
    resource_type = resource.get("resourceType")
    if type(resource_type) is not str:
        return IndexRows()
    return _run(plan_for(resource_type, registry, generic=True), resource, default_tz)


def _run(plan: Plan, resource: dict[str, Any], default_tz: tzinfo) -> IndexRows:
    rows = IndexRows()
    types = plan.resource_types
    for code, convert, compiled in plan.select(resource):
        try:
            values = compiled(resource)
            if values:
                convert(code, values, rows, default_tz, types)
        except (FhirPathError, TypeError, ValueError, AttributeError):
            continue  # malformed data for this parameter: index the others
    rows.dedupe()
    return rows
