"""Composite search parameters: index rows pairing the components of one element, and their criteria.

Spec: https://hl7.org/fhir/R4/search.html#composite

A composite parameter (``component-code-value-quantity``) is a base expression
(``Observation.component``) and components, each a search parameter of its own type with an
expression relative to the base (``code``, ``value.as(Quantity)``). ``code$value`` must match both
components **on the same element**: a blood pressure panel whose systolic component is 150 does not
match ``8462-4$gt140`` because its diastolic component is 90.

Rows: for each element of the base expression, each component expression is evaluated on that
element (or on the resource for ``%resource...`` expressions), its values converted by the ordinary
converter of the component's type (:mod:`hygie.search.extract`), and one row is written per
combination of those values (an element with two codings gives two rows). An element missing a
component gives no row. Parameters with the same components (``code-value-quantity``,
``combo-code-value-quantity``, ``component-code-value-quantity``) share one plan entry, so an
element reached by several of them is converted once. A row holds up to three components
("slots"), each slot mapping the columns of its type's own index table onto six physical columns:

=============  ==========================================================================
slot column    token / quantity / number / date / reference / string / uri column
=============  ==========================================================================
``cN_system``  system (token, quantity), target_type (reference)
``cN_code``    code (token, quantity), target_id (reference), exact (string)
``cN_text``    url (reference), folded (string), uri (uri)
``cN_value``   value (quantity, number)
``cN_low``     low (quantity, number, date: epoch ms)
``cN_high``    high (quantity, number, date: epoch ms)
=============  ==========================================================================

Criteria: ``value1$value2[$value3]`` (``\\$`` escapes a dollar), comma-separated values ORed. Each
part is compiled by the per-type compiler of :mod:`hygie.search.query` (so prefixes, precision
ranges, ``system|code`` forms work as for the component's own parameter) and its column names are
renamed to the slot's columns. ``:missing`` is supported; any other modifier is a 400.

The R4 definition of ``DocumentReference-relationship`` pairs its components with swapped
expressions (``relatesto`` → ``code``, ``relation`` → ``target``); it is corrected here as in R5
(``relationship=DocumentReference/123$replaces``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from hygie.fhir.fhirpath import Compiled, FhirPathError, compile_expression, compile_generic, root_keys
from hygie.fhir.fhirpath_fast import Step, _member_step, _typed_step, _union
from hygie.fhir.fhirpath_runtime import _typed_keys
from hygie.fhir.messages import register
from hygie.fhir.outcome import FhirError
from hygie.fhir.searchparams import Registry, SearchParam, default_registry
from hygie.search.catalog import registry_of
from hygie.search.extract_rows import VALUE_CONVERTERS, IndexRows
from hygie.search.query import (
    _COMPILERS,
    NAME_LIMIT,
    Sql,
    Target,
    _in_index,
    _or,
    bad,
    one_of,
    split_values,
)

__all__ = [
    "COLUMNS",
    "MAX_COMPONENTS",
    "SLOT_COLUMNS",
    "SUPPORTED_TYPES",
    "Group",
    "Part",
    "compile_composite",
    "component_slots",
    "component_types",
    "plan_entries",
    "relative_steps",
]

MAX_COMPONENTS = 3
SLOT_COLUMNS = ("system", "code", "text", "value", "low", "high")
COLUMNS = tuple(f"c{i}_{name}" for i in range(1, MAX_COMPONENTS + 1) for name in SLOT_COLUMNS)
SUPPORTED_TYPES = frozenset({"token", "reference", "quantity", "number", "date", "string", "uri"})
_EMPTY_SLOT: tuple[Any, ...] = (None,) * len(SLOT_COLUMNS)
# Column names the per-type compilers of hygie.search.query emit → slot column.
_RENAME = {
    "system": "system",
    "code": "code",
    "value": "value",
    "low": "low",
    "high": "high",
    "target_type": "system",
    "target_id": "code",
    "url": "text",
    "exact": "code",
    "folded": "text",
    "uri": "text",
}
_COLUMN_NAMES = re.compile(r"\b(" + "|".join(sorted(_RENAME, key=len, reverse=True)) + r")\b")
_DOLLAR = re.compile(r"(?<!\\)\$")
_RESOURCE_PREFIX = "%resource."
_RELATIVE = re.compile(r"([a-z][A-Za-z0-9]*)(?:\.as\(([A-Za-z]+)\))?")
_SWAPPED = "http://hl7.org/fhir/SearchParameter/DocumentReference-relationship"

register(
    {
        "composite_arity": {
            "fr": "Valeur de {name} invalide : {count} composantes attendues, séparées par $ ({value}).",
            "en": "Invalid value for {name}: {count} components expected, separated by $ ({value}).",
        },
    }
)

Slot = tuple[Any, ...]
_Converter = Callable[[str, list[Any], IndexRows, tzinfo, frozenset[str]], None]


def component_types(
    param: SearchParam, registry: Registry | None = None
) -> tuple[tuple[str, str, str], ...] | None:
    """``(code, type, expression)`` of each component, or None when the composite is unsupported.

    Unsupported: no component, more than :data:`MAX_COMPONENTS`, a component whose definition is
    unknown or whose type is not in :data:`SUPPORTED_TYPES` (a nested composite, a special).
    """
    registry = registry or default_registry()
    if not param.components or len(param.components) > MAX_COMPONENTS:
        return None
    out = []
    for comp in param.components:
        definition = registry.by_url(comp.definition) or registry.search_param(param.base, comp.code)
        if definition is None or definition.type not in SUPPORTED_TYPES or not comp.expression:
            return None
        out.append((comp.code, definition.type, comp.expression))
    if param.url == _SWAPPED and [e for _, _, e in out] == ["code", "target"]:  # R4 erratum
        out[0], out[1] = (out[0][0], out[0][1], "target"), (out[1][0], out[1][1], "code")
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Extraction


@dataclass(frozen=True, slots=True)
class Part:
    """One component of a composite: its code, type and expression, how it is evaluated on
    ``(resource, element)``, the IndexRows table its type's converter fills and how one of its
    rows becomes slot values."""

    code: str
    type: str
    expression: str
    evaluate: Callable[[dict[str, Any], Any], list[Any]]
    table: str
    to_slot: Callable[[Any], Slot]


@dataclass(frozen=True, slots=True)
class Group:
    """Composite parameters of one type sharing their components: one plan entry.

    ``members`` are ``(code, whole, base expression, compiled base)``; ``whole`` when the base is
    the resource itself (``Observation``). Read by :mod:`hygie.search.extract_codegen`.
    """

    members: tuple[tuple[str, bool, str, Compiled], ...]
    parts: tuple[Part, ...]


def plan_entries(
    params: list[SearchParam],
    registry: Registry,
    *,
    generic: bool,
    failed: list[tuple[str, str, str]],
) -> list[tuple[str, _Converter, Compiled, frozenset[str] | None, Group]]:
    """Plan entries ``(code, converter, compiled, root keys, group)`` for the composite ``params``
    of a type.

    Parameters with the same components (types and expressions) share one entry, so an element
    that several of them reach (an Observation for ``code-value-quantity`` and
    ``combo-code-value-quantity``) is converted once; ``code`` is the first one's. ``compiled``
    yields ``(resource, element, codes)``; the converter appends each element's rows once per code
    to ``rows.composite``. Unsupported composites are left out (queries on them answer 400);
    expressions that do not compile are appended to ``failed`` as ``(code, expression, error)``.
    """
    groups: dict[tuple[tuple[str, str], ...], list[tuple[SearchParam, tuple[tuple[str, str, str], ...]]]] = {}
    for param in params:
        shape = component_types(param, registry)
        if shape is not None and param.expression is not None:
            groups.setdefault(tuple((t, e) for _, t, e in shape), []).append((param, shape))
    out = []
    for members in groups.values():
        try:
            out.append(_group_entry(members, generic=generic))
        except FhirPathError as exc:
            failed.extend((param.code, param.expression or "", str(exc)) for param, _ in members)
    return out


def _group_entry(
    members: list[tuple[SearchParam, tuple[tuple[str, str, str], ...]]], *, generic: bool
) -> tuple[str, _Converter, Compiled, frozenset[str] | None, Group]:
    compile_ = compile_generic if generic else compile_expression
    bases = []
    keys: frozenset[str] | None = frozenset()
    for param, _ in members:
        assert param.expression is not None
        whole = param.expression == param.base and not generic  # `Observation`: the resource itself
        bases.append((param.code, whole, param.expression, compile_(param.expression)))
        found_keys = None if generic or whole else root_keys(param.expression)
        keys = None if keys is None or found_keys is None else keys | found_keys
    parts = tuple(
        Part(code, ptype, expression, _relative(expression, compile_, generic=generic), *_TO_SLOT[ptype])
        for code, ptype, expression in members[0][1]
    )
    padding = _EMPTY_SLOT * (MAX_COMPONENTS - len(parts))
    evaluators = [part.evaluate for part in reversed(parts)]

    def elements(resource: dict[str, Any]) -> list[Any]:
        found: dict[int, tuple[Any, list[str]]] = {}
        for code, whole, _, base in bases:
            for element in [resource] if whole else base(resource):
                seen = found.get(id(element))
                if seen is None:
                    found[id(element)] = (element, [code])
                else:
                    seen[1].append(code)
        return [(resource, element, codes) for element, codes in found.values()]

    def convert(_code: str, values: list[Any], rows: IndexRows, tz: tzinfo, types: frozenset[str]) -> None:
        out = rows.composite
        for resource, element, codes in values:
            # Every component's values first, the last first (a value is more often absent than a
            # code): an element lacking one gives no row, and costs no conversion.
            found: list[list[Any]] = []
            for evaluate in evaluators:
                component_values = evaluate(resource, element)
                if not component_values:
                    break
                found.append(component_values)
            else:
                found.reverse()
                slots: list[list[Slot]] = []
                for part, component_values in zip(parts, found, strict=True):
                    slot = component_slots(part, component_values, tz, types)
                    if not slot:
                        break
                    slots.append(slot)
                else:
                    combined = [
                        (*itertools.chain.from_iterable(combination), *padding)
                        for combination in itertools.product(*slots)
                    ]
                    out.extend((code, *values) for code in codes for values in combined)

    group = Group(tuple(bases), parts)
    return bases[0][0], convert, elements, keys, group


def component_slots(part: Part, values: list[Any], tz: tzinfo, types: frozenset[str]) -> list[Slot]:
    """The distinct slot values of a component's ``values`` (its type's rows, as slots)."""
    scratch = IndexRows()
    convert = VALUE_CONVERTERS[part.type]
    for value in values:
        convert(part.code, value, scratch, tz, types)
    slots = [part.to_slot(row) for row in getattr(scratch, part.table)]
    return list(dict.fromkeys(slots)) if len(slots) > 1 else slots


def _relative(
    expression: str, compile_: Callable[[str], Compiled], *, generic: bool
) -> Callable[[dict[str, Any], Any], list[Any]]:
    """A component expression: relative to the element, or to the resource for ``%resource.…``."""
    if expression.startswith(_RESOURCE_PREFIX):
        on_resource = compile_(expression[len(_RESOURCE_PREFIX) :])
        return lambda resource, element: on_resource(resource)
    on_element = (None if generic else _fast_relative(expression)) or compile_(expression)
    return lambda resource, element: on_element(element) if type(element) is dict else []


def _fast_relative(expression: str) -> Compiled | None:
    """``name``, ``name.as(Type)`` and unions of them (all R4 relative component expressions) by
    the specialised steps of :mod:`hygie.fhir.fhirpath_fast`; None for any other shape.

    The generic engine has no fast form for expressions without a leading type name; the golden
    test holds these to it (:func:`hygie.search.extract.extract_reference` uses the generic one).
    """
    steps = relative_steps(expression)
    if steps is None:
        return None
    runs = [
        _on_element(_typed_step(s.name, s.type_name) if s.kind == "typed" else _member_step(s.name))
        for s in steps
    ]
    return runs[0] if len(runs) == 1 else _union(runs)


def relative_steps(expression: str) -> list[Step] | None:
    """The one step of each union branch of a relative component expression (``name``,
    ``name.as(Type)``), None for any other shape (or a ``%resource…`` expression)."""
    if expression.startswith(_RESOURCE_PREFIX):
        return None
    steps = []
    for branch in expression.split("|"):
        match = _RELATIVE.fullmatch(branch.strip())
        if match is None:
            return None
        name, type_name = match.groups()
        steps.append(
            Step("typed", name, type_name, _typed_keys(name, type_name))
            if type_name
            else Step("member", name)
        )
    return steps


def _on_element(step: Callable[[list[Any], dict[str, Any]], list[Any]]) -> Compiled:
    return lambda element: step([element], element)


# Per component type: the IndexRows table its converter fills, and row → slot values (see the
# module docstring; '' for absent token systems and codes, as idx_token stores them).
_TO_SLOT: dict[str, tuple[str, Callable[[Any], Slot]]] = {
    "token": ("token", lambda r: (r[1] or "", r[2] or "", None, None, None, None)),
    "quantity": ("quantity", lambda r: (r[1] or "", r[2] or "", None, r[3], r[4], r[5])),
    "number": ("number", lambda r: (None, None, None, r[1], r[2], r[3])),
    "date": ("date", lambda r: (None, None, None, None, r[1], r[2])),
    "reference": ("reference", lambda r: (r[1] or "", r[2] or "", r[3], None, None, None)),
    "string": ("string", lambda r: (None, r[2], r[1], None, None, None)),
    "uri": ("uri", lambda r: (None, None, r[1], None, None, None)),
}


# ---------------------------------------------------------------------------------------------
# Criteria


def compile_composite(
    target: Target,
    name: str,
    code: str,
    modifier: str,
    raw: str,
    pids: Mapping[tuple[str, str], int],
    tz: tzinfo,
) -> Sql:
    """The criterion ``name=raw`` on composite parameter ``code`` as a condition on ``target``'s rk.

    Raises a 400 OperationOutcome for an unsupported composite, a modifier other than
    ``:missing``, a value with the wrong number of ``$``-separated parts or a bad part.
    """
    registry = registry_of(pids)
    groups: dict[tuple[tuple[str, str, str], ...], list[int]] = {}
    for rtype in target.types:
        param = registry.search_param(rtype, code)
        pid = pids.get((rtype, code))
        if param is None or pid is None or param.type != "composite":
            continue
        shape = component_types(param, registry)
        if shape is None:
            raise FhirError.of(
                400, "not-supported", "unsupported_param", name=name[:NAME_LIMIT], type="composite"
            )
        groups.setdefault(shape, []).append(pid)
    if not groups:
        raise FhirError.of(
            400, "not-supported", "unknown_param", name=name[:NAME_LIMIT], type=", ".join(target.types)
        )
    a = target.alias
    if modifier == "missing":
        if raw not in ("true", "false"):
            raise bad(name, raw)
        every = tuple(pid for found in groups.values() for pid in found)
        return _in_index(a, "NOT IN" if raw == "true" else "IN", "composite", one_of("pid", every), None)
    if modifier:
        raise bad(name, raw, "bad_modifier")
    values = split_values(raw)
    conditions = []
    for shape, found in groups.items():
        cond = _or([_value(name, shape, value, tz) for value in values])
        conditions.append((one_of("pid", tuple(found)), cond))
    if len(conditions) == 1:
        return _in_index(a, "IN", "composite", *conditions[0])
    where = _or([Sql(f"{p.clause} AND ({c.clause})", (*p.args, *c.args)) for p, c in conditions])
    return Sql(f"{a}.rk IN (SELECT rk FROM idx_composite WHERE {where.clause})", where.args)


def _value(name: str, shape: tuple[tuple[str, str, str], ...], value: str, tz: tzinfo) -> Sql:
    """One ``$``-separated value: the AND of its parts, each on its slot's columns."""
    parts = _DOLLAR.split(value)
    if len(parts) != len(shape) or any(part == "" for part in parts):
        raise FhirError.of(
            400, "invalid", "composite_arity", name=name[:NAME_LIMIT], count=len(shape), value=value[:100]
        )
    clauses: list[str] = []
    args: list[Any] = []
    for slot, ((_, ptype, _), part) in enumerate(zip(shape, parts, strict=True), start=1):
        sql = _COMPILERS[ptype](name, "", part, tz)
        clauses.append(f"({_rename(sql.clause, slot)})")
        args.extend(sql.args)
    return Sql(" AND ".join(clauses), tuple(args))


def _rename(clause: str, slot: int) -> str:
    """A per-type condition on its own table's columns, moved onto slot ``slot``'s columns."""
    return _COLUMN_NAMES.sub(lambda m: f"c{slot}_{_RENAME[m.group(1)]}", clause)
