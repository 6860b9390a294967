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
``_profile``/``_source`` (uri; ``_profile`` is a uri parameter in the R4 package). ``_id`` and
``_lastUpdated`` are not extracted (storage has them as columns), nor special parameters. Rows are
deduplicated per resource. Extension values (``extension('url')``) are indexed by their ``value[x]``.

Speed (``bench/extract_speed.py``): :func:`extract` runs one generated Python function per resource
type (:mod:`hygie.search.extract_codegen`, compiled from the type's plan on first use: nested loops
and direct lookups, common value shapes converted inline, lookups on the resource shared by the
parameters reading them); for malformed data it raises and the plan runs instead, entry by entry
(specialised FHIRPath forms, only the parameters reading one of the resource's top-level keys), with
the per-parameter error handling below. Dates with a fixed offset and numbers are ranged by integer
arithmetic, with small caches for values that recur (an encounter's dates, a value indexed by two
parameters). :func:`extract_reference` is the slow path (generic engine, every parameter) that
``tests/search/test_extract_golden.py`` holds the plans to; ``test_extract_codegen.py`` holds the
generated functions to the plans. Converters and :class:`IndexRows`: :mod:`hygie.search.extract_rows`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from hygie.fhir.fhirpath import Compiled, FhirPathError, compile_expression, compile_generic, root_keys
from hygie.fhir.searchparams import Registry, default_registry
from hygie.search.extract_rows import CONVERTERS, MAX_STRING, Converter, IndexRows, parse_reference
from hygie.search.ranges import DATE_MAX_MS, DATE_MIN_MS, date_range, number_range

if TYPE_CHECKING:
    from hygie.search.composite import Group

__all__ = [
    "DATE_MAX_MS",
    "DATE_MIN_MS",
    "MAX_STRING",
    "IndexRows",
    "Plan",
    "Source",
    "date_range",
    "extract",
    "extract_reference",
    "number_range",
    "parse_reference",
    "plan_for",
]

_MAX_SELECTIONS = 256  # resource shapes remembered per type
_MAX_EXTRACTORS = 1024
_NOT_EXTRACTED = frozenset({"special"})
# Searched on storage's own columns (resource.id, resource.last_updated: hygie/search/query.py,
# sort.py, chain.py), never on index rows.
_STORAGE_COLUMNS = frozenset({"_id", "_lastUpdated"})
Extractor = Callable[[dict[str, Any], IndexRows, tzinfo, frozenset[str]], None]
_EXTRACTORS: dict[tuple[str, Registry | None], tuple[Extractor, Plan]] = {}
_TYPES: dict[frozenset[str], frozenset[str]] = {}


# ---------------------------------------------------------------------------------------------
# Plans

Entry = tuple[str, Converter, Compiled]  # (code, converter, compiled expression)


@dataclass(frozen=True, slots=True)
class Source:
    """What a plan entry was built from, for the code generator: the parameter type and
    expression, or the composite group (type ``composite``)."""

    type: str
    expression: str
    group: Group | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Plan:
    """The compiled extraction plan of one resource type."""

    entries: tuple[Entry, ...]
    uncompiled: tuple[tuple[str, str, str], ...]  # (code, expression, error)
    resource_types: frozenset[str]
    # Most parameters of a type read elements a given resource does not have: each top-level key
    # lists the entries that read it, so only those run; ``always`` are those that may read any.
    by_key: dict[str, tuple[int, ...]]
    always: frozenset[int]
    sources: tuple[Source, ...] = ()  # one per entry
    # Resources of a type mostly share a few shapes: the entries to run, by top-level key tuple.
    selections: dict[tuple[str, ...], tuple[Entry, ...]] = field(default_factory=dict)
    # The generated extractor (hygie.search.extract_codegen), once built by extract().
    generated: list[Extractor] = field(default_factory=list)

    def select(self, resource: dict[str, Any]) -> tuple[Entry, ...]:
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
    entries: list[Entry] = []
    sources: list[Source] = []
    uncompiled: list[tuple[str, str, str]] = []
    by_key: dict[str, list[int]] = {}
    always: set[int] = set()

    def add(
        code: str, convert: Converter, compiled: Compiled, keys: frozenset[str] | None, source: Source
    ) -> None:
        for key in keys or ():
            by_key.setdefault(key, []).append(len(entries))
        if keys is None:
            always.add(len(entries))
        entries.append((code, convert, compiled))
        sources.append(source)

    composites = []
    for code, param in registry.params_for(resource_type).items():
        if param.type in _NOT_EXTRACTED or param.expression is None or code in _STORAGE_COLUMNS:
            continue
        if param.type == "composite":
            composites.append(param)
            continue
        try:
            compiled = (compile_generic if generic else compile_expression)(param.expression)
        except FhirPathError as exc:
            uncompiled.append((code, param.expression, str(exc)))
            continue
        keys = None if generic else root_keys(param.expression)
        add(code, CONVERTERS[param.type], compiled, keys, Source(param.type, param.expression))
    if composites:  # grouped by components: elements shared by several parameters convert once
        from hygie.search.composite import plan_entries

        for code, convert, compiled, keys, group in plan_entries(
            composites, registry, generic=generic, failed=uncompiled
        ):
            add(code, convert, compiled, keys, Source("composite", "", group))
    index = {key: tuple(found) for key, found in by_key.items()}
    types = registry.resource_types()
    types = _TYPES.setdefault(types, types)  # one object: parse_reference's cache compares its keys
    return Plan(tuple(entries), tuple(uncompiled), types, index, frozenset(always), tuple(sources))


def extract(
    resource: dict[str, Any], registry: Registry | None = None, *, default_tz: tzinfo = UTC
) -> IndexRows:
    """Index rows for ``resource`` (see the module docstring for each table's row shape)."""
    resource_type = resource.get("resourceType")
    if type(resource_type) is not str:
        return IndexRows()
    found = _EXTRACTORS.get((resource_type, registry))
    if found is None:
        found = _extractor(resource_type, registry)
    rows = IndexRows.empty()
    try:
        found[0](resource, rows, default_tz, found[1].resource_types)  # deduplicated rows
    except Exception:
        return _run(found[1], resource, default_tz)
    return rows


def _extractor(resource_type: str, registry: Registry | None) -> tuple[Extractor, Plan]:
    """The generated extractor of a type's plan (built once per plan) and the plan."""
    plan = plan_for(resource_type, registry)
    if not plan.generated:
        from hygie.search.extract_codegen import extractor

        generated = extractor(plan, resource_type)
        if not plan.generated:  # another thread may have been first
            plan.generated.append(generated)
    if len(_EXTRACTORS) >= _MAX_EXTRACTORS:  # registries replaced (custom search parameters)
        _EXTRACTORS.clear()
    found = _EXTRACTORS[(resource_type, registry)] = (plan.generated[0], plan)
    return found


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
    """The plan's entries one by one: a parameter whose data is malformed gives no rows (or the
    rows converted before the error), the others are indexed."""
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
