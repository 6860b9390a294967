"""Generated extractors: the extraction plan of a resource type compiled into one Python function.

Specs: https://hl7.org/fhir/R4/search.html (what is indexed), https://hl7.org/fhirpath/N1/ (path
navigation, ``as``, ``where``, ``|``) and https://hl7.org/fhir/R4/fhirpath.html (``resolve()``,
``extension()``).

:func:`hygie.search.extract.extract` runs on every write. A plan runs each parameter's compiled
expression (a closure and a list per step) then its converter; the generated function walks the
same paths with nested loops and direct dict lookups (:mod:`hygie.search.extract_codegen_paths`)
and converts each value where it is found: its common shapes inline (a code, a CodeableConcept, a
Reference, a Quantity, a date string), the others by the per-value converters of
:mod:`hygie.search.extract_rows`. Per parameter, in plan order:

- the union branches of another resource type are dropped (they yield nothing for this type);
- a single branch is streamed; several are collected and made distinct as ``|`` does, then
  converted;
- an expression with a branch :mod:`hygie.fhir.fhirpath_fast` does not specialise runs the plan's
  compiled expression and converter; composite groups: :mod:`hygie.search.extract_codegen_composite`.

Rows are then deduplicated as :meth:`IndexRows.dedupe` does. The rows are the plan's, in the same
order, for any resource the function completes; when it raises (malformed data),
:func:`~hygie.search.extract.extract` runs the plan instead, whose per-parameter error handling
decides. ``tests/search/test_extract_codegen.py`` holds both to that; :func:`source` shows the code.
"""

from __future__ import annotations

import linecache
import zlib
from types import CodeType
from typing import TYPE_CHECKING, Any

from hygie.fhir import jsonio
from hygie.fhir.fhirpath_fast import distinct_union
from hygie.fhir.fhirpath_runtime import _target_type, is_type
from hygie.search.composite import component_slots
from hygie.search.extract_codegen_composite import composite
from hygie.search.extract_codegen_paths import (
    Writer,
    branches,
    cached_reference_type,
    coding_test,
    concept_test,
    identifier_test,
    number_of,
    quantity_test,
    values,
)
from hygie.search.extract_rows import (
    CONTACT_SYSTEMS,
    VALUE_CONVERTERS,
    folded,
    parse_reference,
    reference_identifier,
)
from hygie.search.ranges import date_range, number_range, number_text_range

if TYPE_CHECKING:
    from hygie.search.extract import Extractor, Plan, Source

__all__ = ["extractor", "source"]

_COMPILED: dict[str, CodeType] = {}  # by source text
_MAX_COMPILED = 512
_TABLES = ("token", "token_text", "string", "reference", "date", "number", "quantity", "uri", "composite")
# The tables the converters of each parameter type may write.
_WRITES = {
    "token": ("token", "token_text"),
    "reference": ("reference", "token"),
    "composite": ("composite",),
    **{ptype: (ptype,) for ptype in ("string", "date", "number", "quantity", "uri")},
}
_NAMESPACE: dict[str, Any] = {
    "_M": object(),  # a missing key
    "CONTACT_SYSTEMS": CONTACT_SYSTEMS,
    "distinct_union": distinct_union,
    "target_type": _target_type,
    "reference_type": cached_reference_type,
    "is_type": is_type,
    "folded": folded,
    "parse_reference": parse_reference,
    "reference_identifier": reference_identifier,
    "date_range": date_range,
    "number_range": number_range,
    "number_text_range": number_text_range,
    "Decimal": jsonio.Decimal,
    "component_slots": component_slots,
    **{f"{name}_value": convert for name, convert in VALUE_CONVERTERS.items()},
}


# ---------------------------------------------------------------------------------------------
# Conversions of one value: inline for its common shapes, else the per-value converter


def convert(w: Writer, ptype: str, code: str, item: str) -> None:
    """Rows of parameter ``code`` (of type ``ptype``) for the value in ``item``, as
    :data:`hygie.search.extract_rows.VALUE_CONVERTERS` give them."""
    c = repr(code)
    inline = _INLINE.get(ptype)
    if inline is None:
        w(f"{ptype}_value({c}, {item}, rows, tz, types)")
        return
    inline(w, c, item)
    with w.block("else:"):
        w(f"{ptype}_value({c}, {item}, rows, tz, types)")


def _token(w: Writer, c: str, item: str) -> None:
    with w.block(f"if type({item}) is str:"):
        w.append("token", f"({c}, None, {item})")
    codings = w.fresh("codings")
    with w.block(f"elif {concept_test(item, codings)}:"):
        coding, value, text = (w.fresh(n) for n in ("coding", "code", "text"))
        with w.block(f"for {coding} in {codings}:"), w.block(f"if type({coding}) is dict:"):
            w(f"{value} = {coding}.get('code')")
            _coding(w, c, coding, value)
        w(f"{text} = {item}.get('text')")
        with w.block(f"if type({text}) is str:"):  # often a coding's display: that row again
            w(f"{text} = ({c}, folded({text}))")
            with w.block(f"if not token_text_rows or token_text_rows[-1] != {text}:"):
                w.append("token_text", text)
    identifier = w.fresh("identifier")
    with w.block(f"elif {identifier_test(item, identifier)}:"):  # token_complex: an Identifier, ContactPoint
        system = w.fresh("system")
        w(f"{system} = {item}.get('system')")
        w.append("token", f"({c}, None if {system} in CONTACT_SYSTEMS else {system}, {identifier})")
    with w.block(f"elif {coding_test(item)}:"):  # token_complex: neither a concept nor an identifier
        _coding(w, c, item, f"{item}['code']")


def _coding(w: Writer, c: str, coding: str, code: str) -> None:
    """Rows of one Coding (``code``: an expression of its code): a token row for its system and
    code, a token_text row for its display."""
    system, display = w.fresh("system"), w.fresh("display")
    w(f"{system} = {coding}.get('system')")
    with w.block(f"if {system} is not None or {code} is not None:"):
        w.append("token", f"({c}, {system}, {code})")
    w(f"{display} = {coding}.get('display')")
    with w.block(f"if type({display}) is str:"):
        w.append("token_text", f"({c}, folded({display}))")


def _reference(w: Writer, c: str, item: str) -> None:
    ref = w.fresh("ref")
    with w.block(
        f"if type({item}) is dict and 'url' not in {item} and type({ref} := {item}.get('reference')) is str:"
    ):
        target = w.fresh("target")
        w(f"{target} = parse_reference({ref}, types)")
        w.append("reference", f"({c}, {target}[0], {target}[1], {ref})")
        with w.block(f"if 'identifier' in {item}:"):
            w(f"reference_identifier({c}, {item}, rows)")


def _date(w: Writer, c: str, item: str) -> None:
    with w.block(f"if type({item}) is str:"):
        found = w.fresh("found")
        w(f"{found} = date_range({item}, tz)")
        with w.block(f"if {found} is not None:"):
            w.append("date", f"({c}, {found}[0], {found}[1])")


def _quantity(w: Writer, c: str, item: str) -> None:
    with w.block(f"if {quantity_test(item)}:"):
        found, unit_code, unit = w.fresh("found"), w.fresh("unit_code"), w.fresh("unit")
        w(f"{found} = {number_of(item, w.fresh('number'))}")
        with w.block(f"if {found} is not None:"):
            w(f"{unit_code}, {unit} = {item}.get('code'), {item}.get('unit')")
            w.append(
                "quantity", f"({c}, {item}.get('system'), {unit_code}, {found}[0], {found}[1], {found}[2])"
            )
            with w.block(f"if type({unit}) is str and {unit} != {unit_code}:"):
                w.append("quantity", f"({c}, None, {unit}, {found}[0], {found}[1], {found}[2])")


def _uri(w: Writer, c: str, item: str) -> None:
    with w.block(f"if type({item}) is str:"):
        w.append("uri", f"({c}, {item})")


_INLINE = {"token": _token, "reference": _reference, "date": _date, "quantity": _quantity, "uri": _uri}


# ---------------------------------------------------------------------------------------------
# Entries and assembly


def _entry(w: Writer, index: int, plan: Plan, src: Source, resource_type: str) -> None:
    code, converter, compiled = plan.entries[index]
    w.entry()
    w(f"# {code} ({src.type}): {src.expression or 'composite'}"[:110])
    if src.group is not None:
        composite(w, src.group, resource_type)
        return
    found = branches(src.expression, resource_type)
    if found is None:  # the plan's compiled expression and converter
        collected = w.fresh("values")
        w(f"{collected} = {w.constant('expression', compiled)}(r)")
        with w.block(f"if {collected}:"):
            w(f"{w.constant('convert', converter)}({code!r}, {collected}, rows, tz, types)")
        return
    if not found[0]:
        w("#   (no branch for this type)")
        return
    values(w, found[0], found[1], lambda item: convert(w, src.type, code, item))


def source(plan: Plan, resource_type: str) -> tuple[str, dict[str, Any]]:
    """The Python source of ``resource_type``'s extractor and the constants it refers to."""
    w = Writer()
    for index, src in enumerate(plan.sources):
        _entry(w, index, plan, src, resource_type)
    written = {table for src in plan.sources for table in _WRITES[src.type]}
    name = "extract_" + "".join(ch if ch.isalnum() else "_" for ch in resource_type)
    head = [
        f"def {name}(r, rows, tz, types):",
        f'    """Index rows of a {resource_type} (generated by hygie.search.extract_codegen)."""',
        "    if type(r) is not dict:",
        "        raise TypeError('not a JSON object')",
        *(f"    {table}_rows = rows.{table}" for table in _TABLES if table in written),
        *(f"    {table} = {table}_rows.append" for table in _TABLES if table in w.tables),
    ]
    # IndexRows.dedupe, for the tables this type's parameters may write: two rows as it does (by
    # their codes), more by hashing them in C (a set smaller than the list: duplicates).
    dedupe = (
        "    if len({0}) > 1 and ({0}[0][0] == {0}[1][0] if len({0}) == 2 else len(set({0})) < len({0})):\n"
        "        rows.{1} = list(dict.fromkeys({0}))"
    )
    tail = [*(dedupe.format(f"{t}_rows", t) for t in _TABLES if t in written), "    return None", ""]
    return "\n".join([*head, *w.lines, *tail]), w.constants


def extractor(plan: Plan, resource_type: str) -> Extractor:
    """Compile ``resource_type``'s extractor: ``(resource, rows, tz, types) -> None``, filling
    ``rows`` (empty) with deduplicated rows, or raising for malformed data."""
    text, constants = source(plan, resource_type)
    code = _COMPILED.get(text)
    if code is None:  # registries with the same parameters (each catalog reload) share the code
        filename = f"<hygie.search.extract_codegen {resource_type} {zlib.crc32(text.encode()):08x}>"
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)  # readable tracebacks
        code = compile(text, filename, "exec")
        if len(_COMPILED) >= _MAX_COMPILED:
            _COMPILED.clear()
        _COMPILED[text] = code
    namespace = {**_NAMESPACE, **constants}
    exec(code, namespace)  # noqa: S102 - code generated from the plan above
    function: Extractor = namespace[text.split("(", 1)[0][4:]]
    return function
